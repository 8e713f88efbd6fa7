"""Reading all day, on the server: threads with quotes folded and exact times, a missing ticket
that offers no retry, and the list's summary with its total counted in the background."""

import re
import time
from types import SimpleNamespace
from urllib.parse import parse_qsl, urlsplit

import pytest
from hypothesis import HealthCheck, given
from hypothesis import settings as examples

from dashboard.budget import worker
from dashboard.tickets import counts
from tests import html
from tests.refs import count_url, without_ref
from tests.test_fuzz import PAIRS, encode

HTMX = {"HTTP_HX_REQUEST": "true"}
EXACT_AND_AGO = re.compile(r"^\d{1,2} [A-Z][a-z]{2} \d{4}, \d{2}:\d{2} · (just now|\d+ \w+ ago)$")


def quoted_comment(sandbox):
    """A ticket with a comment that quotes the reply before it, as mail clients do."""
    for ticket in sandbox.data.tickets:
        for comment in ticket["comments"]:
            if "wrote:\n>" in (comment["body"] or ""):
                return ticket, comment
    raise AssertionError("the sandbox has no quoted reply")


# --- Threads -------------------------------------------------------------------------------


def test_a_quoted_reply_is_folded_in_a_closed_details_and_kept(signed_in, sandbox):
    ticket, comment = quoted_comment(sandbox)
    own_words, quote = comment["body"].split("\n\nOn ", 1)
    for extra in ({}, HTMX):
        doc = html.page(signed_in.get(f"/tickets/{ticket['id']}/", **extra))
        shown = html.comment(doc, comment["id"])
        folds = shown.select("details")
        assert len(folds) == 1
        assert not folds[0].has_attr("open")
        assert html.text(folds[0].select_one("summary")) == "Show quoted text"
        assert html.text(folds[0]).removeprefix("Show quoted text ") == " ".join(
            f"On {quote}".split()
        )
        body = shown.select_one(".comment-body")
        outside = [html.text(part) for part in body.find_all(recursive=False)]
        assert outside[0] == " ".join(own_words.split())


def test_hostile_quotes_stay_text_inside_the_fold(signed_in, sandbox):
    body = (
        "Fine <b onclick=alert(1)>thanks</b>\n\n"
        "On Mon, 5 Jan 2026 at 10:00, <img src=x onerror=alert(2)> wrote:\n"
        "> <script>alert(3)</script>\n"
        "> {{ request.user }}"
    )
    ticket = sandbox.data.add_ticket(status="new", comments=[{"body": body}])
    doc = html.page(signed_in.get(f"/tickets/{ticket['id']}/"))
    shown = html.comment(doc, ticket["comments"][0]["id"])
    assert shown.select("script, img, b, [onclick], [onerror]") == []
    fold = html.text(shown.select_one("details"))
    assert "<img src=x onerror=alert(2)> wrote:" in fold
    assert "> <script>alert(3)</script>" in fold and "{{ request.user }}" in fold
    assert "Fine <b onclick=alert(1)>thanks</b>" in html.text(shown)


def test_a_body_that_is_all_quote_is_shown_unfolded(signed_in, sandbox):
    body = "> Is anyone there?\n> Hello?"
    ticket = sandbox.data.add_ticket(status="new", comments=[{"body": body}])
    doc = html.page(signed_in.get(f"/tickets/{ticket['id']}/"))
    shown = html.comment(doc, ticket["comments"][0]["id"])
    assert shown.select("details") == []
    assert "> Is anyone there? > Hello?" in html.text(shown)


def test_comments_and_facts_show_the_exact_time_beside_the_relative_one(signed_in, sandbox):
    ticket = max(sandbox.data.tickets[:50], key=lambda t: len(t["comments"]))
    doc = html.page(signed_in.get(f"/tickets/{ticket['id']}/"))
    for comment in ticket["comments"]:
        time = html.comment(doc, comment["id"]).select_one(".comment-time time[datetime]")
        assert EXACT_AND_AGO.match(html.text(time)), html.text(time)
        assert time["datetime"].startswith(comment["created_at"][:16])
    facts = {
        html.text(item.select_one("dt")): item.select_one("dd time[datetime]")
        for item in doc.select(".ticket-facts > div")
        if item.select_one("dd time")
    }
    # First reply and the wait on the team show a time when there is one.
    shown_with_times = {"Created", "Updated", "First reply", "Waiting on us"}
    assert {"Created", "Updated"} <= set(facts) <= shown_with_times
    assert all(EXACT_AND_AGO.match(html.text(time)) for time in facts.values())


def test_the_subject_and_every_body_read_in_their_own_direction(signed_in, sandbox):
    ticket = sandbox.data.add_ticket(
        status="new",
        subject="طلب استرداد",
        comments=[{"body": "مرحبا، أريد استرداد المبلغ"}, {"body": "Hello\n\n> earlier"}],
    )
    doc = html.page(signed_in.get(f"/tickets/{ticket['id']}/"))
    thread = html.thread(doc)
    assert thread.select_one(".thread-subject")["dir"] == "auto"
    for comment in ticket["comments"]:
        shown = html.comment(doc, comment["id"])
        assert shown.select_one(".comment-body")["dir"] == "auto"
        assert all(part.get("dir") == "auto" for part in shown.select(".comment-text"))
    assert html.comment(doc, ticket["comments"][1]["id"]).select_one(".quoted-text")["dir"]


def test_a_missing_ticket_offers_no_try_again(signed_in):
    for extra in ({}, HTMX):
        response = signed_in.get("/tickets/999999/", **extra)
        assert response.status_code == 404
        doc = html.page(response)
        assert html.error_codes(doc) == ["not_found"]
        assert html.anchor(doc, "Try again") is None


def test_other_thread_errors_keep_try_again(signed_in, sandbox, settings):
    settings.STORE_ERROR_TTL = 0
    sandbox.set_fault("unavailable")
    doc = html.page(signed_in.get("/tickets/1641/", **HTMX))
    assert html.error_codes(doc) == ["unavailable"]
    assert html.link(doc, "Try again") == "/tickets/1641/"


# --- The list's summary --------------------------------------------------------------------


@pytest.fixture
def jobs(monkeypatch):
    """The background jobs views ask for, kept to be run by the test, not by the thread."""
    asked = {}

    def submit(key, job, delay=0.0):
        asked.setdefault(key, job)
        return True

    monkeypatch.setattr(worker, "submit", submit)
    return asked


def run_all(jobs):
    while jobs:
        jobs.pop(next(iter(jobs)))()


def summary(doc):
    return html.text(doc.select_one(".results-head .summary"))


def poller(doc):
    """The element that asks for the total again, as (url, trigger), or None."""
    element = doc.select_one("#list-total[data-hx-get]")
    return (
        None
        if element is None
        else (without_ref(element["data-hx-get"]), element["data-hx-trigger"])
    )


def ticket_calls(sandbox):
    return [r for r in sandbox.received() if "/api/admin/tickets" in r.path]


def test_the_first_page_says_how_many_are_shown_and_polls_for_the_total(signed_in, jobs):
    doc = html.page(signed_in.get("/?status=closed"))
    assert summary(doc) == "25 shown · counting the total…"
    assert doc.select_one("[role=status] [data-shown-count]").get_text() == "25"
    assert poller(doc) == ("/count/?status=closed", "load delay:1s")
    assert jobs == {}  # the page itself starts no walk: its poller does


def test_a_list_of_one_page_knows_its_total_without_counting(signed_in, sandbox):
    expected = len(sandbox.data.filter_tickets([("status", "open")]))
    assert expected < sandbox.page_size
    doc = html.page(signed_in.get("/?status=open"))
    assert summary(doc) == f"{expected} shown of {expected}"
    assert poller(doc) is None


def test_an_empty_list_says_none_are_shown_and_counts_nothing(signed_in):
    doc = html.page(signed_in.get("/?id=999999"))
    assert summary(doc) == "0 shown"
    assert doc.select_one("#list-total") is None


def test_a_page_further_on_says_what_it_shows_without_a_total(signed_in):
    first = html.page(signed_in.get("/?status=closed"))
    href, _ = html.load_more(first)
    doc = html.page(signed_in.get(href))
    assert summary(doc) == "25 shown on this page"
    assert doc.select_one("#list-total") is None


def test_the_total_is_walked_in_steps_asking_the_store_nothing_in_the_request(
    signed_in, sandbox, jobs, monkeypatch
):
    monkeypatch.setattr(counts, "PAGES_PER_STEP", 2)
    sandbox.configure(page_size=10)
    expected = len(sandbox.data.filter_tickets([("status", "closed")]))
    assert expected > 20
    signed_in.get("/?status=closed")
    sandbox.reset_stats()

    first = html.page(signed_in.get(count_url(signed_in, "status=closed"), **HTMX))
    assert ticket_calls(sandbox) == []
    assert html.text(first) == "· counting the total…"
    assert poller(first) == ("/count/?status=closed", "load delay:2s")

    run_all(jobs)  # the background thread's step: two pages
    second = signed_in.get(count_url(signed_in, "status=closed"), **HTMX)
    assert html.text(html.page(second)) == "of at least 20, counting…"
    assert second["Cache-Control"] == "no-store"
    while poller(html.page(second)):
        run_all(jobs)
        second = signed_in.get(count_url(signed_in, "status=closed"), **HTMX)
    assert html.text(html.page(second)) == f"of {expected}"
    assert len(ticket_calls(sandbox)) == -(-expected // 10) - 1  # the first page was cached
    doc = html.page(signed_in.get("/?status=closed"))
    assert summary(doc) == f"10 shown of {expected}" and poller(doc) is None


def test_one_walk_serves_everyone_on_the_filter(
    signed_in, client, sandbox, jobs, django_user_model
):
    url = count_url(signed_in, "status=closed&priority=high")
    while poller(html.page(signed_in.get(url, **HTMX))):
        run_all(jobs)
    sandbox.reset_stats()
    other = django_user_model.objects.create_user("agent", password="a-long-test-password")
    client.force_login(other)
    doc = html.page(client.get(count_url(client, "priority=high&status=closed"), **HTMX))
    expected = len(sandbox.data.filter_tickets([("status", "closed"), ("priority", "high")]))
    assert html.text(doc) == f"of {expected}"
    assert jobs == {} and sandbox.received() == []


def test_the_wall_and_the_list_share_one_walk(signed_in, sandbox, jobs):
    signed_in.get("/wall/?status=new&status=open")  # counted as the board is built
    sandbox.reset_stats()
    doc = html.page(signed_in.get(count_url(signed_in, "status=new&status=open"), **HTMX))
    expected = len(sandbox.data.filter_tickets([("status", "new"), ("status", "open")]))
    assert html.text(doc) == f"of {expected}"
    assert sandbox.received() == []


def test_past_the_cap_the_total_says_plus(signed_in, jobs, monkeypatch):
    monkeypatch.setattr(counts, "CAP", 50)
    for _ in range(5):
        doc = html.page(signed_in.get(count_url(signed_in, "status=closed"), **HTMX))
        run_all(jobs)
    doc = html.page(signed_in.get(count_url(signed_in, "status=closed"), **HTMX))
    assert html.text(doc) == "of 50+"
    assert poller(doc) is None


def test_a_store_fault_while_counting_leaves_the_total_unsaid(signed_in, sandbox, jobs, settings):
    settings.STORE_ERROR_TTL = 0
    signed_in.get(count_url(signed_in, "status=closed"), **HTMX)
    sandbox.set_fault("unavailable")
    run_all(jobs)
    response = signed_in.get(count_url(signed_in, "status=closed"), **HTMX)
    assert response.status_code == 200
    assert html.text(html.page(response)) == "" and poller(html.page(response)) is None
    sandbox.set_fault("none")
    listing = html.page(signed_in.get("/?status=closed"))
    assert summary(listing) == "25 shown"  # never an error, nor a total it does not know


@pytest.mark.parametrize(
    "query", ["priority=urgent", "id=abc", "requester=anna%40example.com", "product=Starter+kit"]
)
def test_bad_filters_are_refused_before_any_store_call(signed_in, sandbox, jobs, query):
    sandbox.reset_stats()
    response = signed_in.get(count_url(signed_in, f"{query}"), **HTMX)
    assert response.status_code == 400
    assert sandbox.received() == [] and jobs == {}


@examples(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(pairs=PAIRS)
def test_the_count_never_calls_the_store_whatever_it_is_asked(signed_in, sandbox, jobs, pairs):
    sandbox.reset_stats()
    response = signed_in.get(count_url(signed_in, f"{encode(pairs)}"), **HTMX)
    # Counted, refused as bad filters, or (filters no page would count) not vouched for.
    assert response.status_code in (200, 400, 403)
    assert sandbox.received() == []
    jobs.clear()


def test_the_poll_url_is_the_bookmark_of_the_list(signed_in):
    doc = html.page(signed_in.get("/?priority=high&status=closed&status=new", follow=True))
    url, _ = poller(doc)
    assert urlsplit(url).path == "/count/"
    assert parse_qsl(urlsplit(url).query) == [
        ("status", "new"),
        ("status", "closed"),
        ("priority", "high"),
    ]


def test_a_walk_left_unfinished_long_ago_starts_again_from_the_top(
    signed_in, sandbox, jobs, monkeypatch
):
    monkeypatch.setattr(counts, "PAGES_PER_STEP", 1)
    signed_in.get(count_url(signed_in, "status=closed"), **HTMX)
    run_all(jobs)
    first = html.page(signed_in.get(count_url(signed_in, "status=closed"), **HTMX))
    assert html.text(first) == "of at least 25, counting…"
    later = SimpleNamespace(time=lambda: time.time() + counts.WALK_MAX_AGE + 1)
    monkeypatch.setattr(counts, "time", later)
    run_all(jobs)
    again = html.page(signed_in.get(count_url(signed_in, "status=closed"), **HTMX))
    assert html.text(again) == "of at least 25, counting…"  # not 50: counted afresh
