"""Plugin loading: entry points, allow and block lists, broken plugins, `git coderag plugins`.

Third-party plugins here are real distributions: a module plus a
``*.dist-info`` folder with ``entry_points.txt`` on ``sys.path`` (what pip
leaves behind), found by :mod:`importlib.metadata` like any installed one.
"""
from __future__ import annotations

import importlib
import json
import sys
import textwrap

import pytest

from coderag import plugins
from coderag.config import load_settings
from coderag.errors import ConfigError
from coderag.errors import PluginError

GOOD = '''
import coderag


class Upper:
    name = "upper"
    version = "1"

    def chunk(self, path, text, language):
        return []


def make_upper(**options):
    if options.get("explode"):
        raise RuntimeError("weights file is missing")
    return Upper()


@coderag.hookimpl
def coderag_register_chunkers(register):
    register("upper", make_upper, description="an example chunker")
'''


@pytest.fixture
def site(tmp_path, monkeypatch):
    """``site(dist, name, source)``: install a one-module plugin distribution on ``sys.path``."""
    root = tmp_path / "site"
    root.mkdir()
    monkeypatch.syspath_prepend(str(root))
    plugins.reset()
    modules: list[str] = []

    def install(dist: str, name: str, source: str, version: str = "1.2.3") -> None:
        module = dist.replace("-", "_")
        modules.append(module)
        sys.modules.pop(module, None)  # a module of the same name from an earlier test
        (root / f"{module}.py").write_text(textwrap.dedent(source))
        info = root / f"{module}-{version}.dist-info"
        info.mkdir()
        (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {dist}\nVersion: {version}\n")
        (info / "entry_points.txt").write_text(f"[coderag]\n{name} = {module}\n")

    install.root = root
    importlib.invalidate_caches()
    yield install
    plugins.reset()
    for module in modules:
        sys.modules.pop(module, None)


def _info(name: str) -> plugins.PluginInfo:
    return {info.name: info for info in plugins.plugin_infos()}[name]


def test_builtins_register_through_the_hooks():
    plugins.reset()
    reg = plugins.registry("chunker")
    assert {"code", "windows"} <= set(reg.factories)
    assert reg.providers["code"] == "coderag.backends.chunkers"
    infos = plugins.plugin_infos()
    assert [i.name for i in infos if i.builtin] == list(plugins.DEFAULT_PLUGINS)
    assert all(i.version and not i.error for i in infos if i.builtin)


def test_entry_point_plugin_is_loaded_and_listed(site):
    site("coderag-upper", "upper", GOOD)
    assert "upper" in plugins.registry("chunker").factories
    info = _info("upper")
    assert (info.distribution, info.version, info.builtin) == ("coderag-upper", "1.2.3", False)
    assert info.backends == {"chunker": ["upper"]}
    assert info.hooks == ["coderag_register_chunkers"]
    assert info.descriptions == {"chunker:upper": "an example chunker"}
    assert plugins.create_backend("chunker", "upper").name == "upper"


def test_misspelt_hook_fails_loudly_and_the_rest_works(site, capsys):
    site("coderag-typo", "typo", GOOD.replace("coderag_register_chunkers", "coderag_register_chunker"))
    site("coderag-upper", "upper", GOOD)
    reg = plugins.registry("chunker")
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1, err
    assert "plugin 'typo' (coderag-typo) was not loaded" in err[0]
    assert "unknown hook 'coderag_register_chunker' (did you mean 'coderag_register_chunkers'?)" in err[0]
    assert "CODERAG_DISABLE_PLUGINS=typo" in err[0]
    assert "upper" in reg.factories and "code" in reg.factories
    assert _info("typo").error.startswith("it implements an unknown hook")


@pytest.mark.parametrize("source, expected", [
    ("import no_such_dependency_xyz\n", "ModuleNotFoundError: No module named 'no_such_dependency_xyz'"),
    ("raise RuntimeError('bad config at import')\n", "RuntimeError: bad config at import"),
    ("def coderag_register_chunkers(register):\n    pass\n", "no coderag hook (are its functions marked"),
    (GOOD.replace("(register)", "(register, extra)"), "can not be found in the hookspec"),
])
def test_broken_plugin_is_one_line_and_skipped(site, capsys, source, expected):
    site("coderag-broken", "broken", source)
    assert "code" in plugins.registry("chunker").factories
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and expected in err[0], err
    assert expected in _info("broken").error
    with pytest.raises(ConfigError, match=r"unknown chunker 'nope'.*broken plugins: broken \("):
        plugins.create_backend("chunker", "nope")


def test_a_failing_registration_leaves_nothing_half_registered(site, capsys):
    site("coderag-half", "half", '''
        import coderag

        @coderag.hookimpl
        def coderag_register_chunkers(register):
            register("first", dict)
            raise ValueError("second backend is misconfigured")
    ''')
    reg = plugins.registry("chunker")
    assert "first" not in reg.factories and "code" in reg.factories
    assert "plugin 'half' failed to register chunkers: ValueError: second backend" in capsys.readouterr().err


def test_a_backend_name_taken_twice_is_reported(site, capsys):
    site("coderag-clash", "clash", GOOD.replace('"upper"', '"windows"'))
    reg = plugins.registry("chunker")
    assert reg.providers["windows"] == "coderag.backends.chunkers"
    assert "chunker backend 'windows' is registered twice" in capsys.readouterr().err


def test_a_builtin_backend_is_made_without_scanning_plugins(site, capsys):
    # The hot paths (a search, a commit hook) build builtins only: no plugin can take their names.
    site("coderag-clash", "clash", GOOD.replace('"upper"', '"windows"'))
    plugins.reset()
    chunker = plugins.create_backend("chunker", "windows")
    assert type(chunker).__module__.startswith("coderag.") and plugins._manager is None
    assert capsys.readouterr().err == ""  # the clashing plugin was not even loaded
    site("coderag-upper", "upper", GOOD)
    assert type(plugins.create_backend("chunker", "upper")).__module__ != type(chunker).__module__
    assert plugins._manager is not None  # a plugin's backend loads the plugins


def test_factory_failure_names_plugin_version_and_fix(site):
    site("coderag-upper", "upper", GOOD)
    with pytest.raises(PluginError) as err:
        plugins.create_backend("chunker", "upper", explode=True)
    message = str(err.value)
    assert "\n" not in message
    assert "chunker 'upper' from plugin 'upper' (coderag-upper 1.2.3) failed: RuntimeError: weights file" in message
    assert "git config coderag.chunker NAME" in message
    with pytest.raises(ConfigError, match="bad options for chunker 'upper'"):
        plugins.create_backend("chunker", "upper", "positional")


def test_environment_allow_and_block_lists(site, monkeypatch):
    site("coderag-upper", "upper", GOOD)
    monkeypatch.setenv("CODERAG_LOAD_PLUGINS", "")
    assert "upper" not in plugins.registry("chunker").factories
    assert _info("upper").disabled
    assert "code" in plugins.registry("chunker").factories  # builtins always load
    plugins.reset()
    monkeypatch.setenv("CODERAG_LOAD_PLUGINS", "upper")
    assert "upper" in plugins.registry("chunker").factories
    plugins.reset()
    monkeypatch.setenv("CODERAG_DISABLE_PLUGINS", "other, upper")
    assert "upper" not in plugins.registry("chunker").factories
    with pytest.raises(ConfigError, match="disabled plugins: upper"):
        plugins.create_backend("chunker", "upper")


def test_git_config_allow_and_block_lists(site, make_repo, monkeypatch):
    site("coderag-upper", "upper", GOOD)
    repo = make_repo({"a.py": "x = 1\n"})
    assert "upper" in plugins.registry("chunker").factories
    repo.git("config", "coderag.plugins.disable", "upper")
    settings = load_settings(repo.root)  # reloads plugins: the filters changed
    assert settings.plugins_disable == ["upper"]
    assert "upper" not in plugins.registry("chunker").factories
    repo.git("config", "--unset", "coderag.plugins.disable")
    repo.git("config", "coderag.plugins.load", "")
    assert load_settings(repo.root).plugins_load == []
    assert "upper" not in plugins.registry("chunker").factories
    monkeypatch.setenv("CODERAG_LOAD_PLUGINS", "upper")  # the environment wins over git config
    load_settings(repo.root)
    assert "upper" in plugins.registry("chunker").factories


def test_cli_lists_plugins_and_keeps_working_with_a_broken_one(site, sample_repo):
    site("coderag-upper", "upper", GOOD)
    site("coderag-broken", "broken", "import no_such_dependency_xyz\n")
    env = {"PYTHONPATH": str(site.root)}
    listing = sample_repo.coderag("plugins", env=env)
    assert listing.returncode == 0, listing.stderr
    assert "upper (coderag-upper 1.2.3)\n  chunker: upper\n" in listing.stdout
    assert "broken (coderag-broken 1.2.3) BROKEN" in listing.stdout
    assert len(listing.stderr.strip().splitlines()) == 1, listing.stderr
    sample_repo.git("config", "coderag.plugins.disable", "broken")
    data = json.loads(sample_repo.coderag("plugins", "--json", env=env).stdout)
    by_name = {row["name"]: row for row in data}
    assert by_name["broken"]["disabled"] and by_name["upper"]["backends"] == {"chunker": ["upper"]}
    assert by_name["coderag.backends.chunkers"]["selected"] == {"chunker": "code"}
    sample_repo.git("config", "--unset", "coderag.plugins.disable")
    indexed = sample_repo.coderag("index", "--quiet", env=env)
    assert indexed.returncode == 0, indexed.stderr
    found = sample_repo.coderag("search", "--json", "retry with backoff", env=env)
    assert found.returncode == 0 and json.loads(found.stdout)["results"], found.stderr


def test_cli_reports_a_failing_plugin_backend_in_one_line(site, sample_repo):
    site("coderag-upper", "upper", GOOD)
    sample_repo.git("config", "coderag.chunker", "upper")
    sample_repo.git("config", "coderag.chunker.explode", "true")
    result = sample_repo.coderag("index", env={"PYTHONPATH": str(site.root)})
    assert result.returncode != 0
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in result.stderr, result.stderr
    assert "chunker 'upper' from plugin 'upper' (coderag-upper 1.2.3) failed" in lines[0]
