"""The plugin manager: builtin backends and third-party plugins, loaded alike.

Third-party plugins are distributions with an entry point in the ``coderag``
group.  ``CODERAG_LOAD_PLUGINS=a,b`` loads only the named entry points (empty
loads none); ``CODERAG_DISABLE_PLUGINS=a,b`` blocks some.  A plugin that fails
to import is reported in one line and skipped; the rest keeps working.
"""
from __future__ import annotations

import importlib
import os
import sys
from dataclasses import dataclass
from dataclasses import field
from typing import Any
from typing import Callable

import pluggy

from coderag import hookspecs
from coderag.errors import ConfigError
from coderag.errors import PluginError
from coderag.protocols import Registry

ENTRY_POINT_GROUP = "coderag"
DEFAULT_PLUGINS = (
    "coderag.backends.chunkers",
    "coderag.backends.embedders",
    "coderag.backends.stores",
)
KINDS = {
    "chunker": "coderag_register_chunkers",
    "embedder": "coderag_register_embedders",
    "vector_store": "coderag_register_vector_stores",
    "lexical_store": "coderag_register_lexical_stores",
}


@dataclass
class PluginInfo:
    """One loaded (or broken) plugin, as ``git coderag plugins`` shows it."""

    name: str
    module: str
    version: str = ""
    distribution: str = ""
    builtin: bool = False
    error: str = ""
    backends: dict[str, list[str]] = field(default_factory=dict)


_manager: pluggy.PluginManager | None = None
_infos: dict[str, PluginInfo] = {}


def _env_list(name: str) -> list[str] | None:
    value = os.environ.get(name)
    if value is None:
        return None
    return [item.strip() for item in value.split(",") if item.strip()]


def get_plugin_manager() -> pluggy.PluginManager:
    """Return the process-wide plugin manager, loading plugins on first use."""
    global _manager
    if _manager is None:
        _manager = _load()
    return _manager


def reset() -> None:
    """Forget loaded plugins (tests and long-lived processes that install plugins)."""
    global _manager
    _manager = None
    _infos.clear()
    _registries.clear()


def _load() -> pluggy.PluginManager:
    pm = pluggy.PluginManager("coderag")
    pm.add_hookspecs(hookspecs)
    for module_name in DEFAULT_PLUGINS:
        pm.register(importlib.import_module(module_name), module_name)
        _infos[module_name] = PluginInfo(module_name, module_name, builtin=True, distribution="coderag")
    allow = _env_list("CODERAG_LOAD_PLUGINS")
    blocked = set(_env_list("CODERAG_DISABLE_PLUGINS") or [])
    from importlib.metadata import entry_points

    for entry in entry_points(group=ENTRY_POINT_GROUP):
        if (allow is not None and entry.name not in allow) or entry.name in blocked:
            pm.set_blocked(entry.name)
            continue
        if pm.get_plugin(entry.name) is not None:
            continue
        dist = entry.dist
        info = PluginInfo(
            entry.name,
            entry.value,
            version=dist.version if dist else "",
            distribution=dist.metadata["Name"] if dist else "",
        )
        _infos[entry.name] = info
        try:
            plugin = entry.load()
            pm.register(plugin, name=entry.name)
            pm.check_pending()
        except Exception as exc:  # a broken plugin must not take coderag down
            if pm.get_plugin(entry.name) is not None:
                pm.unregister(name=entry.name)
            info.error = _one_line(exc)
            _warn(f"plugin {entry.name!r} ({entry.value}) failed to load: {info.error}; "
                  f"fix or uninstall it, or set CODERAG_DISABLE_PLUGINS={entry.name}")
    return pm


def _one_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0]}" if text else type(exc).__name__


def _warn(message: str) -> None:
    print(f"coderag: warning: {message}", file=sys.stderr)


_registries: dict[str, Registry] = {}


def registry(kind: str) -> Registry:
    """All registered factories of one backend kind (``chunker``, ``embedder``, ...)."""
    if kind in _registries:
        return _registries[kind]
    pm = get_plugin_manager()
    reg = Registry(kind)
    hook = getattr(pm.hook, KINDS[kind])
    # Call each implementation ourselves so every registration knows its plugin.
    for impl in reversed(hook.get_hookimpls()):
        reg._current_plugin = impl.plugin_name
        try:
            impl.function(register=reg)
        except Exception as exc:
            info = _infos.get(impl.plugin_name)
            if info is not None:
                info.error = _one_line(exc)
            _warn(f"plugin {impl.plugin_name!r} failed to register {kind}s: {_one_line(exc)}")
    for name, provider in reg.providers.items():
        if provider in _infos:
            _infos[provider].backends.setdefault(kind, []).append(name)
    _registries[kind] = reg
    return reg


def create_backend(kind: str, name: str, *args: Any, **options: Any) -> Any:
    """Instantiate backend ``name`` of ``kind`` from its registered factory."""
    reg = registry(kind)
    factory: Callable[..., Any] | None = reg.factories.get(name)
    if factory is None:
        known = ", ".join(sorted(reg.factories)) or "none"
        raise ConfigError(f"unknown {kind.replace('_', ' ')} {name!r} (installed: {known})")
    try:
        return factory(*args, **options)
    except (ConfigError, PluginError):
        raise
    except TypeError as exc:
        raise ConfigError(f"bad options for {kind.replace('_', ' ')} {name!r}: {exc}") from None
    except Exception as exc:
        if reg.providers.get(name) in DEFAULT_PLUGINS:
            raise
        raise PluginError(
            f"{kind.replace('_', ' ')} {name!r} from plugin {reg.providers.get(name)!r} failed: {_one_line(exc)}"
        ) from None


def plugin_infos() -> list[PluginInfo]:
    """Loaded plugins with the backends each provides (builtins first)."""
    for kind in KINDS:
        registry(kind)
    return sorted(_infos.values(), key=lambda i: (not i.builtin, i.name))
