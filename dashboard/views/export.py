"""The list's tickets as a file, streamed: CSV for scripts, an Excel workbook for people (see
`dashboard/tickets/export.py` and `dashboard/tickets/spreadsheet.py`)."""

from django.http import StreamingHttpResponse
from django.shortcuts import render
from django.utils import timezone
from django.views.decorators.http import require_GET

from dashboard import store
from dashboard.tickets import export, names
from dashboard.tickets.querystring import MINE
from dashboard.views.common import filter_form, with_retry_after

LIST_TEMPLATE = "dashboard/list.html"


@require_GET
def export_csv(request):
    """Every ticket of the list's filters as CSV: the API's values, for scripts."""
    return _export(request, export.CsvFile)


@require_GET
def export_xlsx(request):
    """Every ticket of the list's filters as an Excel workbook: labels, names and real
    date-times, for people."""
    # Imported here, not with the views: openpyxl takes 11 MB of a process that may never
    # write a workbook.
    from dashboard.tickets import spreadsheet

    return _export(request, spreadsheet.ExcelFile)


def _export(request, file_kind):
    """A file that streams while the store is walked. Bad filters and a first page the store
    will not give are answered as the list page would show them (with their status), never
    as a file."""
    form = filter_form(request)
    if not form.is_valid():
        return _not_exported(request, form, status=400)
    query = form.query().filters
    try:
        give_back = export.take_place(request.user.pk)
    except store.TicketsAPIError as error:
        response = _not_exported(request, form, error, error.http_status)
        response["Retry-After"] = str(getattr(error, "retry_seconds", None) or 5)
        return response
    try:
        first = export.first_page(query)
    except store.FilterRefused as error:
        give_back()
        for name, messages in error.field_errors.items():
            form.add_error(name if name in form.fields else None, messages)
        return _not_exported(request, form, status=400)
    except store.TicketsAPIError as error:
        give_back()
        return with_retry_after(_not_exported(request, form, error, error.http_status), error)
    except BaseException:
        give_back()
        raise
    known = names.Shown(ticket_types=form.ticket_types or {}, staff=form.context.agents)
    response = StreamingHttpResponse(
        export.Held(export.rows(query, first, known, file_kind=file_kind), give_back),
        content_type=file_kind.content_type,
    )
    file_names = export.filename(
        _named_filters(form, query), timezone.localdate(), file_kind.suffix
    )
    response["Content-Disposition"] = export.content_disposition(file_names)
    response["Cache-Control"] = "no-store"
    return response


def _not_exported(request, form, error=None, status=400):
    context = {"form": form, "page": None, "error": error}
    return render(request, LIST_TEMPLATE, context, status=status)


def _named_filters(form, query):
    """The filters for the file's name: tags, the ticket type and the agent by name."""
    tags, types, agents = form.context.tags.by_id, form.ticket_types or {}, form.context.agents
    mine = form.cleaned_data.get("assignee") == MINE
    for name, value in query.params():
        if name == "tags":
            value = tags.get(int(value), value)
        elif name == "ticket_type" and int(value) in types:
            value = types[int(value)].name
        elif name == "assignee":
            value = MINE if mine else getattr(agents.get(int(value)), "name", value)
        yield name, value
