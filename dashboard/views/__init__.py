"""The pages: each view turns a request into one page, or into the fragment HTMX asked for,
from the same template.

- `tickets`: the ticket list (the filter form's bookmark) and a ticket's thread;
- `walls`: the wall board, for signed-in people and for display links;
- `saved`: saved views, the built-in "All tickets" and "Mine", a person's default at `/`,
  and the sidebar's counts (`sidebar` builds the sidebar itself);
- `links`: making display links from saved views, listing and revoking them;
- `site`: the doors around them (health check, the 500 page, the admin's sign-in);
- `common`: what those share (the filter form, fragments, optional names, Retry-After).
"""
