"""The ``pytest11`` entry point of coderag's testing kit.

pytest loads it in every test run of an environment where coderag is
installed, so it is inert: no autouse fixtures, no hooks that change
collection, nothing heavy imported.  Its one job besides offering the
fixture below is being an entry point at all: pytest rewrites the asserts of
every module in a distribution that has a ``pytest11`` entry point, so the
contract classes in :mod:`coderag.testing` fail with full assertion diffs.
"""
from __future__ import annotations

from typing import Any
from typing import Callable
from typing import Iterator

import pytest


@pytest.fixture
def coderag_factory() -> Iterator[Callable[[str, str], Any]]:
    """``coderag_factory(kind, name)``: the factory registered for a backend, as coderag finds it.

    Loads plugins the way the command line does (entry points, allow and
    block lists), so a test that uses it also checks the plugin is installed
    and registers under ``name``.  ``kind`` is ``chunker``, ``embedder``,
    ``vector_store`` or ``lexical_store``.
    """
    from coderag import plugins

    plugins.reset()

    def lookup(kind: str, name: str) -> Any:
        reg = plugins.registry(kind)
        if name not in reg.factories:
            known = ", ".join(sorted(reg.factories)) or "none"
            pytest.fail(f"no {kind} named {name!r} is registered (registered: {known})", pytrace=False)
        return reg.factories[name]

    yield lookup
    plugins.reset()
