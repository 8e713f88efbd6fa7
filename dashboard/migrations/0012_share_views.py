from django.db import migrations


def team_view_editors(apps, schema_editor):
    """A "Team views" group whose members may share views with the team. Everyone who has a
    team view today joins it, so that nobody loses what they could do the day before. The
    permission is made here: Django's own are made only after every migration has run."""
    ContentType = apps.get_model("contenttypes", "ContentType")
    Permission = apps.get_model("auth", "Permission")
    Group = apps.get_model("auth", "Group")
    SavedView = apps.get_model("dashboard", "SavedView")
    content_type, _ = ContentType.objects.get_or_create(app_label="dashboard", model="savedview")
    permission, _ = Permission.objects.get_or_create(
        content_type=content_type,
        codename="share_views",
        defaults={"name": "Can share views with the team"},
    )
    group, _ = Group.objects.get_or_create(name="Team views")
    group.permissions.add(permission)
    owners = SavedView.objects.filter(shared=True).values_list("owner_id", flat=True).distinct()
    for owner_id in owners:
        group.user_set.add(owner_id)


def no_team_view_editors(apps, schema_editor):
    apps.get_model("auth", "Group").objects.filter(name="Team views").delete()


class Migration(migrations.Migration):
    dependencies = [
        ("dashboard", "0011_thread_width"),
        ("auth", "0012_alter_user_first_name_max_length"),
        ("contenttypes", "0002_remove_content_type_name"),
    ]

    operations = [
        migrations.AlterModelOptions(
            name="savedview",
            options={
                "ordering": ["position", "id"],
                "permissions": [("share_views", "Can share views with the team")],
            },
        ),
        migrations.RunPython(team_view_editors, no_team_view_editors),
    ]
