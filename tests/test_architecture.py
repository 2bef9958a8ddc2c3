"""The package layout is the architecture: imports flow one way, and the map in the docs is true.

Data flows git -> read -> chunk -> embed -> store -> search, with the faces on
top. Every ``coderag`` subpackage (or top-level module) is a unit with a rank;
a unit imports only units of a lower rank, lazy imports inside functions
included. So a backend never imports the command line, and search and
indexing (same rank) never import each other.
"""
from __future__ import annotations

import ast
import re
import subprocess
import sys
from collections import defaultdict
from pathlib import Path

import pytest

import coderag

PACKAGE = Path(coderag.__file__).parent
ROOT = PACKAGE.parent

#: Lower ranks are imported by higher ones, never the other way round.
RANKS = {
    # the plugin API and the vocabulary everything shares
    "coderag.errors": 0, "coderag.protocols": 0, "coderag.hookspecs": 0, "coderag.filemap": 0,
    # the plugin manager, git, shared text analysis, and the backends' implementations
    "coderag.plugins": 1, "coderag.git": 1, "coderag.analysis": 1,
    "coderag.chunking": 1, "coderag.embedding": 1, "coderag.stores": 1,
    # settings (they name backends), and the builtin backends' registrations
    "coderag.config": 2, "coderag.backends": 2,
    # the index on disk, shared by the writer and the reader
    "coderag.ondisk": 3,
    # the writer and the reader
    "coderag.indexing": 4, "coderag.search": 4,
    # the Python API
    "coderag.index": 5,
    # the faces and tools on top
    "coderag.cli": 7, "coderag.mcp": 6, "coderag.testing": 6, "coderag.train": 6,
    "coderag.__main__": 8,  # `python -m coderag` runs the command line
}
# ``coderag/__init__.py`` is the public facade: it re-exports the API through a
# module ``__getattr__`` (nothing is imported until asked for), and every module
# may use its markers (``hookimpl``, ``__version__``).
FACADE = "coderag"


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def unit_of(name: str) -> str:
    parts = name.split(".")
    return ".".join(parts[:2]) if len(parts) > 1 else name


def is_module(name: str) -> bool:
    path = ROOT.joinpath(*name.split("."))
    return path.with_suffix(".py").is_file() or (path / "__init__.py").is_file()


def imported_modules(path: Path) -> set[str]:
    """Every coderag module ``path`` imports, at module level or inside functions."""
    name = module_name(path)
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join(anchor + ([base] if base else []))
            for alias in node.names:
                full = f"{base}.{alias.name}"
                found.add(full if is_module(full) else base)
    return {m for m in found if m == "coderag" or m.startswith("coderag.")}


def unit_graph() -> dict[str, set[str]]:
    graph: dict[str, set[str]] = defaultdict(set)
    for path in PACKAGE.rglob("*.py"):
        source = unit_of(module_name(path))
        if source == FACADE:
            continue
        for target in map(unit_of, imported_modules(path)):
            if target not in (source, FACADE):
                graph[source].add(target)
    return graph


def test_every_unit_has_a_rank():
    units = {unit_of(module_name(p)) for p in PACKAGE.rglob("*.py")} - {FACADE}
    assert units - set(RANKS) == set(), "give each new package a rank in RANKS (and a place in docs/architecture.md)"


def test_nothing_imports_upward_or_sideways():
    wrong = sorted(f"{source} imports {target}" for source, targets in unit_graph().items() for target in targets
                   if RANKS[target] >= RANKS[source])
    assert wrong == []


def test_there_is_no_import_cycle_between_packages():
    graph = unit_graph()
    state: dict[str, int] = {}  # 1 = on the current path, 2 = done
    cycles = []

    def visit(unit: str, path: list[str]) -> None:
        state[unit] = 1
        for target in sorted(graph.get(unit, ())):
            if state.get(target) == 1:
                cycles.append(" -> ".join(path[path.index(target):] + [target]) if target in path else target)
            elif target not in state:
                visit(target, path + [target])
        state[unit] = 2

    for unit in sorted(graph):
        if unit not in state:
            visit(unit, [unit])
    assert cycles == []


def test_the_cycle_check_finds_a_cycle(tmp_path, monkeypatch):
    """The check above can fail: a graph with a back edge is reported."""
    graph = {"coderag.a": {"coderag.b"}, "coderag.b": {"coderag.a"}}
    monkeypatch.setattr(sys.modules[__name__], "unit_graph", lambda: graph)
    with pytest.raises(AssertionError):
        test_there_is_no_import_cycle_between_packages()


def test_the_command_line_parser_and_handlers_do_not_import_each_other_in_a_cycle():
    parser = imported_modules(PACKAGE / "cli" / "parser.py")
    output = imported_modules(PACKAGE / "cli" / "output.py")
    assert not any(m.startswith("coderag.cli") for m in parser | output)


def test_no_module_is_much_over_400_lines():
    long = {str(p.relative_to(ROOT)): n for p in PACKAGE.rglob("*.py")
            if (n := len(p.read_text(encoding="utf-8").splitlines())) > 420}
    assert long == {}


def test_importing_the_search_side_imports_nothing_from_indexing():
    code = ("import sys, coderag.search.fusion, coderag.search.query, coderag.search.ranking\n"
            "print(sorted(m for m in sys.modules if m.startswith(('coderag.indexing', 'coderag.cli', "
            "'model2vec', 'multiprocess'))))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


MODULE_REF = re.compile(r"`(coderag(?:/[\w.]+)+/?)`")


def test_every_module_the_architecture_page_names_exists():
    page = (ROOT / "docs" / "architecture.md").read_text(encoding="utf-8")
    named = MODULE_REF.findall(page)
    assert len(named) >= 30
    missing = [n for n in named if not (ROOT / n).exists()]
    assert missing == []


def test_the_architecture_page_places_every_package():
    page = (ROOT / "docs" / "architecture.md").read_text(encoding="utf-8")
    packages = sorted(p.parent.relative_to(ROOT).as_posix() + "/" for p in PACKAGE.glob("*/__init__.py"))
    assert [p for p in packages if f"`{p}`" not in page] == []
