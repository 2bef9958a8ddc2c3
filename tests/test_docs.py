"""The plugin API is documented, and the plugin guide's worked example really works.

Like datasette's docs tests: a new hook, Protocol method or contract fixture
without documentation fails here.  The last test builds the example package
of ``docs/plugins.md`` from the guide's own code blocks, pip-installs it,
selects it with git config and runs its conformance tests.
"""
from __future__ import annotations

import ast
import inspect
import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

from coderag import hookspecs
from coderag import plugins
from coderag import protocols

ROOT = Path(__file__).resolve().parent.parent
GUIDE = ROOT / "docs" / "plugins.md"
PROTOCOLS = ("Chunker", "Embedder", "VectorStore", "LexicalStore")
CONTRACT_MODULES = ("chunker_contract.py", "embedder_contract.py", "store_contracts.py")


def _hookspecs() -> dict[str, object]:
    return {name: fn for name, fn in vars(hookspecs).items()
            if callable(fn) and name.startswith("coderag_") and hasattr(fn, "coderag_spec")}


def _class_nodes(path: Path) -> dict[str, ast.ClassDef]:
    return {node.name: node for node in ast.parse(path.read_text()).body if isinstance(node, ast.ClassDef)}


def test_the_hook_list_is_what_plugins_load():
    assert set(_hookspecs()) == set(plugins.KINDS.values())


@pytest.mark.parametrize("name", sorted(plugins.KINDS.values()))
def test_every_hookspec_is_fully_documented(name):
    doc = inspect.getdoc(_hookspecs()[name]) or ""
    for needed in (":param register:", "factory(", "Lifecycle", "Processes", "coderag.testing."):
        assert needed in doc, f"{name}'s docstring lacks {needed!r}"
    assert re.search(r":class:`coderag\.protocols\.(%s)`" % "|".join(PROTOCOLS), doc), \
        f"{name}'s docstring does not name the Protocol its factory returns"


@pytest.mark.parametrize("name", PROTOCOLS)
def test_every_protocol_member_is_documented(name):
    node = _class_nodes(Path(protocols.__file__))[name]
    assert ast.get_docstring(node), f"{name} has no docstring"
    body = node.body
    for i, item in enumerate(body):
        if isinstance(item, ast.FunctionDef):
            assert ast.get_docstring(item), f"{name}.{item.name} has no docstring"
        elif isinstance(item, ast.AnnAssign):
            following = body[i + 1] if i + 1 < len(body) else None
            documented = (isinstance(following, ast.Expr) and isinstance(following.value, ast.Constant)
                          and isinstance(following.value.value, str))
            assert documented, f"{name}.{item.target.id} has no attribute docstring"


def test_the_guide_covers_every_hook_and_protocol_member():
    guide = GUIDE.read_text()
    for name in _hookspecs():
        assert f"`{name}(register)`" in guide, f"docs/plugins.md does not document {name}(register)"
    classes = _class_nodes(Path(protocols.__file__))
    for name in PROTOCOLS:
        section = guide.split(f"### {name}\n", 1)
        assert len(section) == 2, f"docs/plugins.md has no '### {name}' section"
        text = section[1].split("\n## ", 1)[0].split("\n### ", 1)[0]
        for item in classes[name].body:
            member = item.name if isinstance(item, ast.FunctionDef) else getattr(
                getattr(item, "target", None), "id", None)
            if member:
                assert f"`{member}" in text, f"the {name} section does not mention {member}"


def test_the_guide_covers_every_contract_and_fixture():
    guide = GUIDE.read_text()
    kit = Path(plugins.__file__).parent / "testing"
    for module in CONTRACT_MODULES:
        for cls in _class_nodes(kit / module).values():
            if cls.name.endswith("Contract"):
                assert f"`{cls.name}`" in guide, f"docs/plugins.md does not describe {cls.name}"
            for item in cls.body:
                if isinstance(item, ast.FunctionDef) and any("fixture" in ast.unparse(d) for d in item.decorator_list):
                    assert f"`{item.name}`" in guide, f"fixture {item.name} of {cls.name} is undocumented"


def _guide_files() -> dict[str, str]:
    """The guide's code blocks marked ```lang file=PATH, by path."""
    blocks = re.findall(r"^```\w+ file=(\S+)\n(.*?)^```$", GUIDE.read_text(), flags=re.S | re.M)
    return dict(blocks)


def test_the_guide_example_installs_is_selected_and_passes_the_kit(tmp_path, make_repo):
    files = _guide_files()
    assert {"setup.cfg", "pyproject.toml", "coderag_paragraphs.py", "tests/test_conformance.py"} <= set(files)
    package = tmp_path / "coderag-paragraphs"
    for name, text in files.items():
        (package / name).parent.mkdir(parents=True, exist_ok=True)
        (package / name).write_text(text)
    pip = [sys.executable, "-m", "pip"]
    install = subprocess.run([*pip, "install", "--quiet", "--no-deps", "--no-build-isolation", str(package)],
                             capture_output=True, text=True)
    assert install.returncode == 0, install.stdout + install.stderr
    try:
        repo = make_repo({"notes.md": "First paragraph\nstill first.\n\nSecond one about retries.\n",
                          "app.py": "def main():\n    return 1\n"})
        listing = json.loads(repo.coderag("plugins", "--json", check=True).stdout)
        mine = [row for row in listing if row["name"] == "paragraphs"]
        assert mine and mine[0]["version"] == "0.1.0" and mine[0]["distribution"] == "coderag-paragraphs"
        assert mine[0]["backends"] == {"chunker": ["paragraphs"]} and not mine[0]["error"]

        repo.git("config", "coderag.chunker", "paragraphs")
        repo.git("config", "coderag.chunker.max-lines", "40")
        index = repo.coderag("index", "--json")
        assert index.returncode == 0, index.stderr
        status = json.loads(repo.coderag("status", "--json", check=True).stdout)
        assert status["chunker"].startswith("paragraphs"), status
        hits = json.loads(repo.coderag("search", "--json", "--mode", "lexical", "retries", check=True).stdout)
        top = hits["results"][0]
        assert (top["path"], top["start_line"], top["end_line"], top["kind"]) == ("notes.md", 4, 4, "paragraph")

        kit = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "tests"],
                             cwd=package, capture_output=True, text=True)
        assert kit.returncode == 0, kit.stdout[-3000:]
        assert re.search(r"\b1[0-9] passed\b", kit.stdout), kit.stdout[-500:]
    finally:
        subprocess.run([*pip, "uninstall", "--quiet", "--yes", "coderag-paragraphs"], capture_output=True)
        plugins.reset()
