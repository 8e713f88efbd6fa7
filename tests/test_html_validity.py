"""The Nu Html Checker (vnu.jar, from npm's `vnu-jar`, run on Java) on the pages as the server
sends them: the list, a thread, the views page, the display links page, the signed-in wall and
a display link's screen, with a hostile ticket among them. Zero errors and zero warnings.

The checker is one Java process for every page at once, so the suite pays its start once.
"""

import json
import shutil
import subprocess
from pathlib import Path

import pytest
from django.conf import settings

from dashboard.models import DisplayLink, SavedView
from tests.test_browser import hostile_ticket

VNU = Path(settings.BASE_DIR) / "tools/validator/node_modules/vnu-jar/build/dist/vnu.jar"


def check(pages):
    """What the checker says of each page, `{name: [message, ...]}`."""
    java = shutil.which("java")
    assert java and VNU.exists(), "`make test` installs Java and tools/validator (npm ci)"
    folder = Path(settings.BASE_DIR) / "var" / "html-check"
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    for name, html in pages.items():
        (folder / f"{name}.html").write_text(html, encoding="utf-8")
    run = subprocess.run(
        [
            java,
            "-jar",
            str(VNU),
            "--format",
            "json",
            "--also-check-svg",
            *sorted(map(str, folder.iterdir())),
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    found = {name: [] for name in pages}
    for message in json.loads(run.stderr or '{"messages": []}')["messages"]:
        name = Path(message.get("url", "")).stem
        where = f"line {message.get('lastLine', '?')}"
        found.setdefault(name, []).append(
            f"{message['type']}/{message.get('subType', '')} {where}: {message['message']}"
            f" — {message.get('extract', '').strip()[:160]}"
        )
    return found


def body(response):
    assert response.status_code == 200, response.status_code
    return response.content.decode()


@pytest.mark.django_db
def test_every_page_is_valid_html(signed_in, sandbox, lead):
    ticket = hostile_ticket(sandbox)
    SavedView.objects.create(owner=lead, name="Open <b>now</b>", query="status=open", shared=True)
    SavedView.objects.create(owner=lead, name="Mine open", query="status=open&assignee=mine")
    link = DisplayLink(name="Support room", filters="status=new&status=open")
    secret = link.issue_secret()
    link.save()

    pages = {
        "list": body(signed_in.get("/?status=new&status=open")),
        "list-with-thread": body(signed_in.get(f"/?status=new&ticket={ticket['id']}")),
        "thread": body(signed_in.get(f"/tickets/{ticket['id']}/")),
        "views": body(signed_in.get("/views/")),
        "display-links": body(signed_in.get("/wall/links/")),
        "wall": body(signed_in.get("/wall/?status=new&status=open")),
        "display-link-screen": body(signed_in.get(link.path_for(secret))),
        "sign-in": body(signed_in.__class__().get("/accounts/login/")),
    }
    found = check(pages)
    problems = {name: said for name, said in found.items() if said}
    assert not problems, "\n".join(
        f"{name}:\n  " + "\n  ".join(said) for name, said in problems.items()
    )
