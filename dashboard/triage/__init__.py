"""Acting on tickets from the dashboard: a thread's triage form and bulk changes from the list.

- `changes`: one ticket's change, checked against the ticket as the store has it now (no
  blind overwrite), sent as one PATCH of only what changed, then applied to the index and the
  cached pages, and written to the audit trail;
- `forms`: the thread's triage form;
- `bulk`: a change of many tickets, one PATCH each, in the background lane.

Only people with the permission `dashboard.triage_tickets` may write (`PERMISSION`).
"""

PERMISSION = "dashboard.triage_tickets"


def may_triage(user) -> bool:
    return bool(user.is_authenticated and user.has_perm(PERMISSION))
