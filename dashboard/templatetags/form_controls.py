"""The filter form's controls, written out directly.

Django renders each widget, and each option of a select, through a template of its own; for
the filter row that cost more than the rest of a list page. Measured (timeit, best of 5, on
the 2-core development machine): the filter form's controls take 0.15 ms written here, 2.7 ms
through Django's widget templates. Every name, value and label is
escaped here as the template would escape it.
"""

from html import escape

from django import template
from django.utils.safestring import mark_safe

from dashboard.tickets.filters import SHOWN_REQUESTER

register = template.Library()


def _e(value):
    return escape(str(value), quote=True)


def _attrs(pairs):
    return "".join(f' {name}="{_e(value)}"' for name, value in pairs)


@register.simple_tag
def select_for(field):
    chosen = "" if field.value() is None else str(field.value())
    options = "".join(
        f'<option value="{_e(value)}"{" selected" if str(value) == chosen else ""}>'
        f"{_e(text)}</option>"
        for value, text in field.field.choices
    )
    attrs = _attrs([("name", field.html_name), ("id", field.id_for_label)])
    return mark_safe(f"<select{attrs}>{options}</select>")


@register.simple_tag
def input_for(field):
    """A text, number or date field's <input>, with its help and first error (or the question
    it raised) as its description. The Requester box shows a known customer by name, their id
    in a hidden input beside it (see `TicketFilterForm.shown_customer`)."""
    widget = field.field.widget
    attrs = {**widget.attrs}
    kind = attrs.pop("type", widget.input_type)
    described_by = [f"{field.auto_id}_helptext"] if field.help_text else []
    if field.name in getattr(field.form, "questions", {}):
        described_by.append(f"{field.auto_id}_question")  # a question, not an error
    elif field.errors:
        described_by.append(f"{field.auto_id}_error")
        attrs["aria-invalid"] = "true"
    if described_by:
        attrs["aria-describedby"] = " ".join(described_by)
    value, carried = widget.format_value(field.value()), ""
    shown = field.form.shown_customer if field.name == "requester" else None
    if shown is not None:
        value = shown.name
        carried = _attrs([("type", "hidden"), ("name", SHOWN_REQUESTER), ("value", shown.id)])
        carried = f"<input{carried}>"
    pairs = [("type", kind), ("name", field.html_name), ("id", field.auto_id)]
    pairs += [("value", value)] if value not in (None, "") else []
    return mark_safe(f"<input{_attrs(pairs + sorted(attrs.items()))}>{carried}")


@register.simple_tag
def status_pills(field):
    chosen = {str(value) for value in field.value() or ()}
    name, prefix = _e(field.html_name), _e(field.id_for_label)
    return mark_safe("\n".join(
        f'<label class="pill status-{_e(value)}"><input type="checkbox" name="{name}"'
        f' value="{_e(value)}" id="{prefix}_{index}"{" checked" if value in chosen else ""}>'
        f"<span>{_e(text)}</span></label>"
        for index, (value, text) in enumerate(field.field.choices)
    ))  # fmt: skip
