"""Small stdlib HTTP server plumbing shared by the sandbox and the local API."""

from __future__ import annotations

import json
import sys
import threading
from collections.abc import Iterable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, ClassVar, Self


class LocalHTTPServer(ThreadingHTTPServer):
    """Threading HTTP server that can be quiet and ignores clients that went away."""

    daemon_threads = True
    allow_reuse_address = True
    # listen() backlog; socketserver's default of 5 refuses bursts of concurrent clients.
    request_queue_size = 128

    def __init__(
        self, address: tuple[str, int], handler: type[BaseHTTPRequestHandler], quiet: bool
    ) -> None:
        """Bind address (port 0 = free port)."""
        super().__init__(address, handler)
        self.quiet = quiet

    def handle_error(self, request: Any, client_address: Any) -> None:
        """Print unexpected errors; a client closing its connection is not one."""
        if isinstance(sys.exc_info()[1], ConnectionError):
            return
        super().handle_error(request, client_address)


class QuietHandler(BaseHTTPRequestHandler):
    """Request handler with HTTP/1.1 keep-alive and an optional access log."""

    protocol_version = "HTTP/1.1"
    # Headers and body go out as separate writes; without TCP_NODELAY, Nagle plus the
    # client's delayed ACK adds ~40 ms to every keep-alive response.
    disable_nagle_algorithm = True
    server: LocalHTTPServer
    # The HTTP methods a subclass answers, all through dispatch(); others get 501.
    methods: ClassVar[tuple[str, ...]] = ()

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        for method in cls.methods:
            setattr(cls, f"do_{method}", QuietHandler._dispatch_any)

    def _dispatch_any(self) -> None:
        self.dispatch()

    def dispatch(self) -> None:
        """Answer one request (any method in ``methods``)."""
        raise NotImplementedError

    def log_message(self, format: str, *args: Any) -> None:
        """Access log on stderr unless the server is quiet."""
        if not self.server.quiet:
            super().log_message(format, *args)

    def read_body(self) -> bytes:
        """The request body (Content-Length or chunked)."""
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            chunks: list[bytes] = []
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass
                    return b"".join(chunks)
                chunks.append(self.rfile.read(size))
                self.rfile.readline()
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length > 0 else b""

    def send_body(self, status: int, body: bytes, headers: Iterable[tuple[str, str]] = ()) -> None:
        """Send a complete response; a vanished client is ignored."""
        try:
            self.send_response(status)
            has_type = False
            for name, value in headers:
                if name.lower() in ("content-length", "connection", "transfer-encoding"):
                    continue
                has_type = has_type or name.lower() == "content-type"
                self.send_header(name, value)
            if not has_type and body:
                self.send_header("Content-Type", "application/octet-stream")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(body)
            self.wfile.flush()
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True

    def send_json(self, status: int, payload: Any, headers: Iterable[tuple[str, str]] = ()) -> None:
        """Send payload as a JSON response."""
        body = json.dumps(payload).encode("utf-8")
        self.send_body(status, body, [("Content-Type", "application/json"), *headers])


class ServerThread:
    """Runs a LocalHTTPServer's serve_forever in a daemon thread."""

    def __init__(self, server: LocalHTTPServer, name: str) -> None:
        """Wrap an already bound server."""
        self.server = server
        self._thread = threading.Thread(target=server.serve_forever, name=name, daemon=True)

    @property
    def port(self) -> int:
        """The bound port."""
        return int(self.server.server_address[1])

    @property
    def host(self) -> str:
        """The bound host."""
        return str(self.server.server_address[0])

    @property
    def url(self) -> str:
        """http://host:port."""
        return f"http://{self.host}:{self.port}"

    def start(self) -> None:
        """Start serving."""
        self._thread.start()

    def stop(self) -> None:
        """Stop serving and close the socket."""
        if self._thread.is_alive():
            self.server.shutdown()
            self._thread.join(timeout=5)
        self.server.server_close()


class BackgroundServer:
    """A server served by a ServerThread (``self._thread``): url, port, start(), stop()."""

    _thread: ServerThread

    @property
    def url(self) -> str:
        """http://host:port."""
        return self._thread.url

    @property
    def port(self) -> int:
        """The bound port."""
        return self._thread.port

    def start(self) -> Self:
        """Start serving in a background thread."""
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving."""
        self._thread.stop()
