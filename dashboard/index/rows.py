"""One ticket written into the index, from a webhook delivery or the walk that fills it: the
fields filters and counts need, its tags and products a row each, and each comment's author,
address, visibility and time (never its words). A state older than the one indexed
(`updated_at`) changes nothing, whichever way it came."""

from django.utils.dateparse import parse_datetime

from dashboard import store
from dashboard.index import attention
from dashboard.models import IndexedComment, IndexedProduct, IndexedTag, IndexedTicket


def write_if_newer(ticket: dict, created_at, updated_at) -> bool:
    """Index `ticket` unless the index holds a newer state of it; whether it was written. Run
    inside a transaction: the row is locked while it is compared and written."""
    return bool(write_many_if_newer([(ticket, created_at, updated_at)]))


def write_many_if_newer(items: list[tuple[dict, object, object]]) -> set[int]:
    """`write_if_newer` for many `(ticket, created_at, updated_at)` at once (a page of the
    walk: a handful of statements, not a handful per ticket); the ids written."""
    held = dict(
        IndexedTicket.objects.select_for_update()
        .filter(pk__in=[ticket["id"] for ticket, _, _ in items])
        .values_list("pk", "updated_at")
    )
    newer = [
        item for item in items if not (item[0]["id"] in held and held[item[0]["id"]] > item[2])
    ]
    write_many(newer)
    return {ticket["id"] for ticket, _, _ in newer}


def write(ticket: dict, created_at, updated_at) -> None:
    write_many([(ticket, created_at, updated_at)])


_FIELDS = [
    "status", "priority", "channel", "requester", "assignee", "ticket_type", "tags", "products",
    "order_number", "from_email", "subject", "created_at", "updated_at", "indexed_at",
    "waiting_since", "first_reply_at",
]  # fmt: skip


def write_many(items: list[tuple[dict, object, object]]) -> None:
    """Index each `(ticket, created_at, updated_at)` as it is, whatever the index held."""
    if not items:
        return
    latest = {
        ticket["id"]: (ticket, created_at, updated_at) for ticket, created_at, updated_at in items
    }
    emails = requester_emails(ticket.get("requester") for ticket, _, _ in latest.values())
    IndexedTicket.objects.bulk_create(
        [_row(*item, emails) for item in latest.values()],
        update_conflicts=True,
        unique_fields=["id"],
        update_fields=_FIELDS,
    )
    ids = list(latest)
    IndexedTag.objects.filter(ticket_id__in=ids).delete()
    IndexedTag.objects.bulk_create(
        IndexedTag(ticket_id=ticket_id, name=name)
        for ticket_id, (ticket, _, _) in latest.items()
        for name in _tags(ticket)
    )
    IndexedProduct.objects.filter(ticket_id__in=ids).delete()
    IndexedProduct.objects.bulk_create(
        IndexedProduct(ticket_id=ticket_id, product=product)
        for ticket_id, (ticket, _, _) in latest.items()
        for product in _products(ticket)
    )
    IndexedComment.objects.filter(ticket_id__in=ids).delete()
    IndexedComment.objects.bulk_create(
        IndexedComment(
            ticket_id=ticket_id,
            comment_id=comment["id"],
            author=comment.get("author"),
            from_email=comment.get("from_email") or "",
            is_public=bool(comment.get("is_public")),
            created_at=_moment(comment.get("created_at")),
        )
        for ticket_id, (ticket, _, _) in latest.items()
        for comment in ticket.get("comments") or []
    )


def _row(ticket: dict, created_at, updated_at, emails: dict) -> IndexedTicket:
    found = attention.attention(
        ticket.get("status"),
        created_at,
        [_said(comment) for comment in ticket.get("comments") or []],
        ticket.get("requester"),
        ticket.get("from_email") or "",
        emails.get(ticket.get("requester"), ""),
    )
    return IndexedTicket(
        id=ticket["id"],
        status=ticket.get("status") or "",
        priority=ticket.get("priority") or "",
        channel=ticket.get("channel") or "",
        requester=ticket.get("requester"),
        assignee=ticket.get("assignee"),
        ticket_type=ticket.get("ticket_type"),
        tags=_tags(ticket),
        products=_products(ticket),
        order_number=ticket.get("order") or "",
        from_email=ticket.get("from_email") or "",
        subject=ticket.get("subject") or "",
        created_at=created_at,
        updated_at=updated_at,
        waiting_since=found.waiting_since,
        first_reply_at=found.first_reply_at,
    )


def _said(comment: dict) -> attention.Said:
    return attention.said({**comment, "created_at": _moment(comment.get("created_at"))})


def requester_emails(requesters) -> dict:
    """`{requester: e-mail}` of those the names cache knows, in one read."""
    wanted = list({requester for requester in requesters if requester is not None})
    if not wanted:
        return {}
    try:
        found = store.known_customers(wanted)
    except Exception:  # a cache that cannot answer leaves the e-mails unknown
        return {}
    emails = {}
    for requester, known in found.items():
        email = getattr(getattr(known, "person", None), "email", "") or ""
        if email:
            emails[requester] = email
    return emails


def _tags(ticket: dict) -> list[str]:
    return list(dict.fromkeys(str(name) for name in ticket.get("tags") or []))


def _products(ticket: dict) -> list[int]:
    return list(dict.fromkeys(int(item) for item in ticket.get("products") or []))


def _moment(value):
    if value is None or not isinstance(value, str):
        return value
    return parse_datetime(value)
