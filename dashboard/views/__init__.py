"""The pages: each view turns a request into one page, or into the fragment HTMX asked for,
from the same template.

- `tickets`: the ticket list (the filter form's bookmark) and a ticket's thread;
- `walls`: the wall board, for signed-in people and for display links;
- `links`: making, listing and revoking display links;
- `site`: the doors around them (health check, the 500 page, the admin's sign-in);
- `common`: what those share (the filter form, fragments, optional names, Retry-After).
"""
