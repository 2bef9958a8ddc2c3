"""The builtin ``openai`` embedder: any OpenAI-compatible ``/embeddings`` server.

Ollama, vLLM, text-embeddings-inference, llama.cpp's server, LM Studio or a
hosted API.  Texts are cut into requests by a text count and a character
budget; up to ``in_flight`` requests run at once, counted across all the
update's threads and processes (a semaphore forked workers would share), so
the server sees the configured concurrency.  An index update embeds in its
writer process and packs the texts of all batches into full requests
(``request_size``; see :mod:`coderag.indexing.request_packer`).

The vector size and the model the server names are learnt from its first
answer, recorded in the index (:meth:`OpenAIEmbedder.index_meta`) and checked
on every answer after that: a server that starts answering with another model
or size raises :class:`~coderag.errors.EmbedderChanged`, and the update
rebuilds instead of mixing vectors.  An index that already records them is
resumed without asking the server anything (:meth:`OpenAIEmbedder.resume`), so an
update whose texts are all in the embedding cache makes no request at all.
"""
from __future__ import annotations

import threading
from typing import Sequence

import numpy as np

from coderag.embedding.service_client import RequestFailed
from coderag.embedding.service_client import ServiceClient
from coderag.embedding.service_client import BatchRejected
from coderag.errors import ConfigError
from coderag.errors import EmbedderChanged
from coderag.errors import PartialEmbedding

PROBE_TEXT = "def probe(): return 'coderag'"
"""Embedded once when the vector size is not known yet (a first build)."""


class OpenAIEmbedder:
    """Embeds through an OpenAI-compatible embeddings API.

    :param url: the API base, e.g. ``http://127.0.0.1:11434/v1`` (``/embeddings`` is appended).
    :param model: the model name the server knows.
    :param api_key_env: the environment variable holding the API key (never the key itself).
    :param batch_size: at most this many texts per request.
    :param batch_chars: at most this many characters per request (a single longer text goes alone).
    :param max_input_chars: texts are cut to this many characters (servers reject over-long inputs).
    :param in_flight: requests at once, over all the update's threads and processes.
    :param timeout: seconds to wait for one answer.
    :param retries: retries of one request (429, 5xx, timeouts, dropped connections) before its
        texts' files are recorded as errors for the next update.
    :param dimensions: ask for vectors of this size (models that support it); 0 for the model's own.
    """

    def __init__(self, url: str = "", model: str = "", api_key_env: str = "", batch_size: int = 64,
                 batch_chars: int = 200_000, max_input_chars: int = 8000, in_flight: int = 4,
                 timeout: float = 120.0, retries: int = 6, dimensions: int = 0, **unknown) -> None:
        if "api_key" in unknown:
            raise ConfigError("do not put an API key in git config: put it in an environment variable and set "
                              "coderag.embedder.api-key-env to the variable's name")
        if unknown:
            names = ", ".join(f"coderag.embedder.{k.replace('_', '-')}" for k in sorted(unknown))
            raise ConfigError(f"the openai embedder has no option {names}")
        import importlib.util

        if importlib.util.find_spec("httpx") is None:
            raise ConfigError("the openai embedder needs httpx: pip install \"coderag[openai]\"")
        if not url or not str(url).startswith(("http://", "https://")):
            raise ConfigError("the openai embedder needs coderag.embedder.url, the API base "
                              "(e.g. http://127.0.0.1:11434/v1)")
        if not model:
            raise ConfigError("the openai embedder needs coderag.embedder.model, the model name the server knows")
        for name, value in (("batch-size", batch_size), ("batch-chars", batch_chars),
                            ("max-input-chars", max_input_chars), ("in-flight", in_flight)):
            if int(value) < 1:
                raise ConfigError(f"coderag.embedder.{name} must be at least 1, not {value}")
        self.client = ServiceClient(str(url), str(model), str(api_key_env), float(timeout), int(retries),
                                    int(dimensions))
        self.batch_size = int(batch_size)
        self.batch_chars = int(batch_chars)
        self.max_input_chars = int(max_input_chars)
        self.in_flight = int(in_flight)
        shape = f",dimensions={dimensions}" if dimensions else ""
        if self.max_input_chars != 8000:
            shape += f",max_input_chars={self.max_input_chars}"
        self.model_id = f"openai:{model}@{self.client.shown}{shape}"
        self._dim = 0
        self.served_model = ""
        self._lock = threading.Lock()
        self._stats = {"requests": 0, "retries": 0, "tokens": 0, "chars": 0}
        self._slots = _shared_slots(self.in_flight)

    def cancel_requests(self, cancelled: bool = True) -> None:
        """Stop (or allow again) retries in this process: an interrupted update ends promptly."""
        self.client.cancel(cancelled)

    @property
    def request_size(self) -> int:
        """Texts per request: the update packs texts of many batches into requests this full."""
        return self.batch_size

    def __getstate__(self) -> dict:
        state = dict(self.__dict__)
        state["_lock"] = None
        return state

    def __setstate__(self, state: dict) -> None:
        self.__dict__.update(state)
        self._lock = threading.Lock()

    # -- identity ------------------------------------------------------------------------
    @property
    def dim(self) -> int:
        if not self._dim:
            self._answer([PROBE_TEXT])  # learns the size and the served model from the answer
        return self._dim

    def resume(self, meta: dict[str, str]) -> None:
        """Take the vector size and served model an index recorded, instead of asking the server."""
        if meta.get("embedder") == self.model_id and meta.get("dim", "").isdigit():
            self._dim = int(meta["dim"])
            self.served_model = meta.get("embedder_served", "")

    def index_meta(self) -> dict[str, str]:
        """What the index records beside ``model_id``: the model name the server answered with."""
        return {"embedder_served": self.served_model}

    def service_stats(self) -> dict[str, int]:
        """Requests made, retries, tokens the server counted and characters sent, by this process."""
        with self._lock:
            return {**self._stats, "retries": self.client.retried}

    def requests_in_flight(self) -> int:
        """Requests running now in all the update's processes (Linux; 0 where unknown)."""
        try:
            return self.in_flight - self._slots.get_value()
        except (NotImplementedError, AttributeError):
            return 0

    # -- embedding -------------------------------------------------------------------------
    def embed_documents(self, texts: Sequence[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        texts = [t[:self.max_input_chars] if t.strip() else "." for t in texts]
        groups = self._requests(texts)
        results: list = [None] * len(groups)
        if len(groups) == 1 or self.in_flight == 1:
            for i, group in enumerate(groups):
                results[i] = self._embed_group(texts, group)
        else:
            from concurrent.futures import ThreadPoolExecutor

            with ThreadPoolExecutor(max_workers=min(self.in_flight, len(groups))) as pool:
                for i, result in enumerate(pool.map(lambda g: self._embed_group(texts, g), groups)):
                    results[i] = result
        dim = self.dim
        out = np.zeros((len(texts), dim), dtype=np.float32)
        failed: set[int] = set()
        reasons: list[str] = []
        for group, (vectors, bad, reason) in zip(groups, results):
            for j, index in enumerate(group):
                if index in bad or vectors is None:
                    failed.add(index)
                else:
                    out[index] = vectors[j]
            if reason:
                reasons.append(reason)
        if failed:
            raise PartialEmbedding(reasons[0], out, frozenset(failed))
        return out

    def embed_query(self, text: str) -> np.ndarray:
        return self.embed_documents([text])[0]

    def _requests(self, texts: list[str]) -> list[list[int]]:
        """Indexes of ``texts`` cut into requests by count and character budget, in order."""
        groups: list[list[int]] = []
        current: list[int] = []
        chars = 0
        for i, text in enumerate(texts):
            if current and (len(current) >= self.batch_size or chars + len(text) > self.batch_chars):
                groups.append(current)
                current, chars = [], 0
            current.append(i)
            chars += len(text)
        if current:
            groups.append(current)
        return groups

    def _embed_group(self, texts: list[str], group: list[int]) -> tuple[np.ndarray | None, set[int], str]:
        """``(vectors or None, indexes of the texts that failed, reason)`` for one request's texts.

        A batch the server rejects is split in halves until the texts it cannot take stand alone.
        """
        try:
            return self._answer([texts[i] for i in group]), set(), ""
        except RequestFailed as exc:
            return None, set(group), str(exc)
        except BatchRejected as exc:
            if len(group) == 1:
                return None, set(group), str(exc)
        half = len(group) // 2
        parts = [(part, self._embed_group(texts, part)) for part in (group[:half], group[half:])]
        vectors = np.zeros((len(group), self._dim or 1), dtype=np.float32)
        for offset, (part, (part_vectors, _, _)) in zip((0, half), parts):
            if part_vectors is not None:
                vectors[offset:offset + len(part)] = part_vectors
        failed = parts[0][1][1] | parts[1][1][1]
        return vectors, failed, parts[0][1][2] or parts[1][1][2]

    def _answer(self, batch: list[str]) -> np.ndarray:
        """One request under a shared slot: unit vectors, checked against the recorded identity."""
        answer = self.client.embed(batch, self._slots)
        vectors = np.asarray(answer.vectors, dtype=np.float32)
        with self._lock:
            self._stats["requests"] += 1
            self._stats["tokens"] += answer.tokens
            self._stats["chars"] += sum(len(t) for t in batch)
            if vectors.ndim != 2:
                raise EmbedderChanged(f"the embedding server {self.client.shown} returned vectors of different "
                                      "sizes in one answer")
            if not self._dim:
                self._dim, self.served_model = vectors.shape[1], answer.model
            elif vectors.shape[1] != self._dim:
                raise EmbedderChanged(f"the embedding server {self.client.shown} now answers with "
                                      f"{vectors.shape[1]}-d vectors, the index holds {self._dim}-d ones")
            elif self.served_model and answer.model and answer.model != self.served_model:
                raise EmbedderChanged(f"the embedding server {self.client.shown} now answers with model "
                                      f"{answer.model}, the index was built with {self.served_model}")
            elif answer.model and not self.served_model:
                self.served_model = answer.model
        norms = np.linalg.norm(vectors, axis=1, keepdims=True)
        norms[norms == 0] = 1.0
        return vectors / norms


def _shared_slots(count: int):
    """A semaphore forked worker processes share (created before the pool forks), else a thread one."""
    import multiprocessing

    try:
        return multiprocessing.get_context("fork").BoundedSemaphore(count)
    except (ValueError, OSError, ImportError):  # no fork or no POSIX semaphores: limit per process
        return threading.BoundedSemaphore(count)
