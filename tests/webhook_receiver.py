"""A webhook receiver for tests: a tiny HTTP server on a free loopback port that keeps every
POST it gets and answers with the statuses it is told to, 200 by default."""

import json
import threading
from collections import deque
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


@dataclass(frozen=True)
class Received:
    path: str
    headers: dict[str, str]  # names lower-cased
    body: bytes
    answered: int

    @property
    def payload(self) -> dict:
        return json.loads(self.body)


class Receiver:
    """`with Receiver() as receiver:` POSTs to `receiver.url` are kept in `received`.

    `answer(500, 200)` queues the statuses of the next answers; `hold()` keeps every answer
    back until `release()`; `wait_for(n)` waits until n POSTs have been answered."""

    def __init__(self):
        self.received: list[Received] = []
        self._answers: deque[int] = deque()
        self._changed = threading.Condition()
        self._released = threading.Event()
        self._released.set()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _handler_for(self))
        self._server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}/hooks/tickets/"
        self._thread = threading.Thread(
            target=self._server.serve_forever, args=(0.05,), daemon=True
        )

    def __enter__(self) -> "Receiver":
        self._thread.start()
        return self

    def __exit__(self, *exc_info) -> None:
        self._released.set()
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)

    def answer(self, *statuses: int) -> None:
        with self._changed:
            self._answers.extend(statuses)

    def hold(self) -> None:
        self._released.clear()

    def release(self) -> None:
        self._released.set()

    def wait_for(self, count: int, timeout: float = 10) -> list[Received]:
        with self._changed:
            if not self._changed.wait_for(lambda: len(self.received) >= count, timeout):
                raise AssertionError(f"{len(self.received)} deliveries, not {count}")
            return list(self.received)

    def _take(self, path: str, headers: dict, body: bytes) -> int:
        self._released.wait(30)
        with self._changed:
            status = self._answers.popleft() if self._answers else 200
            self.received.append(Received(path, headers, body, status))
            self._changed.notify_all()
            return status


def _handler_for(receiver: Receiver):
    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            headers = {name.lower(): value for name, value in self.headers.items()}
            status = receiver._take(self.path, headers, body)
            self.send_response(status)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, format: str, *args) -> None:
            pass

    return Handler
