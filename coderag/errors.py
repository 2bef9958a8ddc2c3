"""Errors that reach the user as one clear line and a non-zero exit."""
from __future__ import annotations


class CoderagError(Exception):
    """An expected failure with a message fit to show as-is (no traceback)."""

    exit_code = 2


class NotARepository(CoderagError):
    """The path is not inside a git work tree."""


class NoIndex(CoderagError):
    """The repository has no coderag index yet."""


class IndexCorrupt(CoderagError):
    """Index files are missing, truncated or inconsistent; ``index --full`` rebuilds them."""


class IndexBusy(CoderagError):
    """Another process holds the index write lock."""

    exit_code = 3


class ConfigError(CoderagError):
    """A configuration value (backend name, model path, number...) is invalid."""


class PluginError(CoderagError):
    """A plugin failed to load or its factory raised."""


class EmbedderUnavailable(CoderagError):
    """The embedding service cannot be used at all (refused, unauthorised, not an embedding API).

    Unlike a transient failure, retrying file by file would not help: the update stops and
    the index is left as it was.
    """


class EmbedderChanged(CoderagError):
    """The embedding service now answers with another model or vector size than the index holds."""


class PartialEmbedding(CoderagError):
    """Some texts of a batch could not be embedded (the service kept failing after retries).

    ``vectors`` holds a row for every text (zeros where it failed); ``failed`` the
    indexes of the texts that failed.  The files those texts belong to are
    recorded as errors and retried by the next update; the rest of the batch lands.
    """

    def __init__(self, message: str, vectors=None, failed: frozenset[int] = frozenset()) -> None:
        super().__init__(message)
        self.vectors = vectors
        self.failed = frozenset(failed)

    def __reduce__(self):  # crosses from a worker process to the writer
        return (type(self), (str(self), self.vectors, self.failed))


class StoreUnavailable(CoderagError):
    """A store's server cannot be reached or refused us (a database down, a dropped connection).

    The update stops and the index is left as it was: the previous generation stays searchable.
    """
