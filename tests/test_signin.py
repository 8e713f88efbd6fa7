"""The sign-in throttle: counted before the password is checked, by the username as Django signs
in with it, per client behind a trusted proxy, and never a way to lock a colleague out."""

import logging
import threading
import time
from ipaddress import ip_network

import pytest
import redis
import requests
from django.contrib.auth.backends import ModelBackend
from django.test import Client

from dashboard.accounts import throttle
from tests.html import alerts, page
from tests.redis_server import redis_url  # noqa: F401

PASSWORD = "a-long-test-password"


def sign_in(client, username, password, address="10.0.0.1", **headers):
    return client.post(
        "/accounts/login/",
        {"username": username, "password": password},
        REMOTE_ADDR=address,
        **headers,
    )


def fail(client, times, username="lead", address="10.0.0.1", **headers):
    return [
        sign_in(client, username, f"wrong-{n}", address, **headers).status_code
        for n in range(times)
    ]


@pytest.fixture(params=["files", "redis"])
def backend(request, settings):
    if request.param == "redis":
        settings.REDIS_URL = request.getfixturevalue("redis_url")
        redis.Redis.from_url(settings.REDIS_URL).flushdb()  # no counts from earlier tests
    return request.param


@pytest.mark.also_sqlite
def test_the_username_is_counted_as_django_signs_in_with_it(client, lead):
    assert fail(client, 5) == [200] * 5
    # Fullwidth letters are NFKC-normalised to "lead" by the sign-in form: no fresh tries.
    assert sign_in(client, "ｌｅａｄ", "wrong").status_code == 429
    assert sign_in(client, " LEAD ", "wrong").status_code == 429


def test_refusals_say_when_to_retry(client, lead, backend):
    fail(client, 5)
    refused = sign_in(client, "lead", PASSWORD)
    assert refused.status_code == 429
    assert 890 <= int(refused["Retry-After"]) <= 900
    assert any("Try again in 15 minutes" in alert for alert in alerts(page(refused)))
    assert "_auth_user_id" not in client.session


def test_the_window_announced_is_the_window_kept(client, lead, monkeypatch):
    fail(client, 5)
    real = time.time
    monkeypatch.setattr(time, "time", lambda: real() + 600)
    refused = sign_in(client, "lead", PASSWORD)
    assert refused.status_code == 429
    assert 290 <= int(refused["Retry-After"]) <= 300
    monkeypatch.setattr(time, "time", lambda: real() + 901)
    assert sign_in(client, "lead", PASSWORD).status_code == 302


class Door(ModelBackend):
    """Signs in as Django does, once the test opens the door: every password check waits at
    it, so attempts really overlap however fast the machine checks."""

    changed = threading.Condition()
    opened = False
    inside = 0  # checks waiting at the door now
    checked = 0  # checks that reached it
    most = 0  # the most checks that waited at once

    def authenticate(self, request, username=None, password=None, **kwargs):
        door = type(self)
        with door.changed:
            door.inside += 1
            door.checked += 1
            door.most = max(door.most, door.inside)
            door.changed.notify_all()
            assert door.changed.wait_for(lambda: door.opened, timeout=60)
            door.inside -= 1
        return super().authenticate(request, username, password, **kwargs)


class Waiters(logging.Handler):
    """Counts the attempts that waited for others under way (the throttle says so once each)."""

    def __init__(self):
        super().__init__(logging.INFO)
        self.count = 0

    def emit(self, record):
        if record.getMessage().startswith("sign-in waits"):
            with Door.changed:
                self.count += 1
                Door.changed.notify_all()


@pytest.fixture
def door(settings, monkeypatch):
    settings.AUTHENTICATION_BACKENDS = ["tests.test_signin.Door"]
    for name, value in [("opened", False), ("inside", 0), ("checked", 0), ("most", 0)]:
        monkeypatch.setattr(Door, name, value)
    # However slowly a loaded machine starts the requests, nobody gives up waiting first.
    monkeypatch.setattr(throttle, "SETTLE_WAIT", 60.0)
    waiters = Waiters()
    logger = logging.getLogger(throttle.__name__)
    logger.addHandler(waiters)
    yield waiters
    logger.removeHandler(waiters)
    with Door.changed:  # no request thread stays behind a closed door
        Door.opened = True
        Door.changed.notify_all()


def until(condition, door):
    with Door.changed:
        met = Door.changed.wait_for(condition, timeout=60)
    assert met, f"{Door.inside} checks at the door, {door.count} waiting for a place"


def open_door():
    with Door.changed:
        Door.opened = True
        Door.changed.notify_all()


def in_parallel(live_server, passwords, username="lead"):
    """Each password sent at once from a browser of its own (one address: the test's own);
    their answers, in the order of `passwords`."""
    start = threading.Barrier(len(passwords))
    answers = [None] * len(passwords)

    def sign_in_with(n, password):
        answers[n] = sign_in_live(
            live_server, password, username, before=lambda: start.wait(timeout=60), timeout=90
        )

    threads = [threading.Thread(target=sign_in_with, args=pair) for pair in enumerate(passwords)]
    for thread in threads:
        thread.start()
    return threads, answers


def finish(threads):
    for thread in threads:
        thread.join(timeout=90)
        assert not thread.is_alive()


def test_parallel_guesses_are_counted_before_any_password_is_checked(
    live_server, lead, backend, door
):
    threads, answers = in_parallel(live_server, [f"guess-{n}" for n in range(14)])
    # Five checks under way: the other nine wait for them, none is checked meanwhile.
    until(lambda: Door.inside == 5 and door.count == 9, door)
    assert Door.checked == 5
    open_door()
    finish(threads)
    assert Door.checked == 5
    assert sorted(answer.status_code for answer in answers) == [200] * 5 + [429] * 9


def test_a_team_behind_one_address_signs_in_together(live_server, lead, backend, door):
    """Ten right passwords at once, as an office at 9:00: five are checked while five wait for
    a place, which each success gives back; no more than five are ever checked at once."""
    threads, answers = in_parallel(live_server, [PASSWORD] * 10)
    until(lambda: Door.inside == 5 and door.count == 5, door)
    assert Door.checked == 5
    open_door()
    finish(threads)
    assert [answer.status_code for answer in answers] == [302] * 10
    assert all(answer.signed_in for answer in answers)
    assert Door.checked == 10 and Door.most == 5


def test_right_passwords_behind_wrong_guesses_under_way_are_refused_once_they_fail(
    live_server, lead, door
):
    threads, guesses = in_parallel(live_server, [f"guess-{n}" for n in range(5)])
    until(lambda: Door.inside == 5, door)
    more, right = in_parallel(live_server, [PASSWORD] * 5)
    until(lambda: door.count == 5, door)  # the right ones wait: the guesses may yet succeed
    open_door()
    finish(threads + more)
    assert [answer.status_code for answer in guesses] == [200] * 5
    assert [answer.status_code for answer in right] == [429] * 5
    assert "Too many failed sign-ins" in right[0].text
    assert Door.checked == 5


def test_five_wrong_then_five_right_at_once_still_locks(live_server, lead, door):
    open_door()
    guesses = [sign_in_live(live_server, f"guess-{n}") for n in range(5)]
    assert [answer.status_code for answer in guesses] == [200] * 5
    threads, right = in_parallel(live_server, [PASSWORD] * 5)
    finish(threads)
    assert [answer.status_code for answer in right] == [429] * 5
    assert not any(answer.signed_in for answer in right)
    assert all(890 <= int(answer.headers["Retry-After"]) <= 900 for answer in right)
    assert Door.checked == 5 and door.count == 0  # refused at once, none of them checked


def sign_in_live(live_server, password, username="lead", before=None, timeout=60):
    """The sign-in form, fetched and sent from a browser of its own (`before()` runs between);
    the answer says whether it `signed_in`."""
    browser = requests.Session()
    url = f"{live_server.url}/accounts/login/"
    browser.get(url, timeout=60)
    if before is not None:
        before()
    answer = browser.post(
        url,
        data={"username": username, "password": password,
              "csrfmiddlewaretoken": browser.cookies["csrftoken"]},
        allow_redirects=False,
        timeout=timeout,
    )  # fmt: skip
    answer.signed_in = "sessionid" in browser.cookies
    return answer


def test_attempts_under_way_for_too_long_refuse_for_a_moment(client, lead, monkeypatch):
    monkeypatch.setattr(throttle, "SETTLE_WAIT", 0.05)
    for _ in range(5):  # five checks that have not ended (their thread is still checking)
        assert throttle.Attempt.of(_posted("lead")).admit() == 0
    refused = sign_in(client, "lead", PASSWORD)
    assert refused.status_code == 429
    assert refused["Retry-After"] == "1"
    assert any("Too many sign-ins at once" in alert for alert in alerts(page(refused)))


def test_an_attempt_whose_check_never_ended_counts_as_a_failure(client, lead, monkeypatch):
    monkeypatch.setattr(throttle, "UNDER_WAY_HOLD", 0.0)  # their processes died long ago
    for _ in range(5):
        assert throttle.Attempt.of(_posted("lead")).admit() == 0
    refused = sign_in(client, "lead", PASSWORD)
    assert refused.status_code == 429
    assert any("Too many failed sign-ins" in alert for alert in alerts(page(refused)))


def test_a_stranger_cannot_lock_a_colleague_out(client, lead, settings):
    assert sign_in(client, "lead", PASSWORD, "10.0.0.7").status_code == 302
    known_browser = client.cookies[throttle.KNOWN_COOKIE].value
    client.logout()
    client.cookies.clear()

    attacker = fail(client, 40, address="198.51.100.66")
    assert attacker[:5] == [200] * 5 and set(attacker[5:]) == {429}

    # The colleague's own browser signs in at once, from anywhere.
    client.cookies[throttle.KNOWN_COOKIE] = known_browser
    assert sign_in(client, "lead", PASSWORD, "10.0.0.8").status_code == 302
    client.logout()
    client.cookies.clear()

    # A new browser elsewhere is not held up: the stranger's failures fill their own pair.
    fail(client, 10, address="198.51.100.66")
    assert sign_in(client, "lead", PASSWORD, "10.0.0.9").status_code == 302


def test_guessing_from_many_addresses_slows_down(client, lead, settings):
    settings.SIGNIN_FAILURES_PER_USERNAME = 5
    statuses = [sign_in(client, "lead", "guess", f"203.0.113.{n}").status_code for n in range(9)]
    assert statuses[:5] == [200] * 5
    assert 429 in statuses[5:]  # the sixth waits a second, the next two, then four...
    slowed = sign_in(client, "lead", "guess", "203.0.113.200")
    assert slowed.status_code == 429
    assert 1 <= int(slowed["Retry-After"]) <= 60


def test_one_address_cannot_spray_the_team(client, lead, settings):
    settings.SIGNIN_FAILURES_PER_ADDRESS = 4
    for n in range(4):
        sign_in(client, f"someone-{n}", "guess", "10.1.1.1")
    assert sign_in(client, "lead", PASSWORD, "10.1.1.1").status_code == 429
    assert sign_in(client, "lead", PASSWORD, "10.2.2.2").status_code == 302


def test_behind_a_trusted_proxy_each_client_is_counted_apart(client, lead, settings):
    settings.TRUSTED_PROXIES = [ip_network("10.0.0.0/24")]
    settings.SIGNIN_FAILURES_PER_ADDRESS = 4
    for n in range(6):
        sign_in(client, f"someone-{n}", "guess", "10.0.0.2", HTTP_X_FORWARDED_FOR="192.0.2.50")
    refused = sign_in(client, "lead", PASSWORD, "10.0.0.2", HTTP_X_FORWARDED_FOR="192.0.2.50")
    assert refused.status_code == 429
    colleague = sign_in(client, "lead", PASSWORD, "10.0.0.3", HTTP_X_FORWARDED_FOR="192.0.2.51")
    assert colleague.status_code == 302


def test_without_a_trusted_proxy_a_forwarded_for_header_changes_nothing(client, lead):
    for n in range(5):
        sign_in(client, "lead", "guess", "10.9.9.9", HTTP_X_FORWARDED_FOR=f"192.0.2.{n}")
    answer = sign_in(client, "lead", PASSWORD, "10.9.9.9", HTTP_X_FORWARDED_FOR="192.0.2.99")
    assert answer.status_code == 429


def test_a_successful_sign_in_clears_the_users_failures(client, lead, settings):
    settings.SIGNIN_FAILURES_PER_USER = 3
    fail(client, 2)
    assert sign_in(client, "lead", PASSWORD).status_code == 302
    client.logout()
    fail(client, 2)
    assert sign_in(client, "lead", PASSWORD).status_code == 302


def test_a_forged_known_browser_cookie_counts_for_nothing(client, lead):
    fail(client, 5, address="10.3.3.3")
    client.cookies[throttle.KNOWN_COOKIE] = "forged"
    assert sign_in(client, "lead", PASSWORD, "10.3.3.3").status_code == 429


@pytest.mark.parametrize(
    ("remote", "forwarded", "client"),
    [
        ("10.0.0.2", "192.0.2.7", "192.0.2.7"),
        ("10.0.0.2", "198.51.100.1, 192.0.2.7", "192.0.2.7"),  # the nearest untrusted hop
        ("10.0.0.2", "192.0.2.7, 10.0.0.9", "192.0.2.7"),  # proxies in the chain are skipped
        ("10.0.0.2", "not-an-address", "10.0.0.2"),
        ("10.0.0.2", "", "10.0.0.2"),
        ("192.0.2.8", "203.0.113.1", "192.0.2.8"),  # not a trusted proxy: header ignored
    ],
)
def test_client_address(rf, settings, remote, forwarded, client):
    settings.TRUSTED_PROXIES = [ip_network("10.0.0.0/24")]
    request = rf.post("/", REMOTE_ADDR=remote, HTTP_X_FORWARDED_FOR=forwarded)
    assert throttle.client_address(request) == client


class Clock:
    """The throttle's clock (the files' backend reads `time.time`), moved on by hand."""

    def __init__(self, monkeypatch):
        self.offset, real = 0.0, time.time
        monkeypatch.setattr(time, "time", lambda: real() + self.offset)


def test_a_guesser_rotating_addresses_never_keeps_a_colleague_out_of_a_new_browser(
    client, lead, monkeypatch
):
    """The attack reported: a new address for every guess at the colleague's username, and a
    guess again as soon as any wait ends, for minutes. The colleague, in a new browser at an
    address of their own, signs in at once each time they try."""
    clock = Clock(monkeypatch)
    guesses = 0
    for second in range(0, 300, 5):  # five minutes, a guess every 5 s (a slot the old rule freed)
        clock.offset = second
        answer = sign_in(client, "lead", f"guess-{second}", f"203.0.113.{guesses % 250}")
        assert answer.status_code == 200  # refused as a wrong password, never 429 to anyone
        guesses += 1
        if second % 60 == 55:
            colleague = sign_in(client, "lead", PASSWORD, f"10.0.{second // 60}.9")
            assert colleague.status_code == 302, colleague.get("Retry-After")
            client.logout()
            client.cookies.clear()  # a new browser again next time
    assert guesses == 60


def test_past_the_username_count_staff_unlock_lets_the_colleague_in_at_once(
    client, lead, settings, django_user_model
):
    """Guesses at one username from more addresses than the username-wide count allows slow
    every new browser down; a guesser who keeps polling takes each freed slot first, so staff
    lift that count for the username, and the colleague signs in at once, while each guessing
    address keeps its own strict count."""
    settings.SIGNIN_FAILURES_PER_USERNAME = 20
    for n in range(20):
        assert sign_in(client, "lead", "guess", f"203.0.113.{n}").status_code == 200
    slowed = sign_in(client, "lead", PASSWORD, "10.0.0.9")
    assert slowed.status_code == 429
    assert 1 <= int(slowed["Retry-After"]) <= settings.SIGNIN_SLOWDOWN_CAP

    staff = django_user_model.objects.create_superuser("boss", password=PASSWORD)
    admin = Client()
    admin.force_login(staff)
    answer = admin.post(
        "/admin/auth/user/", {"action": "unlock_sign_in", "_selected_action": [lead.pk]}
    )
    assert answer.status_code == 302
    # The guessing goes on, from old addresses and new ones; the colleague gets in at once.
    assert fail(client, 6, address="203.0.113.1") == [200] * 4 + [429] * 2
    assert fail(client, 5, address="203.0.113.99") == [200] * 5
    assert sign_in(client, "lead", PASSWORD, "10.0.0.9").status_code == 302

    # The unlock lasts SIGNIN_UNLOCK_SECONDS; then the username-wide count is back.
    client.logout()
    client.cookies.clear()
    settings.SIGNIN_UNLOCK_SECONDS = 1  # counted back from now: the unlock is older than that
    real = time.time
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(time, "time", lambda: real() + 2)
        statuses = [sign_in(client, "lead", "guess", f"198.51.100.{n}").status_code
                    for n in range(21)]  # fmt: skip
    assert statuses[:20] == [200] * 20 and statuses[20] == 429


def test_a_success_takes_back_its_own_attempt_and_leaves_strangers_failures(client, lead, settings):
    settings.SIGNIN_FAILURES_PER_USERNAME = 6
    for n in range(5):
        sign_in(client, "lead", "guess", f"203.0.113.{n}")
    # The colleague's right password is not a failure: it counts for nothing afterwards.
    for _ in range(3):
        assert sign_in(client, "lead", PASSWORD, "10.0.0.9").status_code == 302
        client.logout()
        client.cookies.clear()
    # The strangers' five are still counted: one more, and new browsers slow down.
    sign_in(client, "lead", "guess", "203.0.113.50")
    assert sign_in(client, "lead", "guess", "203.0.113.51").status_code == 429


def test_an_unlock_is_shared_by_every_process_on_either_backend(client, lead, settings, backend):
    settings.SIGNIN_FAILURES_PER_USERNAME = 3
    for n in range(3):
        sign_in(client, "lead", "guess", f"203.0.113.{n}")
    assert sign_in(client, "lead", PASSWORD, "10.0.0.9").status_code == 429
    assert not throttle.is_unlocked(throttle.Attempt.of(_posted("LEAD")).user)
    throttle.unlock("Lead")  # as Django signs in with it, whatever the case
    assert throttle.is_unlocked(throttle.Attempt.of(_posted("lead")).user)
    assert sign_in(client, "lead", PASSWORD, "10.0.0.9").status_code == 302


def _posted(username):
    from django.test import RequestFactory

    return RequestFactory().post("/", {"username": username}, REMOTE_ADDR="10.0.0.1")
