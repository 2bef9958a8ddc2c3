"""What the MCP tools do: search, find a symbol, read a span, report status, from one warm index.

The service keeps an :class:`~coderag.index.Index` open between calls (the
index reopens by itself when another process commits a new generation), and
when HEAD has moved past the index it asks for a background update once and
answers from the previous generation meanwhile: every answer says how fresh
it is. Inputs are bounded; a bad one raises :class:`ToolInputError`, which the
server turns into an MCP tool error of one sentence.
"""
from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

from coderag.errors import CoderagError

MAX_K = 100
MAX_QUERY_CHARS = 2_000
MAX_SPAN_LINES = 500
MAX_SPAN_BYTES = 200_000
MODES = ("hybrid", "lexical", "semantic")


class ToolInputError(CoderagError):
    """A tool was called with an argument it cannot serve."""


def _check_text(value: Any, what: str, limit: int) -> str:
    if not isinstance(value, str) or not value.strip():
        raise ToolInputError(f"{what} must be a non-empty string")
    if len(value) > limit:
        raise ToolInputError(f"{what} is {len(value)} characters; at most {limit} are accepted")
    if "\x00" in value or any(ord(c) < 32 and c not in "\t\n\r" for c in value):
        raise ToolInputError(f"{what} contains control characters")
    return value


class SearchService:
    """The tools' logic for the repository at ``root`` (thread-safe: one call at a time)."""

    def __init__(self, root: str | Path = ".") -> None:
        from coderag.index import Index

        self.index = Index.open(root)
        self.repo = self.index.repo
        self._lock = threading.RLock()
        self._requested_for: str | None = None

    # ------------------------------------------------------------ freshness
    def freshness(self) -> dict[str, Any]:
        """Indexed commit, HEAD, whether the index is stale and whether an update runs."""
        from coderag.index import behind_head
        from coderag.indexing.background import background_state

        head = self.repo.resolve("HEAD")
        meta = self.index._open_reader().meta
        stale = behind_head(self.repo, meta, head)
        state = background_state(self.index.location)
        updating = bool(state["updating"] or state["pending"])
        if stale and not updating and head and self._requested_for != head:
            from coderag.indexing.background import request_update

            request_update(self.repo)
            self._requested_for = head
            updating = True
        return {"commit": meta.get("commit") or None, "head": head, "stale": stale, "updating": updating}

    # ---------------------------------------------------------------- tools
    def search(self, query: str, k: int = 10, mode: str = "hybrid", path: str | None = None,
               lang: str | None = None) -> dict[str, Any]:
        query = _check_text(query, "query", MAX_QUERY_CHARS)
        if not isinstance(k, int) or not 1 <= k <= MAX_K:
            raise ToolInputError(f"k must be an integer from 1 to {MAX_K}")
        if mode not in MODES:
            raise ToolInputError(f"mode must be one of {', '.join(MODES)}")
        path = _check_text(path, "path", 1_000) if path else None
        lang = _check_text(lang, "lang", 50) if lang else None
        with self._lock:
            hits = self.index.search(query, k=k, mode=mode, path=path, language=lang)
            return {"query": query, **self.freshness(), "results": [h.to_dict() for h in hits]}

    def find_symbol(self, name: str, k: int = 20) -> dict[str, Any]:
        """Definitions named ``name``: exact matches, then case-insensitive, then sub-token."""
        name = _check_text(name, "name", 300).strip()
        if not isinstance(k, int) or not 1 <= k <= MAX_K:
            raise ToolInputError(f"k must be an integer from 1 to {MAX_K}")
        with self._lock:
            reader = self.index._open_reader()
            rows = reader.manifest.find_symbol(name, reader.generation, k)
            return {"name": name, **self.freshness(), "definitions": rows}

    def read_span(self, path: str, start_line: int, end_line: int) -> dict[str, Any]:
        """Lines ``start_line..end_line`` (1-based, inclusive) of ``path`` at the indexed commit."""
        path = _check_text(path, "path", 1_000)
        parts = Path(path).parts
        if path.startswith(("/", "\\")) or Path(path).is_absolute() or ".." in parts or ":" in path:
            raise ToolInputError("path must be relative to the repository root, without '..'")
        if not all(isinstance(n, int) for n in (start_line, end_line)) or start_line < 1 or end_line < start_line:
            raise ToolInputError("start_line and end_line must be integers with 1 <= start_line <= end_line")
        if end_line - start_line + 1 > MAX_SPAN_LINES:
            raise ToolInputError(f"at most {MAX_SPAN_LINES} lines can be read at once")
        with self._lock:
            fresh = self.freshness()
            rev = fresh["commit"] or "HEAD"
            clean = path[2:] if path.startswith("./") else path
            listed = self.repo.git("ls-tree", "-z", rev, "--", clean, check=False).split(b"\0")[0]
            meta, _, listed_path = listed.partition(b"\t")
            if not meta or listed_path.decode("utf-8", "surrogateescape") != clean:
                raise ToolInputError(f"{path} is not a file of the indexed commit")
            mode, kind, blob = meta.decode().split()
            if kind != "blob" or mode == "120000":
                raise ToolInputError(f"{path} is a symlink, a submodule or a directory, not a file")
            data = b"".join(content for _, content in self.repo.read_blobs([blob]))
        if b"\x00" in data[:8000]:
            raise ToolInputError(f"{path} is a binary file")
        lines = data.decode("utf-8", "replace").splitlines()
        if start_line > len(lines):
            raise ToolInputError(f"{path} has {len(lines)} lines")
        text = "\n".join(lines[start_line - 1:end_line])
        truncated = len(text.encode()) > MAX_SPAN_BYTES
        if truncated:
            text = text.encode()[:MAX_SPAN_BYTES].decode("utf-8", "ignore")
        return {"path": path, "start_line": start_line, "end_line": min(end_line, len(lines)), "text": text,
                "truncated": truncated, **fresh}

    def status(self) -> dict[str, Any]:
        with self._lock:
            return {**self.index.status(), **self.freshness()}

    def close(self) -> None:
        self.index.close()
