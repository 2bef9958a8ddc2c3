"""One OpenAI-compatible ``POST {url}/embeddings`` request, with retries, in one clear line when it fails.

Transient failures (429, 5xx, timeouts, dropped connections) are retried with
exponential backoff and full jitter, honouring ``Retry-After``; a batch the
server rejects as too large (413, or a 400/422 answer to several texts) is
split in halves, which also isolates a single text the server cannot embed.
Failures no retry can fix (refused connection on the first call, TLS, 401,
404, an answer that is not an embeddings answer) raise
:class:`~coderag.errors.EmbedderUnavailable` at once.

The API key is read from the environment at each request and never appears in
a message: every error text goes through :func:`redact`.
"""
from __future__ import annotations

import email.utils
import json
import random
import threading
import time
from dataclasses import dataclass
from typing import Any
from typing import Sequence
from urllib.parse import urlsplit
from urllib.parse import urlunsplit

from coderag.errors import EmbedderUnavailable

RETRY_STATUSES = frozenset({408, 409, 425, 429, 500, 502, 503, 504, 520, 521, 522, 523, 524, 529})
SPLIT_STATUSES = frozenset({400, 413, 422})
BACKOFF_BASE_SECONDS = 0.25
BACKOFF_CAP_SECONDS = 20.0
RETRY_AFTER_CAP_SECONDS = 60.0


def public_url(url: str) -> str:
    """The URL without user, password, query or fragment: what may be shown or recorded."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    if parts.port:
        host = f"{host}:{parts.port}"
    return urlunsplit((parts.scheme, host, parts.path.rstrip("/"), "", ""))


@dataclass
class Answer:
    """The vectors of one request, in input order, with what the server said about them."""

    vectors: Any
    """A float32 matrix, a row per text."""
    model: str
    tokens: int


class RequestFailed(Exception):
    """A request that kept failing after its retries (the texts it carried are left for the next update)."""


class ServiceClient:
    """Sends embedding requests to one server; thread-safe (one ``httpx.Client`` per process)."""

    def __init__(self, url: str, model: str, api_key_env: str = "", timeout: float = 120.0, retries: int = 6,
                 dimensions: int = 0) -> None:
        self.url = url.rstrip("/")
        self.endpoint = self.url + "/embeddings"
        self.shown = public_url(self.url)
        self.model = model
        self.api_key_env = api_key_env
        self.timeout = timeout
        self.retries = retries
        self.dimensions = dimensions
        self.answered = False
        """True once the server answered: a refused connection is then a restart worth retrying."""
        self._client = None
        self._client_pid = 0
        self.retried = 0
        self.cancelled = False
        """Set by :meth:`cancel`: no new attempt starts, and a wait to retry ends at once."""
        self._wake = threading.Event()

    def __getstate__(self) -> dict:
        state = dict(self.__dict__)
        state["_client"] = None  # sockets do not cross processes
        state["_wake"] = None
        return state

    def __setstate__(self, state: dict) -> None:
        self.__dict__.update(state)
        self._wake = threading.Event()

    def cancel(self, cancelled: bool = True) -> None:
        """Stop retrying (an interrupted update must not wait out backoffs); ``False`` allows requests again."""
        self.cancelled = cancelled
        if cancelled:
            self._wake.set()
        else:
            self._wake.clear()

    # -- the key ---------------------------------------------------------------------
    def _key(self) -> str:
        import os

        if not self.api_key_env:
            return ""
        key = os.environ.get(self.api_key_env, "")
        if not key:
            raise EmbedderUnavailable(f"coderag.embedder.api-key-env names {self.api_key_env}, which is not set "
                                      "in the environment")
        return key

    def redact(self, text: str) -> str:
        """``text`` with the API key and any credentials in the URL removed, on one line."""
        import os

        key = os.environ.get(self.api_key_env, "") if self.api_key_env else ""
        if key:
            text = text.replace(key, "***")
        text = text.replace(self.url, self.shown)
        return " ".join(text.split())[:300]

    # -- one request -------------------------------------------------------------------
    def _http(self):
        import os

        import httpx

        if self._client is None or self._client_pid != os.getpid():
            # A client inherited through fork shares the parent's sockets: make our own.
            self._client = httpx.Client(timeout=httpx.Timeout(self.timeout, connect=min(10.0, self.timeout)))
            self._client_pid = os.getpid()
        return self._client

    def embed(self, texts: Sequence[str], slot=None) -> Answer:
        """Embed ``texts`` in one request (retried); raise :class:`RequestFailed` after the retry budget.

        ``slot`` (a semaphore) is held while a request is on the wire, never while waiting to retry,
        so a rate-limited request does not keep others from running.
        """
        import contextlib

        import httpx

        slot = slot if slot is not None else contextlib.nullcontext()

        body: dict[str, Any] = {"model": self.model, "input": list(texts)}
        if self.dimensions:
            body["dimensions"] = self.dimensions
        headers = {"Content-Type": "application/json"}
        key = self._key()
        if key:
            headers["Authorization"] = f"Bearer {key}"
        last = ""
        for attempt in range(self.retries + 1):
            if self.cancelled:
                raise RequestFailed("cancelled: the update was interrupted")
            if attempt:
                self.retried += 1
            try:
                with slot:
                    response = self._http().post(self.endpoint, content=json.dumps(body), headers=headers)
            except httpx.ConnectError as exc:
                message = self.redact(str(exc) or type(exc).__name__)
                if "ssl" in message.lower() or "certificate" in message.lower():
                    raise EmbedderUnavailable(f"TLS error talking to the embedding server {self.shown}: "
                                              f"{message}") from None
                if not self.answered:
                    raise EmbedderUnavailable(f"cannot reach the embedding server {self.shown}: {message}") from None
                last, wait = f"connection failed ({message})", None
            except httpx.TimeoutException:
                last, wait = f"no answer within {self.timeout:g} s", None
            except httpx.TransportError as exc:  # dropped connection, reset, protocol error
                last, wait = f"connection dropped ({self.redact(str(exc) or type(exc).__name__)})", None
            else:
                status = response.status_code
                if status == 200:
                    self.answered = True
                    return self._parse(response, len(texts))
                self.answered = True
                detail = self._error_detail(response)
                if status in (401, 403):
                    raise EmbedderUnavailable(f"the embedding server {self.shown} refused the request ({status}"
                                              f"{': ' + detail if detail else ''}); check the key in the variable "
                                              "named by coderag.embedder.api-key-env")
                if status in (404, 405):
                    raise EmbedderUnavailable(f"no embeddings endpoint at {self.shown}/embeddings ({status}); "
                                              "coderag.embedder.url should be the API base, e.g. "
                                              "http://127.0.0.1:11434/v1")
                if status in SPLIT_STATUSES:
                    raise BatchRejected(status, detail)
                if status not in RETRY_STATUSES:
                    raise RequestFailed(f"the embedding server answered {status}{': ' + detail if detail else ''}")
                last, wait = f"{status}{': ' + detail if detail else ''}", retry_after(response)
            if attempt < self.retries:
                self._wake.wait(wait if wait is not None else backoff(attempt))
        raise RequestFailed(f"the embedding server kept failing after {self.retries + 1} attempts: {last}")

    def _error_detail(self, response) -> str:
        text = response.text[:2000]
        if "<html" in text.lower():
            return "an HTML error page"
        try:
            error = json.loads(text).get("error")
            text = error.get("message", "") if isinstance(error, dict) else str(error or text)
        except (ValueError, AttributeError):
            pass
        return self.redact(text)[:200]

    def _parse(self, response, count: int) -> Answer:
        try:
            payload = response.json()
        except ValueError:
            kind = "an HTML page" if "<html" in response.text[:2000].lower() else "text that is not JSON"
            raise EmbedderUnavailable(f"the embedding server {self.shown} answered with {kind}, not an embeddings "
                                      "answer (is coderag.embedder.url the API base, ending in /v1?)") from None
        try:
            data = sorted(payload["data"], key=lambda d: d.get("index", 0))
            vectors = [d["embedding"] for d in data]
        except (KeyError, TypeError, AttributeError):
            raise EmbedderUnavailable(f"the embedding server {self.shown} answered JSON without "
                                      "data[].embedding: not an OpenAI-compatible embeddings answer") from None
        if len(vectors) != count:
            raise EmbedderUnavailable(f"the embedding server {self.shown} returned {len(vectors)} vectors "
                                      f"for {count} texts")
        array = self._as_matrix(vectors)
        usage = payload.get("usage") if isinstance(payload, dict) else None
        tokens = int(usage.get("prompt_tokens") or usage.get("total_tokens") or 0) if isinstance(usage, dict) else 0
        return Answer(array, str(payload.get("model") or ""), tokens)

    def _as_matrix(self, vectors: list):
        """The answer's vectors as one float32 matrix, checked in C rather than number by number.

        A vector per element in Python cost ~1 ms per 64 x 256 answer, on the thread that
        also writes the stores.
        """
        import numpy as np

        not_numbers = (f"the embedding server {self.shown} returned an embedding that is not a list of "
                       "numbers (base64 answers are not supported)")
        if not all(isinstance(vector, list) and vector for vector in vectors):
            raise EmbedderUnavailable(not_numbers)
        try:
            array = np.array(vectors)  # no dtype: strings or nulls must not be converted
        except ValueError:  # rows of different lengths
            raise EmbedderUnavailable(f"the embedding server {self.shown} returned vectors of different sizes "
                                      "in one answer") from None
        if array.ndim != 2 or array.dtype.kind not in "fiub":
            raise EmbedderUnavailable(f"the embedding server {self.shown} returned a vector with NaN, infinite "
                                      "or non-numeric values" if array.ndim == 2 else not_numbers)
        array = array.astype(np.float32)
        if not np.isfinite(array).all():
            raise EmbedderUnavailable(f"the embedding server {self.shown} returned a vector with NaN, "
                                      "infinite or non-numeric values")
        return array


class BatchRejected(Exception):
    """The server rejected this batch (too large, or a text it cannot take): split it."""

    def __init__(self, status: int, detail: str) -> None:
        super().__init__(f"the embedding server answered {status}{': ' + detail if detail else ''}")
        self.status = status


def retry_after(response) -> float | None:
    """Seconds to wait from a ``Retry-After`` header (seconds or an HTTP date), capped; None if absent."""
    value = response.headers.get("retry-after")
    if not value:
        return None
    try:
        seconds = float(value)
    except ValueError:
        try:
            seconds = email.utils.parsedate_to_datetime(value).timestamp() - time.time()
        except (TypeError, ValueError):
            return None
    return min(max(seconds, 0.0), RETRY_AFTER_CAP_SECONDS)


def backoff(attempt: int) -> float:
    """Full-jitter exponential backoff: uniform in [0, min(cap, base * 2**attempt)]."""
    return random.uniform(0.0, min(BACKOFF_CAP_SECONDS, BACKOFF_BASE_SECONDS * 2 ** attempt))
