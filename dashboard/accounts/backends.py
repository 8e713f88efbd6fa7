"""Who a session says is signed in, read as every page needs it before anything else."""

from dataclasses import dataclass

from django.contrib.auth import get_user_model
from django.contrib.auth.backends import ModelBackend
from django.core.exceptions import ValidationError
from django.db import connections, router

# Sessions are stored naming Django's backend, which every release has, and read as naming
# this one (see `dashboard.sessions`).
DJANGOS = "django.contrib.auth.backends.ModelBackend"
PATH = "dashboard.accounts.backends.PeopleBackend"


class PeopleBackend(ModelBackend):
    """Django's `ModelBackend` (passwords, permissions, inactive people refused), with the person
    a session names read by one plain `SELECT` by primary key rather than through the ORM's
    query builder. Every page reads them before it can ask the store anything, and building
    `User.objects.get(pk=…)` cost seven times the query itself (0.19 ms against 0.03 ms,
    measured on SQLite). The row is the columns the ORM would read, converted by the converters
    the ORM applies (SQLite's dates, say) and made into the model by `Model.from_db`, as the ORM
    does; an inactive person is refused as Django's refuses them.

    For a user model of one table, as Django's own `User` (a model that inherits another's
    table would need a join), read synchronously (the dashboard has no async views)."""

    def get_user(self, user_id):
        model = get_user_model()
        try:
            pk = model._meta.pk.to_python(user_id)
        except ValidationError:
            return None
        alias = router.db_for_read(model)
        connection = connections[alias]
        read = _read(model, alias)
        with connection.cursor() as cursor:
            cursor.execute(read.sql, [pk])
            row = cursor.fetchone()
        if row is None:
            return None
        values = list(row)
        for index, column in read.converted:
            # The converters are this thread's connection's (SQLite's read its time zone).
            converters = connection.ops.get_db_converters(column)
            for converter in converters + column.get_db_converters(connection):
                values[index] = converter(values[index], column, connection)
        user = model.from_db(alias, read.names, values)
        return user if self.user_can_authenticate(user) else None


@dataclass(frozen=True)
class _Read:
    sql: str
    names: list  # the model's attribute of each column
    converted: list  # (column index, its column) of the columns the ORM converts


_reads: dict = {}


def _read(model, alias):
    """How a row of `model` is read by primary key on database `alias`, as the ORM's compiler
    would read it: its columns, and the converters it applies to each."""
    key = (model._meta.label, alias)
    if key not in _reads:
        connection = connections[alias]
        quote = connection.ops.quote_name
        fields = model._meta.concrete_fields
        columns = ", ".join(quote(field.column) for field in fields)
        table, pk = quote(model._meta.db_table), quote(model._meta.pk.column)
        converted = []
        for index, field in enumerate(fields):
            column = field.get_col(model._meta.db_table)
            if connection.ops.get_db_converters(column) + column.get_db_converters(connection):
                converted.append((index, column))
        _reads[key] = _Read(
            sql=f"SELECT {columns} FROM {table} WHERE {pk} = %s",  # noqa: S608 (quoted names)
            names=[field.attname for field in fields],
            converted=converted,
        )
    return _reads[key]
