"""
A counting HTTP reverse proxy on loopback: every request it forwards to a real server is recorded (method, path),
so a test can count what a client really sent at the HTTP layer (e.g. MLflow REST calls per announcement).
"""

from __future__ import annotations

import contextlib
import http.client
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from hokusai_testkit.ports import LOOPBACK

__all__ = ["CountingProxy", "counting_proxy"]

_HOP_BY_HOP = {"connection", "keep-alive", "transfer-encoding", "te", "trailer", "upgrade", "proxy-connection"}


class CountingProxy(ThreadingHTTPServer):
    """The proxy; :attr:`requests` lists ``(method, path)`` of every forwarded request, in order."""

    daemon_threads = True
    target_port: int

    def __init__(self, target_port: int) -> None:
        super().__init__((LOOPBACK, 0), _Forward)
        self.target_port = target_port
        self.requests: list[tuple[str, str]] = []
        self._lock = threading.Lock()

    @property
    def url(self) -> str:
        """``http://127.0.0.1:<port>`` of the proxy."""
        return f"http://{LOOPBACK}:{self.server_address[1]}"

    def record(self, method: str, path: str) -> None:
        with self._lock:
            self.requests.append((method, path.split("?", 1)[0]))

    def take(self) -> list[tuple[str, str]]:
        """The requests recorded since the last call, and forget them."""
        with self._lock:
            taken, self.requests = self.requests, []
        return taken


class _Forward(BaseHTTPRequestHandler):
    server: CountingProxy
    protocol_version = "HTTP/1.1"

    def _forward(self) -> None:
        self.server.record(self.command, self.path)
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else None
        headers = {k: v for k, v in self.headers.items() if k.lower() not in _HOP_BY_HOP | {"host"}}
        upstream = http.client.HTTPConnection(LOOPBACK, self.server.target_port, timeout=60)
        try:
            upstream.request(self.command, self.path, body=body, headers=headers)
            answer = upstream.getresponse()
            payload = answer.read()
        finally:
            upstream.close()
        self.send_response(answer.status, answer.reason)
        for key, value in answer.getheaders():
            if key.lower() not in _HOP_BY_HOP | {"content-length"}:
                self.send_header(key, value)
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    do_GET = do_POST = do_PATCH = do_DELETE = do_PUT = _forward

    def log_message(self, format: str, *args: object) -> None:
        pass


@contextlib.contextmanager
def counting_proxy(target_port: int) -> Iterator[CountingProxy]:
    """Run a :class:`CountingProxy` in front of ``127.0.0.1:<target_port>`` for the duration of the block."""
    proxy = CountingProxy(target_port)
    thread = threading.Thread(target=proxy.serve_forever, daemon=True)
    thread.start()
    try:
        yield proxy
    finally:
        proxy.shutdown()
        proxy.server_close()
        thread.join(10)
