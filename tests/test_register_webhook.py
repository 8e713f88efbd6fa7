"""`manage.py register_webhook URL`: the dashboard's receiver registered with the store
(`POST webhooks/`), its URL checked before anything is asked, the secret chosen and never
printed, and without the scope, the way to do it in the store's admin. The store's answers are
mocked with `responses`; the write itself is `store.client.send`, tested here at its border."""

import io
import json
import stat

import pytest
import requests
import responses
from django.core.management import call_command
from django.core.management.base import CommandError

from dashboard import budget
from dashboard.store import client, errors
from tests.conftest import TEST_TOKEN

SECRET = "whsec-configured-5b1e93"
TARGET = "https://support.example.com/webhooks/next/"


@pytest.fixture
def webhooks(fake_store, settings):
    settings.NEXT_WEBHOOK_SECRET = ""
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        yield mock, fake_store + "webhooks/"


def created(request):
    """The store's 201, as the spec's Webhook has it (it echoes the secret: never shown)."""
    sent = json.loads(request.body)
    return 201, {}, json.dumps({
        "id": 17, "name": sent["name"], "target": sent["target"], "events": sent["events"],
        "secret_key": sent["secret_key"], "active": True, "api_version": sent["api_version"],
        "created_at": "2026-12-01T09:00:00Z", "updated_at": "2026-12-01T09:00:00Z",
        "next_check_date": None, "warning_count": 0,
    })  # fmt: skip


def register(*args, **options):
    out, err = io.StringIO(), io.StringIO()
    call_command("register_webhook", *args, stdout=out, stderr=err, **options)
    return out.getvalue() + err.getvalue()


def test_the_receiver_is_registered_with_the_configured_secret(webhooks, settings, caplog):
    mock, url = webhooks
    settings.NEXT_WEBHOOK_SECRET = SECRET
    mock.add_callback(responses.POST, url, callback=created)

    said = register(TARGET)

    (call,) = mock.calls
    assert json.loads(call.request.body) == {
        "name": "Support dashboard",
        "target": TARGET,
        "events": ["ticket.created", "ticket.updated"],
        "secret_key": SECRET,
        "api_version": "unstable",
    }
    assert call.request.headers["Authorization"] == f"Bearer {TEST_TOKEN}"
    assert call.request.headers["X-29next-API-Version"] == "unstable"
    assert call.request.headers["Content-Type"] == "application/json"
    assert said.splitlines() == [
        f'Registered webhook 17 "Support dashboard": ticket.created and ticket.updated to '
        f"{TARGET}.",
        "Deliveries are signed with NEXT_WEBHOOK_SECRET.",
    ]
    assert SECRET not in said + caplog.text and TEST_TOKEN not in said + caplog.text


def test_without_a_secret_a_new_one_is_written_to_a_file_only_you_can_read(
    webhooks, tmp_path, caplog
):
    mock, url = webhooks
    mock.add_callback(responses.POST, url, callback=created)
    path = tmp_path / "webhook-secret"

    said = register(TARGET, "--name", "Desk", secret_file=str(path))

    secret = path.read_text().strip()
    assert len(secret) >= 40  # 32 random bytes
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert json.loads(mock.calls[0].request.body)["secret_key"] == secret
    assert json.loads(mock.calls[0].request.body)["name"] == "Desk"
    assert secret not in said + caplog.text
    assert f"The signing secret is in {path} (readable by you only)" in said
    assert f'NEXT_WEBHOOK_SECRET="$(cat {path})"' in said


def test_an_existing_secret_file_is_never_overwritten(webhooks, tmp_path):
    mock, _ = webhooks
    path = tmp_path / "webhook-secret"
    path.write_text("a secret in use\n")
    with pytest.raises(CommandError, match="exists already and is never overwritten"):
        register(TARGET, secret_file=str(path))
    assert path.read_text() == "a secret in use\n"
    assert not mock.calls


def test_with_no_secret_at_all_nothing_is_asked(webhooks):
    mock, _ = webhooks
    with pytest.raises(CommandError, match="NEXT_WEBHOOK_SECRET is not set. .* --secret-file"):
        register(TARGET)
    assert not mock.calls


@pytest.mark.parametrize(
    "url, says",
    [
        ("http://support.example.com/webhooks/next/", "is plain http: .* must be https://"),
        ("http://10.0.0.7/webhooks/next/", "is plain http"),
        ("ftp://support.example.com/", "is not an http\\(s\\) URL"),
        ("support.example.com/webhooks/next/", "is not an http\\(s\\) URL"),
        ("https:///webhooks/next/", "is not an http\\(s\\) URL"),
        ("https://support.example.com:99999/", "is not a URL"),
        ("https://ops:pw@support.example.com/", "carries a user name or password"),
        ("https://support.example.com/webhooks/next/?a=1", "takes no query"),
        ("https://support.example.com/" + "x" * 260, "longer than the store's 255"),
    ],
)
def test_a_bad_url_is_refused_before_anything_is_asked_or_written(webhooks, tmp_path, url, says):
    mock, _ = webhooks
    path = tmp_path / "webhook-secret"
    with pytest.raises(CommandError, match=says):
        register(url, secret_file=str(path))
    assert not mock.calls and not path.exists()


@pytest.mark.parametrize(
    "url, target",
    [
        ("http://127.0.0.1:8000", "http://127.0.0.1:8000/webhooks/next/"),
        ("http://[::1]:8000/", "http://[::1]:8000/webhooks/next/"),
        ("http://localhost:8000/webhooks/next/", "http://localhost:8000/webhooks/next/"),
        ("HTTPS://support.example.com/", TARGET),
    ],
)
def test_loopback_may_be_http_and_a_bare_address_gets_the_receivers_path(
    webhooks, settings, url, target
):
    mock, url_called = webhooks
    settings.NEXT_WEBHOOK_SECRET = SECRET
    mock.add_callback(responses.POST, url_called, callback=created)
    said = register(url)
    assert json.loads(mock.calls[0].request.body)["target"] == target
    assert f"to {target}." in said


def test_a_path_other_than_the_receivers_is_registered_as_given_with_a_note(webhooks, settings):
    mock, url = webhooks
    settings.NEXT_WEBHOOK_SECRET = SECRET
    mock.add_callback(responses.POST, url, callback=created)
    said = register("https://support.example.com/desk/webhooks/next/")
    assert said.startswith("Note: the dashboard receives deliveries at /webhooks/next/;")


def test_without_the_scope_it_says_how_to_add_the_webhook_in_the_stores_admin(
    webhooks, tmp_path, caplog
):
    mock, url = webhooks
    mock.post(url, status=403, json={"detail": "You do not have permission."})
    path = tmp_path / "webhook-secret"

    with pytest.raises(CommandError) as refused:
        register(TARGET, secret_file=str(path))

    said = str(refused.value)
    assert refused.value.returncode == 1
    assert said.splitlines() == [
        "The store's token may not register webhooks: it needs the webhooks:write scope. Add "
        "webhooks:write to the app in the store's Settings > API Access and run this again, "
        "or add the webhook in the store's admin yourself:",
        "  Settings > Webhooks > Add webhook",
        "  Name:            Support dashboard",
        f"  Target URL:      {TARGET}",
        "  Events:          ticket.created and ticket.updated",
        f"  Signing secret:  the contents of {path}, which NEXT_WEBHOOK_SECRET must then be set to",
    ]
    assert path.exists()  # the admin needs it now
    assert "reject" not in said.lower()
    assert path.read_text().strip() not in said + caplog.text
    assert len(mock.calls) == 1  # a write the store refused is not tried again


def test_without_the_scope_and_with_a_configured_secret(webhooks, settings):
    mock, url = webhooks
    settings.NEXT_WEBHOOK_SECRET = SECRET
    mock.post(url, status=403, json={"detail": "You do not have permission."})
    with pytest.raises(CommandError) as refused:
        register(TARGET)
    assert str(refused.value).endswith("  Signing secret:  the value of NEXT_WEBHOOK_SECRET")
    assert SECRET not in str(refused.value)


def test_a_store_that_takes_no_webhooks_through_its_api(webhooks, settings):
    mock, url = webhooks
    settings.NEXT_WEBHOOK_SECRET = SECRET
    mock.post(url, status=405, json={"detail": 'Method "POST" not allowed.'})
    with pytest.raises(CommandError) as refused:
        register(TARGET)
    assert str(refused.value).startswith(
        "The store does not take webhooks through its API. Add the webhook in the store's "
        "admin instead:\n  Settings > Webhooks > Add webhook\n"
    )


def test_a_refusal_names_the_field_and_the_new_secret_is_not_left_behind(webhooks, tmp_path):
    mock, url = webhooks
    mock.post(url, status=400, json={"target": ["Enter a valid URL."]})
    path = tmp_path / "webhook-secret"
    with pytest.raises(CommandError) as refused:
        register(TARGET, secret_file=str(path))
    assert str(refused.value) == "The store refused the webhook (400): target: Enter a valid URL."
    assert not path.exists()  # nothing was registered with it


def test_a_rejected_token_is_said_to_be_rejected(webhooks, settings):
    mock, url = webhooks
    settings.NEXT_WEBHOOK_SECRET = SECRET
    mock.post(url, status=401, json={"detail": "Invalid token."})
    with pytest.raises(CommandError, match="rejected the API token; check NEXT_API_TOKEN"):
        register(TARGET)


# -- The write at the store's border ---------------------------------------------------------


@pytest.fixture
def lanes(monkeypatch):
    """The lane each call waited for its slot in."""
    seen = []
    monkeypatch.setattr(budget, "wait_for_slot", lambda key: seen.append(budget.current_lane()))
    return seen


def test_a_429_is_retried_after_its_retry_after_since_it_was_not_processed(webhooks, sleeps, lanes):
    mock, url = webhooks
    mock.post(url, status=429, headers={"Retry-After": "2"})
    mock.post(url, status=201, json={"id": 3})
    assert client.send("POST", "webhooks/", {"name": "x"}, scope="webhooks:write") == {"id": 3}
    assert sleeps == [2.0] and len(mock.calls) == 2
    assert len(lanes) == 2  # the retry waited for its own turn


@pytest.mark.parametrize(
    "answer, error",
    [
        ({"status": 503}, errors.StoreUnavailable),
        ({"status": 502}, errors.StoreUnavailable),
        ({"body": requests.ConnectionError("reset")}, errors.StoreUnavailable),
        ({"body": requests.ReadTimeout("slow")}, errors.StoreTimeout),
        ({"status": 409, "json": {"detail": "Changed meanwhile."}}, errors.WriteRefused),
        ({"status": 200, "body": "<html>"}, errors.BadResponse),
    ],
)
def test_no_other_failure_is_retried_since_a_write_may_have_been_applied(
    webhooks, sleeps, answer, error
):
    mock, url = webhooks
    mock.post(url, **answer)
    with pytest.raises(error):
        client.send("POST", "webhooks/", {"name": "x"}, scope="webhooks:write")
    assert len(mock.calls) == 1 and not sleeps


def test_a_write_is_a_persons_call_whatever_the_callers_lane(webhooks, lanes):
    mock, url = webhooks
    mock.patch(url + "3/", status=204)
    with budget.background():
        assert client.send("PATCH", "webhooks/3/", {"active": False}, "webhooks:write") == {}
    assert lanes == [budget.INTERACTIVE]
    assert json.loads(mock.calls[0].request.body) == {"active": False}
