"""What a ticket's writes accept: the spec's PatchedCreateUpdateTicket and CreateTicketComment,
validated field by field as the store's serializers do (see `fields.py`).

Where the spec leaves a rule open, the sandbox takes the stricter reading, so a client that
passes here does not lean on leniency a real store may not have:

- `assignee` must be one of the store's agents (a dashboard user), not any user;
- `tags` are tag names from the store's catalogue, matched exactly;
- a comment needs a body: there is no upload endpoint here, so no attachment id exists;
- `is_public` defaults to true: a note sent without it shows as a public reply, the costlier
  mistake, so a client that means a note must say so.

Read-only fields (`id`, `created_at`, `updated_at`) and unknown fields are ignored.
"""

from .data import SandboxData
from .fields import (
    NOT_NULL,
    REQUIRED,
    FieldError,
    Invalid,
    boolean,
    char,
    choice,
    email,
    primary_key,
    primary_keys,
    slugs,
    validate,
)
from .filters import PRIORITIES, STATUSES


def comment_fields(data: SandboxData) -> dict:
    return {
        # Uploaded attachments' ids; the sandbox serves no upload, so none can be named.
        "attachments": primary_keys(lambda attachment_id: False),
        "author": primary_key(lambda user_id: data.user(user_id) is not None, allow_null=True),
        "body": char(allow_null=True),
        "from_email": email(allow_null=True),
        "is_public": boolean(),
    }


def ticket_fields(data: SandboxData) -> dict:
    def is_agent(user_id):
        user = data.user(user_id)
        return user is not None and user["user_type"] == "dashboard"

    return {
        "assignee": primary_key(is_agent, allow_null=True),
        "comment": _nested_comment(data),
        "from_email": email(allow_null=True),
        "order": char(allow_null=True, allow_blank=True),
        "priority": choice(PRIORITIES),
        "products": primary_keys(lambda product_id: data.product(product_id) is not None),
        "requester": primary_key(lambda user_id: data.user(user_id) is not None, allow_null=True),
        "status": choice(STATUSES),
        "subject": char(),
        "tags": slugs("name", lambda name: isinstance(name, str) and name in data.tag_ids),
        "ticket_type": primary_key(
            lambda type_id: data.ticket_type(type_id) is not None, allow_null=True
        ),
    }


def validate_ticket_changes(payload: object, data: SandboxData) -> tuple[dict, dict | None]:
    """(the ticket fields to change, the comment to add or None); `Invalid` if refused."""
    values = validate(payload, ticket_fields(data))
    return values, values.pop("comment", None)


def validate_comment(payload: object, data: SandboxData) -> dict:
    """A new comment's fields, with their defaults; `Invalid` if refused."""
    comment = validate(payload, comment_fields(data))
    if comment.get("body") is None and not comment.get("attachments"):
        # Without attachments the body is what the comment says: required, and not null.
        raise Invalid({"body": [NOT_NULL if "body" in comment else REQUIRED]})
    return {"attachments": [], "author": None, "from_email": None, "is_public": True, **comment}


def _nested_comment(data: SandboxData):
    def check(value):
        if value is None:  # the field's own refusal, before the nested serializer reads it
            raise FieldError([NOT_NULL])
        try:
            return validate_comment(value, data)
        except Invalid as error:
            # A nested serializer's errors sit under its field's name as an object.
            raise FieldError(error.errors) from error

    return check
