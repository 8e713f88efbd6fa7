"""Two dashboards behind one load balancer, as a team that outgrew one machine runs them: each
its own gunicorn and its own disk, both on one PostgreSQL and one Redis. What is made on one is
seen on the other, the budget is shared, and losing the database is a clear 503 on both that
heals by itself.

The cluster is this module's own (not the run's), so that stopping it stops nobody else, and
so is the store: a sandbox process that, like a real store, answers 429 past 4 calls a second,
and hears from these two machines alone.
"""

import re
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests

from tests import html
from tests.conftest import TEST_TOKEN
from tests.redis_server import started_redis
from tools.processes import (
    Gunicorn,
    PostgresServer,
    SandboxProcess,
    child_env,
    manage,
    wait_until,
)

pytestmark = pytest.mark.xdist_group("machines")

PASSWORD = "a-long-machines-password"


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    log = tmp_path_factory.mktemp("machines-store") / "sandbox.log"
    with SandboxProcess("--rate-limit", "4", token=TEST_TOKEN, log_path=log) as sandbox:
        yield sandbox


@pytest.fixture(scope="module")
def team(tmp_path_factory, store):
    """Machines A and B as `(url_a, url_b, env)`; `env` is what an operator's manage.py on A
    would run with."""
    root = tmp_path_factory.mktemp("machines")
    postgres = PostgresServer().start()
    redis = started_redis(root / "redis")
    try:
        postgres.create_database("team")
        env = child_env(
            DJANGO_SECRET_KEY="machines-test-" + "k" * 50,  # the same on every machine
            DJANGO_HTTPS=0,
            DJANGO_STATIC_ROOT=root / "static",
            DATABASE_URL=postgres.url("team"),
            REDIS_URL=redis.url,
            NEXT_API_TOKEN=TEST_TOKEN,
            NEXT_API_BASE_URL=store.api,
            STORE_PREFETCH=0,
            STORE_NAME_LOOKUPS_PER_MINUTE=0,
            STORE_VIEW_COUNTS=0,
            INDEX_BACKFILL=0,  # the index's walk would spend calls these tests count
        )
        manage(env, "collectstatic", "--noinput", "-v", "0")
        manage(env, "migrate", "--noinput", "-v", "0")
        manage({**env, "DJANGO_SUPERUSER_PASSWORD": PASSWORD}, "createsuperuser", "--noinput",
               "--username", "lead", "--email", "lead@example.test")  # fmt: skip
        machines = [
            Gunicorn({**env, "DASHBOARD_STATE_DIR": str(root / name)}, "-w", "2", "--threads", "8")
            for name in ("a", "b")
        ]
        try:
            yield machines[0].url, machines[1].url, env, postgres
        finally:
            for machine in machines:
                machine.stop()
    finally:
        redis.stop()
        postgres.remove()


@pytest.fixture(scope="module")
def person(team):
    """A browser signed in on machine A (cookies go to both: they share the host)."""
    a, _, _, _ = team
    browser = requests.Session()
    form = html.page(browser.get(f"{a}/accounts/login/", timeout=10))
    token = form.select_one("input[name=csrfmiddlewaretoken]")["value"]
    signed = browser.post(
        f"{a}/accounts/login/",
        {"username": "lead", "password": PASSWORD, "csrfmiddlewaretoken": token},
        timeout=10,
        allow_redirects=False,
    )
    assert signed.status_code == 302, signed.text[:500]
    return browser


def csrf(browser):
    return browser.cookies["csrftoken"]


def test_a_person_signed_in_on_one_machine_stays_signed_in_on_the_other(team, person):
    _, b, _, _ = team
    page = person.get(f"{b}/?status=open", timeout=15, allow_redirects=False)
    assert page.status_code == 200
    assert html.rows(html.page(page))


def test_a_saved_view_and_a_display_link_made_on_one_are_served_by_the_other(team, person):
    a, b, _, _ = team
    saved = person.post(
        f"{a}/views/save/",
        {"name": "Urgent open", "query": "status=open&priority=high", "shared": "on",
         "csrfmiddlewaretoken": csrf(person)},
        timeout=15,
        allow_redirects=False,
    )  # fmt: skip
    assert saved.status_code == 302, saved.text[:500]
    view = person.get(b + saved.headers["Location"], timeout=15)
    assert view.status_code == 200
    assert "Urgent open" in view.text

    made = person.post(
        f"{a}/wall/links/",
        {"name": "Support room", "filters": "status=open", "sort": "newest",
         "refresh_seconds": 30, "rotate_seconds": 60, "warn_after_hours": 4,
         "alert_after_hours": 24, "csrfmiddlewaretoken": csrf(person)},
        timeout=15,
    )  # fmt: skip
    assert made.status_code == 201, made.text[:500]
    path = re.search(r"/display/[\w-]+/", made.text).group(0)
    screen = requests.get(b + path, timeout=15)  # a screen signs in to nothing
    assert screen.status_code == 200
    assert html.rows(html.page(screen))


def test_a_tag_imported_on_one_machine_is_known_to_the_other_without_a_restart(
    team, person, tmp_path
):
    _, b, env, _ = team

    def refused_on_b():
        page = person.get(f"{b}/?tags=Machines-new-tag", timeout=15)
        return page.status_code == 400

    assert refused_on_b()  # both of B's workers have read the catalogue without it
    tags = tmp_path / "tags.csv"
    tags.write_text("1,Machines-new-tag\n")  # a tag the store has, by another name
    manage(env, "import_tags", str(tags))
    wait_until(lambda: not refused_on_b(), 5, "the new tag on machine B")


def filled_in(person, machine, page, within=60):
    """What a page still being asked (202: more people than a worker lets wait were asking)
    shows once its poll brings the store's answer, as the page does every 2 s."""
    if page.status_code == 200:
        return page
    assert page.status_code == 202, page.text[:500]
    poll = html.page(page).select_one("[data-error=asking]")["data-hx-get"]
    answers = []

    def answered():
        answers.append(person.get(machine + poll, headers={"HX-Request": "true"}, timeout=15))
        assert answers[-1].status_code in (200, 204), answers[-1].text[:500]
        return answers[-1].status_code == 200

    wait_until(answered, within, "the page filled in by its poll", interval=0.5)
    return answers[-1]


def test_identical_views_on_both_machines_make_one_store_call(team, person, store):
    a, b, _, _ = team
    store.reset()
    url = "/?status=new&priority=low&channel=email"
    machines = [(a, b)[i % 2] for i in range(20)]
    with ThreadPoolExecutor(20) as pool:
        pages = list(pool.map(lambda machine: person.get(machine + url, timeout=30), machines))
    # Each worker lets a few people wait for the store; the others are told it was asked, and
    # their page fills in from the same answer.
    shown = [filled_in(person, m, page) for m, page in zip(machines, pages, strict=True)]
    assert all(html.rows(html.page(page)) for page in shown)
    listed = [r for r in store.stats()["requests"] if r.startswith("/api/admin/tickets/?")]
    assert len(listed) == 1, listed


def test_distinct_views_on_both_machines_stay_within_the_budget(team, person, store):
    a, b, _, _ = team
    store.reset()
    machines = [(a, b)[i % 2] for i in range(40)]
    urls = [f"{machine}/?status=open&filter_text=order+{i}" for i, machine in enumerate(machines)]
    with ThreadPoolExecutor(40) as pool:
        pages = list(pool.map(lambda url: person.get(url, timeout=60), urls))
    # Forty questions at 4 calls a second: those that cannot be answered at once are asked in
    # the background, and each page fills in by itself.
    for machine, page in zip(machines, pages, strict=True):
        assert filled_in(person, machine, page, within=90).status_code == 200
    stats = store.stats()
    assert stats["throttled"] == 0
    assert stats["peak_per_second"] <= 4


def test_losing_the_database_is_a_503_on_both_machines_and_both_come_back(team, person):
    a, b, _, postgres = team
    link = re.search(
        r"/display/[\w-]+/", person.post(
            f"{a}/wall/links/",
            {"name": "Outage room", "filters": "status=new", "sort": "newest",
             "refresh_seconds": 30, "rotate_seconds": 60, "warn_after_hours": 4,
             "alert_after_hours": 24, "csrfmiddlewaretoken": csrf(person)},
            timeout=15,
        ).text
    ).group(0)  # fmt: skip
    stranger = requests.Session()
    stranger.get(f"{a}/accounts/login/", timeout=15)  # a CSRF cookie, good on both machines
    pages = [
        lambda url: person.get(f"{url}/?status=open", timeout=15),
        lambda url: requests.get(url + link, timeout=15),
        lambda url: stranger.get(f"{url}/accounts/login/", timeout=15),
        lambda url: stranger.post(
            f"{url}/accounts/login/",
            {"username": "lead", "password": PASSWORD, "csrfmiddlewaretoken": csrf(stranger)},
            timeout=15,
        ),
    ]
    postgres.stop()
    try:
        for machine in (a, b):
            for open_page in pages:
                # requests' timeout bounds each answer: a hang fails the test.
                answer = open_page(machine)
                assert answer.status_code == 503, (machine, answer.request.url)
                if answer.request.method == "GET":
                    alert = html.page(answer).select_one("[role=alert]")
                    assert alert["data-error"] == "database"
    finally:
        postgres.start()
    for machine in (a, b):
        wait_until(lambda m=machine: pages[0](m).status_code == 200, 10, f"{machine} back")
        assert requests.get(machine + link, timeout=15).status_code == 200
