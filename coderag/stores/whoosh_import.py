"""Whoosh, imported without three modules it loads for features coderag never uses.

Importing this module imports Whoosh.  Whoosh's first imports pull in

* ``urllib.request`` (with ``http.client``, ``email`` and ``ssl``) from
  ``whoosh.compat``, for ``urlretrieve``, which only its downloader uses;
* ``asyncio`` from ``cached_property`` (imported by ``whoosh.reading``), which
  asks it whether a cached property is a coroutine;
* ``whoosh.lang.morph_en`` (~70 compiled patterns) from ``whoosh.query.terms``,
  for the ``Variations`` query.

Together ~25 ms of every ``git coderag search``, a tenth of it.  While the
three Whoosh modules that import them are imported, each is a stand-in module
whose names are small functions that import the real module when called, so
they behave the same; the stand-ins leave ``sys.modules`` right after, and a
later ``import asyncio`` (say) gets the real module.
"""
from __future__ import annotations

import contextlib
import importlib
import inspect
import sys
import types
from typing import Any
from typing import Callable
from typing import Iterator


def _deferred(module: str, name: str) -> Callable[..., Any]:
    def call(*args: Any, **kwargs: Any) -> Any:
        return getattr(importlib.import_module(module), name)(*args, **kwargs)

    call.__name__ = call.__qualname__ = name
    return call


def _iscoroutinefunction(func: Any) -> bool:
    """``asyncio.iscoroutinefunction``, exactly, without importing asyncio.

    Beyond ``inspect``'s answer, asyncio only recognises functions that carry its own
    legacy marker object, which nothing can carry while asyncio is not imported.
    """
    asyncio = sys.modules.get("asyncio")
    if asyncio is not None and not getattr(asyncio, "__coderag_stand_in__", False):
        return asyncio.iscoroutinefunction(func)
    return inspect.iscoroutinefunction(func)


STAND_INS: dict[str, dict[str, Callable[..., Any]]] = {
    "urllib.request": {"urlretrieve": _deferred("urllib.request", "urlretrieve")},
    "asyncio": {"iscoroutinefunction": _iscoroutinefunction,
                "ensure_future": _deferred("asyncio", "ensure_future")},
    "whoosh.lang.morph_en": {"variations": _deferred("whoosh.lang.morph_en", "variations")},
}
IMPORTERS = ("whoosh.compat", "cached_property", "whoosh.query")
"""The modules whose import brings the three in (everything else of Whoosh imports these)."""


@contextlib.contextmanager
def stand_ins(modules: dict[str, dict[str, Callable[..., Any]]]) -> Iterator[None]:
    """Put a stand-in for each module not imported yet into ``sys.modules`` for the ``with`` body."""
    placed = {}
    for name, attributes in modules.items():
        if name in sys.modules:
            continue
        module = types.ModuleType(name, f"coderag's stand-in for {name} while Whoosh is imported")
        module.__coderag_stand_in__ = True
        for attribute, value in attributes.items():
            setattr(module, attribute, value)
        placed[name] = sys.modules[name] = module
    try:
        yield
    finally:
        for name, module in placed.items():
            if sys.modules.get(name) is module:
                del sys.modules[name]


def import_whoosh() -> None:
    """Import Whoosh's modules that import the three (a no-op once they are imported)."""
    if all(name in sys.modules for name in IMPORTERS):
        return
    with stand_ins(STAND_INS):
        for name in IMPORTERS:
            try:
                importlib.import_module(name)
            except ImportError:  # a Whoosh without cached_property: nothing to defer there
                pass


import_whoosh()
