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
    held = (
        IndexedTicket.objects.select_for_update()
        .filter(pk=ticket["id"])
        .values_list("updated_at", flat=True)
        .first()
    )
    if held is not None and held > updated_at:
        return False
    write(ticket, created_at, updated_at)
    return True


def write(ticket: dict, created_at, updated_at) -> None:
    ticket_id = ticket["id"]
    comments = [_said(comment) for comment in ticket.get("comments") or []]
    found = attention.attention(
        ticket.get("status"),
        created_at,
        comments,
        ticket.get("requester"),
        ticket.get("from_email") or "",
        requester_email(ticket.get("requester")),
    )
    tags = list(dict.fromkeys(str(name) for name in ticket.get("tags") or []))
    products = list(dict.fromkeys(int(item) for item in ticket.get("products") or []))
    IndexedTicket.objects.update_or_create(
        pk=ticket_id,
        defaults={
            "status": ticket.get("status") or "",
            "priority": ticket.get("priority") or "",
            "channel": ticket.get("channel") or "",
            "requester": ticket.get("requester"),
            "assignee": ticket.get("assignee"),
            "ticket_type": ticket.get("ticket_type"),
            "tags": tags,
            "products": products,
            "order_number": ticket.get("order") or "",
            "from_email": ticket.get("from_email") or "",
            "subject": ticket.get("subject") or "",
            "created_at": created_at,
            "updated_at": updated_at,
            "waiting_since": found.waiting_since,
            "first_reply_at": found.first_reply_at,
        },
    )
    IndexedTag.objects.filter(ticket_id=ticket_id).delete()
    IndexedTag.objects.bulk_create(IndexedTag(ticket_id=ticket_id, name=name) for name in tags)
    IndexedProduct.objects.filter(ticket_id=ticket_id).delete()
    IndexedProduct.objects.bulk_create(
        IndexedProduct(ticket_id=ticket_id, product=product) for product in products
    )
    IndexedComment.objects.filter(ticket_id=ticket_id).delete()
    IndexedComment.objects.bulk_create(
        IndexedComment(
            ticket_id=ticket_id,
            comment_id=comment["id"],
            author=comment.get("author"),
            from_email=comment.get("from_email") or "",
            is_public=bool(comment.get("is_public")),
            created_at=said.created_at,
        )
        for comment, said in zip(ticket.get("comments") or [], comments, strict=True)
    )


def _said(comment: dict) -> attention.Said:
    created = comment.get("created_at")
    return attention.said(
        {**comment, "created_at": parse_datetime(created) if isinstance(created, str) else created}
    )


def requester_email(requester) -> str:
    """The requester's e-mail if the store's users were looked up before ("" otherwise): the
    names cache only, never a call to the store."""
    if requester is None:
        return ""
    try:
        found = store.known_customers([requester]).get(requester)
    except Exception:  # a cache that cannot answer leaves the e-mail unknown
        return ""
    person = getattr(found, "person", None)
    return getattr(person, "email", "") or ""
