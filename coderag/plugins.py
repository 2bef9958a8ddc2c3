"""The plugin manager: builtin backends and third-party plugins, loaded alike.

Third-party plugins are distributions with an entry point in the ``coderag``
group.  Which of them load is decided, in this order, by:

* ``CODERAG_LOAD_PLUGINS=a,b``: load only these entry points (empty: none);
  without it, git config ``coderag.plugins.load`` does the same;
* ``CODERAG_DISABLE_PLUGINS=a,b`` and git config ``coderag.plugins.disable``:
  never load these (both lists apply).

A plugin that fails to import, implements a hook that does not exist (a
typo) or registers nothing is reported in one line naming the plugin and the
fix, and skipped; coderag keeps working with the rest.  The filters are
process-wide: :func:`configure` (called by :func:`coderag.config.load_settings`)
reloads plugins when a repository's git config changes them.
"""
from __future__ import annotations

import difflib
import importlib
import os
import sys
from dataclasses import dataclass
from dataclasses import field
from typing import Any
from typing import Callable
from typing import Sequence

import pluggy

from coderag import __version__
from coderag import hookspecs
from coderag.errors import CoderagError
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
CONFIG_KEYS = {"chunker": "chunker", "embedder": "embedder", "vector_store": "vectorstore",
               "lexical_store": "lexicalstore"}
"""git config key naming the chosen backend of each kind (``coderag.<key>``)."""


@dataclass
class PluginInfo:
    """One loaded, disabled or broken plugin, as ``git coderag plugins`` shows it."""

    name: str
    module: str
    version: str = ""
    distribution: str = ""
    builtin: bool = False
    disabled: bool = False
    error: str = ""
    hooks: list[str] = field(default_factory=list)
    backends: dict[str, list[str]] = field(default_factory=dict)
    descriptions: dict[str, str] = field(default_factory=dict)
    """``"kind:name"`` to the description the plugin registered."""


_manager: pluggy.PluginManager | None = None
_infos: dict[str, PluginInfo] = {}
_registries: dict[str, Registry] = {}
_config_filters: tuple[tuple[str, ...] | None, tuple[str, ...]] = (None, ())
_loaded_filters: tuple[tuple[str, ...] | None, frozenset[str]] | None = None


def _env_list(name: str) -> list[str] | None:
    value = os.environ.get(name)
    if value is None:
        return None
    return split_names(value)


def split_names(value: str) -> list[str]:
    """``"a, b,,c"`` -> ``["a", "b", "c"]`` (the format of every plugin list setting)."""
    return [item.strip() for item in value.split(",") if item.strip()]


def configure(load: Sequence[str] | None = None, disable: Sequence[str] = ()) -> None:
    """Set the git-config plugin filters (``coderag.plugins.load`` / ``.disable``).

    Environment variables still win for the allow-list and add to the block
    list.  If plugins were already loaded with other filters they are
    forgotten and reloaded on next use.
    """
    global _config_filters
    _config_filters = (tuple(load) if load is not None else None, tuple(disable))
    if _manager is not None and _loaded_filters != _effective_filters():
        reset(keep_config=True)


def _effective_filters() -> tuple[tuple[str, ...] | None, frozenset[str]]:
    env_allow = _env_list("CODERAG_LOAD_PLUGINS")
    allow = tuple(env_allow) if env_allow is not None else _config_filters[0]
    blocked = frozenset(_env_list("CODERAG_DISABLE_PLUGINS") or ()) | frozenset(_config_filters[1])
    return allow, blocked


def get_plugin_manager() -> pluggy.PluginManager:
    """Return the process-wide plugin manager, loading plugins on first use."""
    global _manager
    if _manager is None:
        _manager = _load()
    return _manager


def reset(keep_config: bool = False) -> None:
    """Forget loaded plugins (tests, and long-lived processes that install plugins)."""
    global _manager, _loaded_filters, _config_filters
    _manager = None
    _loaded_filters = None
    _infos.clear()
    _registries.clear()
    _builtin_registries.clear()
    if not keep_config:
        _config_filters = (None, ())


def _load() -> pluggy.PluginManager:
    global _loaded_filters
    pm = pluggy.PluginManager("coderag")
    pm.add_hookspecs(hookspecs)
    for module_name in DEFAULT_PLUGINS:
        module = importlib.import_module(module_name)
        pm.register(module, module_name)
        _infos[module_name] = PluginInfo(module_name, module_name, version=__version__, builtin=True,
                                         distribution="coderag", hooks=_hook_names(pm, module))
    _loaded_filters = allow, blocked = _effective_filters()
    from importlib.metadata import entry_points

    for entry in entry_points(group=ENTRY_POINT_GROUP):
        if entry.name in _infos:
            continue  # the same distribution seen twice on sys.path
        dist = entry.dist
        info = PluginInfo(entry.name, entry.value, version=dist.version if dist else "",
                          distribution=dist.metadata["Name"] if dist else "")
        _infos[entry.name] = info
        if (allow is not None and entry.name not in allow) or entry.name in blocked:
            info.disabled = True
            pm.set_blocked(entry.name)
            continue
        try:
            plugin = entry.load()
            pm.register(plugin, name=entry.name)
            info.hooks = _hook_names(pm, plugin)
            _check_hooks(pm, entry.name, plugin, info.hooks)
        except Exception as exc:  # a broken plugin must not take coderag down
            if pm.get_plugin(entry.name) is not None:
                pm.unregister(name=entry.name)
            info.error = _describe(exc)
            _warn(f"plugin {entry.name!r} ({info.distribution or entry.value}) was not loaded: {info.error}; "
                  f"fix or uninstall {info.distribution or 'it'}, or disable it with "
                  f"CODERAG_DISABLE_PLUGINS={entry.name}")
    pm.check_pending()  # every registered implementation has a spec by now
    return pm


def _hook_names(pm: pluggy.PluginManager, plugin: Any) -> list[str]:
    return sorted(caller.name for caller in pm.get_hookcallers(plugin) or ())


def _check_hooks(pm: pluggy.PluginManager, name: str, plugin: Any, hooks: list[str]) -> None:
    """Reject a plugin with a misspelt hook (pluggy's ``check_pending``) or no hook at all."""
    for hook in hooks:
        if not getattr(pm.hook, hook).has_spec():
            close = difflib.get_close_matches(hook, list(KINDS.values()), n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else f" (the hooks are: {', '.join(KINDS.values())})"
            raise PluginError(f"it implements an unknown hook {hook!r}{hint}")
    if not hooks:
        raise PluginError("it implements no coderag hook (are its functions marked with @coderag.hookimpl?)")


def _describe(exc: BaseException) -> str:
    """One line for an exception: its type and its first line (all lines for pluggy's validation)."""
    lines = [line.strip() for line in str(exc).strip().splitlines() if line.strip()]
    if isinstance(exc, pluggy.PluginValidationError):
        return "; ".join(lines)
    if isinstance(exc, PluginError):
        return lines[0] if lines else "PluginError"
    return f"{type(exc).__name__}: {lines[0]}" if lines else type(exc).__name__



def _warn(message: str) -> None:
    print(f"coderag: warning: {message}", file=sys.stderr)


def registry(kind: str) -> Registry:
    """All registered factories of one backend kind (``chunker``, ``embedder``, ...)."""
    if kind not in KINDS:
        raise ValueError(f"unknown backend kind {kind!r}; one of {', '.join(KINDS)}")
    if kind in _registries:
        return _registries[kind]
    pm = get_plugin_manager()
    reg = Registry(kind)
    hook = getattr(pm.hook, KINDS[kind])
    # Call each implementation ourselves, in registration order (builtins first, so a
    # plugin cannot take a builtin's name), so every registration knows its plugin and
    # one plugin's failure leaves the others' registrations in place.
    for impl in hook.get_hookimpls():
        reg._current_plugin = impl.plugin_name
        before = set(reg.factories)
        try:
            impl.function(register=reg)
        except Exception as exc:
            for name in set(reg.factories) - before:  # no half-registered plugin
                del reg.factories[name], reg.descriptions[name], reg.providers[name]
            info = _infos.get(impl.plugin_name)
            if info is not None:
                info.error = _describe(exc)
            _warn(f"plugin {impl.plugin_name!r} failed to register {kind.replace('_', ' ')}s: {_describe(exc)}; "
                  f"fix or uninstall it, or disable it with CODERAG_DISABLE_PLUGINS={impl.plugin_name}")
    for name, provider in reg.providers.items():
        if provider in _infos:
            _infos[provider].backends.setdefault(kind, []).append(name)
            _infos[provider].descriptions[f"{kind}:{name}"] = reg.descriptions[name]
    _registries[kind] = reg
    return reg


def _builtin_registry(kind: str) -> Registry:
    """The builtins' factories of one kind, without scanning installed plugins.

    A plugin can never take a builtin's name (builtins register first and a
    second registration of a name is refused), so a builtin backend is the
    same factory either way; skipping the entry-point scan saves a search or
    a commit hook ~30 ms of start-up.  ``registry`` still sees every plugin.
    """
    reg = _builtin_registries.get(kind)
    if reg is None:
        reg = Registry(kind)
        for module_name in DEFAULT_PLUGINS:
            hook = getattr(importlib.import_module(module_name), KINDS[kind], None)
            if hook is not None:
                reg._current_plugin = module_name
                hook(register=reg)
        _builtin_registries[kind] = reg
    return reg


_builtin_registries: dict[str, Registry] = {}


def create_backend(kind: str, name: str, *args: Any, **options: Any) -> Any:
    """Instantiate backend ``name`` of ``kind`` from its registered factory.

    Errors are :class:`~coderag.errors.CoderagError` with one line that names
    the backend, the plugin that provides it and what to do; a builtin's
    unexpected exception propagates (a bug, worth its traceback).
    """
    reg = _builtin_registry(kind)
    if name not in reg.factories:
        reg = registry(kind)
    label = kind.replace("_", " ")
    factory: Callable[..., Any] | None = reg.factories.get(name)
    if factory is None:
        known = ", ".join(sorted(reg.factories)) or "none"
        broken = [f"{i.name} ({i.error})" for i in _infos.values() if i.error]
        disabled = [i.name for i in _infos.values() if i.disabled]
        extra = "".join([f"; broken plugins: {', '.join(broken)}" if broken else "",
                         f"; disabled plugins: {', '.join(disabled)}" if disabled else ""])
        raise ConfigError(f"unknown {label} {name!r} (installed: {known}){extra}; "
                          f"set another with `git config coderag.{CONFIG_KEYS[kind]} NAME`")
    try:
        return factory(*args, **options)
    except CoderagError:
        raise  # already one line fit to show (a bad option, a database that is down, a damaged store)
    except TypeError as exc:
        raise ConfigError(f"bad options for {label} {name!r}: {exc}") from None
    except Exception as exc:
        provider = reg.providers.get(name, "")
        if provider in DEFAULT_PLUGINS:
            raise
        info = _infos.get(provider)
        dist = f" ({info.distribution} {info.version})" if info and info.distribution else ""
        hint = " (a missing dependency: reinstall the plugin)" if isinstance(exc, ImportError) else ""
        raise PluginError(
            f"{label} {name!r} from plugin {provider!r}{dist} failed: {_describe(exc)}{hint}; "
            f"choose another {label} with `git config coderag.{CONFIG_KEYS[kind]} NAME`"
        ) from None


def plugin_infos() -> list[PluginInfo]:
    """Installed plugins (loaded, disabled or broken) with the backends each provides, builtins first."""
    for kind in KINDS:
        registry(kind)
    return sorted(_infos.values(), key=lambda i: (not i.builtin, i.name))
