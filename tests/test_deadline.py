"""One deadline per store call, against a real store on 127.0.0.1 that trickles, or breaks off,
its answer. `responses` cannot play these faults: they happen between socket reads."""

import json
import ssl
import subprocess
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from dashboard import store
from tests.conftest import TEST_TOKEN, first_page

DEADLINE = 1.5
DRIP = 0.5  # seconds between the bytes of a trickled answer
# A trickling store gives up after this long whatever the dashboard does, so a dashboard
# without a deadline fails these tests in seconds, not in the minutes a whole page would take.
GIVE_UP = 6.0
# A call cut off at its deadline ends well before the store gives up; one without a deadline
# ends after it. The margin between is for a loaded machine: how close to the deadline a call
# ends is a figure of `make bench` (the `timeout` fault).
CUT_OFF_BY = GIVE_UP - 1.5

PAGE = json.dumps(
    {
        "next": None,
        "previous": None,
        "results": [{"id": n, "subject": f"Order {n} has not arrived"} for n in range(1, 41)],
    }
).encode()
EMPTY_PAGE = b'{"next": null, "previous": null, "results": []}'


def head(body_length, padding=b""):
    return (
        b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
        + padding
        + b"Content-Length: %d\r\n\r\n" % body_length
    )


def drip(handler, data):
    """Send `data` a byte at a time; False, with the connection to be closed, if the dashboard
    hung up or we gave up first."""
    give_up_at = time.monotonic() + GIVE_UP
    for byte in data:
        if handler.server.stopping.wait(DRIP) or time.monotonic() > give_up_at:
            break
        try:
            handler.wfile.write(bytes([byte]))
        except OSError:
            break
    else:
        return True
    handler.close_connection = True
    return False


def whole(handler, body=PAGE):
    handler.wfile.write(head(len(body)) + body)


def trickled_body(handler):
    handler.wfile.write(head(len(PAGE)))
    drip(handler, PAGE)


def trickled_headers(handler):
    if drip(handler, head(len(PAGE), padding=b"X-Request-Id: " + b"7" * 64 + b"\r\n")):
        handler.wfile.write(PAGE)


def broken_off(handler):
    handler.wfile.write(head(len(PAGE)) + PAGE[: len(PAGE) // 2])
    handler.close_connection = True


class _Store(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as a real store speaks
    timeout = 5  # an idle kept-alive connection ends, and its thread with it

    def setup(self):
        super().setup()
        self.server.connections.append(self.client_address)

    def do_GET(self):
        self.server.requests.append(self.path)
        self.server.answer(self)

    def log_message(self, format, *args):
        pass


@pytest.fixture(scope="session")
def certificate(tmp_path_factory):
    """A throwaway self-signed certificate for 127.0.0.1, as (cert, key) paths."""
    folder = tmp_path_factory.mktemp("tls")
    cert, key = folder / "cert.pem", folder / "key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1"]
        + ["-nodes", "-days", "1", "-subj", "/CN=127.0.0.1"]
        + ["-addext", "subjectAltName=IP:127.0.0.1", "-keyout", key, "-out", cert],
        check=True,
        capture_output=True,
    )
    return cert, key


@pytest.fixture(params=["http"])
def local_store(request, settings, sleeps, monkeypatch):
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Store)
    server.daemon_threads = True
    if request.param == "https":
        cert, key = request.getfixturevalue("certificate")
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(cert, key)
        server.socket = context.wrap_socket(server.socket, server_side=True)
        # requests lets a CA bundle in the environment win over a session's own `verify`.
        monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(cert))
        monkeypatch.delenv("CURL_CA_BUNDLE", raising=False)
    server.requests, server.connections, server.answer = [], [], whole
    server.stopping = threading.Event()
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    settings.NEXT_API_BASE_URL = f"{request.param}://127.0.0.1:{server.server_port}/api/admin/"
    settings.NEXT_API_TOKEN = TEST_TOKEN
    settings.NEXT_API_READ_TIMEOUT = DEADLINE
    settings.STORE_RATE_LIMIT = 0
    yield server
    server.stopping.set()
    store.transport.session().close()  # no kept-alive connection to this server outlives the test
    server.shutdown()
    server.server_close()
    thread.join()


@pytest.mark.parametrize(
    ("local_store", "answer"),
    [("http", trickled_body), ("https", trickled_body), ("http", trickled_headers)],
    indirect=["local_store"],
    ids=["body", "body-over-tls", "headers"],
)
def test_a_trickling_store_times_out_at_the_deadline_without_a_retry(local_store, answer):
    local_store.answer = answer
    started = time.monotonic()

    with pytest.raises(store.StoreTimeout):
        first_page()

    assert DEADLINE <= time.monotonic() - started < CUT_OFF_BY
    assert len(local_store.requests) == 1


def test_an_answer_broken_off_midway_is_reported_and_not_retried(local_store, sleeps):
    local_store.answer = broken_off

    with pytest.raises(store.TicketsAPIError) as raised:
        first_page()

    assert isinstance(raised.value, store.StoreUnavailable)
    assert raised.value.http_status == 503
    assert len(local_store.requests) == 1
    assert sleeps == []


@pytest.mark.parametrize("local_store", ["http", "https"], indirect=True)
def test_a_store_answering_in_time_is_read_over_one_kept_alive_connection(local_store):
    for status in ("new", "open", "pending"):
        assert len(first_page(status=(status,)).tickets) == 40
    assert len(local_store.requests) == 3
    assert len(local_store.connections) == 1


def test_after_a_timeout_the_next_call_reads_a_whole_answer_on_a_new_connection(local_store):
    local_store.answer = trickled_body
    with pytest.raises(store.StoreTimeout):
        first_page(status=("new",))

    local_store.answer = whole
    assert len(first_page(status=("open",)).tickets) == 40
    assert len(local_store.connections) == 2  # the half-read one was not handed out again


def test_the_deadline_holds_through_a_proxy_from_the_environment(local_store, monkeypatch):
    """The local store plays the proxy too: it is asked for the store's absolute URL."""
    local_store.answer = trickled_body
    monkeypatch.setenv("HTTP_PROXY", f"http://127.0.0.1:{local_store.server_port}")
    for name in ("NO_PROXY", "no_proxy", "http_proxy"):
        monkeypatch.delenv(name, raising=False)
    started = time.monotonic()

    with pytest.raises(store.StoreTimeout):
        first_page()

    assert DEADLINE <= time.monotonic() - started < CUT_OFF_BY
    assert local_store.requests == [
        f"http://127.0.0.1:{local_store.server_port}/api/admin/tickets/"
    ]


def test_a_person_hears_the_store_took_too_long_within_the_deadline(local_store, signed_in):
    local_store.answer = lambda handler: (
        trickled_body(handler) if "/tickets/" in handler.path else whole(handler, EMPTY_PAGE)
    )
    started = time.monotonic()

    response = signed_in.get("/?status=open")

    assert DEADLINE <= time.monotonic() - started < CUT_OFF_BY
    assert response.status_code == 504
    assert "took too long" in response.content.decode()
