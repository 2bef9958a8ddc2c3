"""A real OpenAI-compatible embeddings server on 127.0.0.1, for tests and benchmarks.

It answers ``POST /v1/embeddings`` with deterministic vectors (hashed word
features, so texts sharing words get similar vectors and search works), and
can be told to behave like the services coderag meets: slow answers, a cap on
requests served at once, rate limits with ``Retry-After``, server errors,
dropped connections, and each kind of bad answer.  It records every request.

    with EmbeddingServer(dim=64, delay=0.05, max_concurrent=8) as server:
        git config coderag.embedder.url  -> server.url
        ...
        server.requests   # [RequestRecord(size=64, ...), ...]
"""
from __future__ import annotations

import json
import random
import re
import socket
import threading
import time
import zlib
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler
from http.server import ThreadingHTTPServer

FAULTS = ("429", "500", "drop", "html", "not_json", "no_data", "wrong_count", "nan", "wrong_dim", "401", "413",
          "ragged", "strings")


@dataclass
class RequestRecord:
    size: int
    chars: int
    started: float
    answered: str
    """``"200"`` or the fault served."""


class EmbeddingServer:
    """The server; use as a context manager (it serves from a background thread).

    :param dim: vector size.
    :param delay: seconds added to every request (a model's compute time).
    :param max_concurrent: requests processed at once; more wait (like a GPU server's queue).
    :param model: the model name answers carry.
    :param api_key: when set, requests must carry ``Authorization: Bearer <api_key>``.
    :param fault_rate: share of requests answered with ``fault`` instead (seeded, reproducible).
    :param retry_after: the ``Retry-After`` seconds of a 429.
    :param max_batch: a request with more texts gets a 413.

    ``reject_text``: a request holding a text that contains this string gets a 413 (a text the
    server cannot take), however the client splits it.
    """

    def __init__(self, dim: int = 32, delay: float = 0.0, max_concurrent: int = 64, model: str = "fake-embed",
                 api_key: str = "", fault: str = "", fault_rate: float = 0.0, retry_after: float = 0.1,
                 max_batch: int = 0, seed: int = 0) -> None:
        self.dim = dim
        self.delay = delay
        self.model = model
        self.api_key = api_key
        self.fault = fault
        self.fault_rate = fault_rate
        self.retry_after = retry_after
        self.max_batch = max_batch
        self.reject_text: str | None = None
        self.fail_next: list[str] = []
        """Faults served to the next requests, first first (``"ok"`` for a normal answer); then
        ``fault``/``fault_rate`` apply."""
        self.requests: list[RequestRecord] = []
        self.max_seen_concurrent = 0
        self._random = random.Random(seed)
        self._lock = threading.Lock()
        self._active = 0
        self._slots = threading.BoundedSemaphore(max_concurrent)
        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._httpd.daemon_threads = True
        self._thread = threading.Thread(target=self._httpd.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        """The API base to configure as ``coderag.embedder.url``."""
        return f"http://127.0.0.1:{self._httpd.server_address[1]}/v1"

    def __enter__(self) -> "EmbeddingServer":
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()

    def reset(self) -> None:
        with self._lock:
            self.requests.clear()
            self.max_seen_concurrent = 0

    def vector(self, text: str) -> list[float]:
        """The vector this server gives ``text`` (before normalisation)."""
        v = [0.0] * self.dim
        for word in re.findall(r"[A-Za-z]+|\d+", text.lower()):
            h = zlib.crc32(word.encode())
            v[h % self.dim] += 1.0 if (h >> 16) & 1 else -1.0
        if not any(v):
            v[0] = 1.0
        return v

    def _pick_fault(self) -> str:
        with self._lock:
            if self.fail_next:
                fault = self.fail_next.pop(0)
                return "" if fault == "ok" else fault
            if self.fault and self._random.random() < self.fault_rate:
                return self.fault
        return ""

    def _handler(self):
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args) -> None:  # quiet
                pass

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length)
                if not self.path.rstrip("/").endswith("/v1/embeddings"):
                    return self._send(404, b'{"error": {"message": "not found"}}')
                with server._slots:
                    with server._lock:
                        server._active += 1
                        server.max_seen_concurrent = max(server.max_seen_concurrent, server._active)
                    self._counted = True
                    try:
                        self._serve(body)
                    finally:
                        self._done()

            def _done(self) -> None:
                # Before the answer's bytes leave: once the client has them it may start its next
                # request, which must not be counted as running beside this one.
                if getattr(self, "_counted", False):
                    self._counted = False
                    with server._lock:
                        server._active -= 1

            def _serve(self, body: bytes) -> None:
                started = time.perf_counter()
                request = json.loads(body)
                texts = request["input"] if isinstance(request["input"], list) else [request["input"]]
                if server.delay:
                    time.sleep(server.delay)
                fault = self._auth_fault() or server._pick_fault()
                if not fault and server.max_batch and len(texts) > server.max_batch:
                    fault = "413"
                if not fault and server.reject_text and any(server.reject_text in t for t in texts):
                    fault = "413"
                with server._lock:
                    server.requests.append(RequestRecord(len(texts), sum(map(len, texts)), started, fault or "200"))
                if fault:
                    return self._fault(fault, texts)
                data = [{"object": "embedding", "index": i, "embedding": server.vector(t)}
                        for i, t in enumerate(texts)]
                self._send(200, json.dumps({"object": "list", "model": server.model, "data": data,
                                            "usage": {"prompt_tokens": sum(len(t) // 4 for t in texts)}}).encode())

            def _auth_fault(self) -> str:
                if server.api_key and self.headers.get("Authorization") != f"Bearer {server.api_key}":
                    return "401"
                return ""

            def _fault(self, fault: str, texts: list[str]) -> None:
                if fault == "429":
                    return self._send(429, b'{"error": {"message": "rate limited"}}',
                                      {"Retry-After": f"{server.retry_after:g}"})
                if fault in ("500", "401", "413"):
                    return self._send(int(fault), json.dumps({"error": {"message": f"fault {fault}"}}).encode())
                if fault == "drop":
                    self._done()
                    self.close_connection = True
                    try:
                        self.connection.shutdown(socket.SHUT_RDWR)
                    except OSError:
                        pass
                    return None
                if fault == "html":
                    return self._send(200, b"<html><body>502 Bad Gateway</body></html>", {}, "text/html")
                if fault == "not_json":
                    return self._send(200, b'{"data": [')
                if fault == "no_data":
                    return self._send(200, b'{"object": "list"}')
                vectors = [server.vector(t) for t in texts]
                if fault == "wrong_count":
                    vectors = vectors[:-1] if len(vectors) > 1 else vectors * 2
                elif fault == "nan":
                    vectors[0] = [float("nan")] * server.dim
                elif fault == "wrong_dim":
                    vectors = [v + [0.5] for v in vectors]
                elif fault == "ragged":  # one vector shorter than the others
                    vectors[0] = vectors[0][:-1]
                elif fault == "strings":  # numbers sent as JSON strings
                    vectors[0] = [str(x) for x in vectors[0]]
                data = [{"index": i, "embedding": v} for i, v in enumerate(vectors)]
                # json.dumps writes NaN, as some servers do; the client must refuse it.
                self._send(200, json.dumps({"model": server.model, "data": data}).encode())

            def _send(self, status: int, payload: bytes, headers: dict | None = None,
                      content_type: str = "application/json") -> None:
                self._done()
                self.send_response(status)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(payload)))
                for key, value in (headers or {}).items():
                    self.send_header(key, value)
                self.end_headers()
                self.wfile.write(payload)

        return Handler
