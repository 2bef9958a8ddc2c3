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
