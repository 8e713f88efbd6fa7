"""The thread's triage form: status, priority, assignee, tags and a note, over hidden fields
that carry the ticket as the form showed it (its `updated_at`, and each field's value) so that
only what the person changed is sent, and a change made meanwhile is caught."""

from django import forms
from django.http import QueryDict
from django.utils.dateparse import parse_datetime

from dashboard import bidi, store
from dashboard.tickets.filter_fields import bounded_id
from dashboard.triage.changes import Conflict, Wanted

NOTE_MAX = 20_000
UNASSIGNED = ""
INTERNAL, PUBLIC = "internal", "public"


def status_label(status):
    return str(status or "").replace("_", " ").capitalize() or "—"


class TriageForm(forms.Form):
    status = forms.ChoiceField()
    priority = forms.ChoiceField(required=False)
    assignee = forms.ChoiceField(required=False)
    tags = forms.MultipleChoiceField(required=False, widget=forms.CheckboxSelectMultiple)
    note = forms.CharField(
        required=False,
        strip=False,  # stored as written, byte for byte
        max_length=NOTE_MAX,
        widget=forms.Textarea(attrs={"rows": 3}),
    )
    reply = forms.ChoiceField(
        choices=[(INTERNAL, "Internal note"), (PUBLIC, "Public reply")],
        initial=INTERNAL,
        widget=forms.RadioSelect,
        required=False,
    )
    updated_at = forms.CharField(widget=forms.HiddenInput)
    was_status = forms.CharField(required=False, widget=forms.HiddenInput)
    was_priority = forms.CharField(required=False, widget=forms.HiddenInput)
    was_assignee = forms.CharField(required=False, widget=forms.HiddenInput)
    was_tags = forms.MultipleChoiceField(required=False, widget=forms.MultipleHiddenInput)

    def __init__(self, *args, ticket=None, staff=None, tag_names=(), **kwargs):
        # The list's filters beside the thread have a "status" too: the ids must differ.
        kwargs.setdefault("auto_id", "triage-%s")
        super().__init__(*args, **kwargs)
        staff = staff or {}
        statuses = list(store.STATUSES)
        priorities = list(store.PRIORITIES)
        assignees = sorted(staff, key=lambda agent_id: staff[agent_id].name.casefold())
        tags = list(tag_names)
        # What the ticket holds stays a choice, even where the dashboard would not offer it (a
        # status the API cannot set, an agent or a tag the catalogue has not got): an
        # unchanged form must be a valid one.
        if ticket is not None:
            if ticket.status and ticket.status not in statuses:
                statuses.append(ticket.status)
            if ticket.assignee is not None and ticket.assignee not in staff:
                assignees.append(ticket.assignee)
            tags += [tag for tag in ticket.tags if tag not in tags]
        elif self.is_bound:  # the form as it was shown: its values were choices then
            was_status = self.data.get("was_status")
            if was_status and was_status not in statuses:
                statuses.append(was_status)
            was_assignee = _agent(self.data.get("was_assignee"))
            if was_assignee is not None and was_assignee not in staff:
                assignees.append(was_assignee)
            tags += [tag for tag in self.data.getlist("was_tags") if tag not in tags]
        self.fields["status"].choices = [(s, status_label(s)) for s in statuses]
        self.fields["priority"].choices = [("", "—")] + [(p, p.capitalize()) for p in priorities]
        self.fields["assignee"].choices = [(UNASSIGNED, "Unassigned")] + [
            (str(agent_id), staff[agent_id].name if agent_id in staff else f"Agent #{agent_id}")
            for agent_id in assignees
        ]
        # Each box's label is a tag's name beside the box: isolated (see dashboard.bidi).
        self.fields["tags"].choices = [
            (tag, bidi.bdi(tag)) for tag in sorted(tags, key=str.casefold)
        ]
        self.fields["was_tags"].choices = self.fields["tags"].choices
        self.fields["note"].widget.attrs["aria-describedby"] = "note-help"

    @classmethod
    def for_ticket(cls, ticket, staff=None, tag_names=()):
        """The form as the ticket is: unchanged, it sends nothing."""
        shown = shown_values(ticket)
        initial = {
            **shown,
            "reply": INTERNAL,
            "updated_at": ticket.updated_at.isoformat() if ticket.updated_at else "",
            **{f"was_{name}": value for name, value in shown.items()},
        }
        return cls(initial=initial, ticket=ticket, staff=staff, tag_names=tag_names)

    @classmethod
    def again(cls, data, conflict: Conflict, ticket=None, staff=None, tag_names=()):
        """After a conflict: the person's own choices kept, over the ticket as it is now, so a
        second submit writes them (and an unchanged second submit writes nothing)."""
        data = data.copy() if isinstance(data, QueryDict) else QueryDict(mutable=True)
        now = conflict.now
        moment = conflict.updated_at
        current = {
            "status": now.get("status") or "",
            "priority": now.get("priority") or "",
            "assignee": "" if now.get("assignee") is None else str(now["assignee"]),
        }
        for name, value in current.items():
            # A field the person left as it was takes the other person's value: only what
            # they changed themselves is theirs to send again.
            if data.get(name, "") == data.get(f"was_{name}", ""):
                data[name] = value
            data[f"was_{name}"] = value
        tags_now = list(now.get("tags") or ())
        if sorted(data.getlist("tags")) == sorted(data.getlist("was_tags")):
            data.setlist("tags", tags_now)
        data.setlist("was_tags", tags_now)
        data["updated_at"] = moment.isoformat() if moment else ""
        return cls(data, ticket=ticket, staff=staff, tag_names=tag_names)

    def clean_updated_at(self):
        moment = parse_datetime(self.cleaned_data["updated_at"] or "")
        if moment is None:
            raise forms.ValidationError("This form is out of date: open the ticket again.")
        return moment

    def wanted(self) -> Wanted:
        data = self.cleaned_data
        return Wanted(
            seen_at=data["updated_at"],
            was={
                "status": data["was_status"] or None,
                "priority": data["was_priority"] or None,
                "assignee": _agent(data["was_assignee"]),
                "tags": tuple(data["was_tags"]),
            },
            values={
                "status": data["status"],
                "priority": data["priority"] or None,
                "assignee": _agent(data["assignee"]),
                "tags": tuple(data["tags"]),
            },
            note=data["note"],
            public=data["reply"] == PUBLIC,
        )

    def clean(self):
        data = super().clean()
        # The store has no priority "none": once set, a priority can only change.
        if data.get("priority") == "" and self.data.get("was_priority"):
            self.add_error("priority", "A ticket's priority can be changed, not removed.")
        return data


def shown_values(ticket) -> dict:
    return {
        "status": ticket.status or "",
        "priority": ticket.priority or "",
        "assignee": "" if ticket.assignee is None else str(ticket.assignee),
        "tags": list(ticket.tags),
    }


def _agent(value):
    # A hidden field edited by hand (not an id in the API's range) is treated as unassigned.
    return None if value in (None, "") else bounded_id(value)
