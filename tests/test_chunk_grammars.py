"""What every grammar added beyond the first eight must do, on each one's realistic file.

The per-language files (``test_chunk_ruby_elixir_lua.py``,
``test_chunk_swift_kotlin_bash.py``) hold the sample code, its expected
spans and the language-specific cases; the checks shared by all of them live here.
"""
from __future__ import annotations

import subprocess
import sys

import pytest
from test_chunk_ruby_elixir_lua import BROKEN as BROKEN_A
from test_chunk_ruby_elixir_lua import CASES as CASES_A
from test_chunk_ruby_elixir_lua import PATHS as PATHS_A
from test_chunk_swift_kotlin_bash import BROKEN as BROKEN_B
from test_chunk_swift_kotlin_bash import CASES as CASES_B
from test_chunk_swift_kotlin_bash import PATHS as PATHS_B
from test_chunking import check_invariants
from test_chunking import spans
from test_chunking import uncovered

from coderag.chunking.definitions import DefinitionChunker

CASES = {**CASES_A, **CASES_B}
PATHS = {**PATHS_A, **PATHS_B}
BROKEN = {**BROKEN_A, **BROKEN_B}


@pytest.fixture(scope="module")
def code() -> DefinitionChunker:
    return DefinitionChunker()


@pytest.mark.parametrize("language", sorted(CASES))
def test_definitions_per_language(code, language):
    text, expected = CASES[language]
    chunks = code.chunk(PATHS[language], text, language)
    assert spans(chunks) == expected
    assert all(c.language == language for c in chunks)
    check_invariants(chunks, text, PATHS[language])
    assert uncovered(chunks, text) == []


@pytest.mark.parametrize("language", sorted(BROKEN))
def test_unparsable_code_falls_back_to_windows(code, language):
    text = BROKEN[language]
    chunks = code.chunk("f", text, language)
    assert {c.kind for c in chunks} == {"window"}
    check_invariants(chunks, text)


@pytest.mark.parametrize("language", sorted(CASES))
def test_binary_junk_does_not_crash(code, language):
    junk = bytes(range(256)).decode("latin-1") * 20 + "\ud800 lone surrogate\n\x00\x00{{{(((\n"
    chunks = code.chunk("f", junk, language)
    check_invariants(chunks, junk)
    assert uncovered(chunks, junk) == []


@pytest.mark.parametrize("language", sorted(CASES))
def test_crlf_line_endings_keep_line_numbers(code, language):
    text, expected = CASES[language]
    crlf = text.replace("\n", "\r\n")
    chunks = code.chunk("f", crlf, language)
    assert spans(chunks) == expected
    check_invariants(chunks, crlf)


@pytest.mark.parametrize(("first", "second", "modules"), [
    (("a.rb", "def f\\nend\\n", "ruby"), ("a.lua", "function f()\\nend\\n", "lua"),
     "['tree_sitter_lua', 'tree_sitter_ruby']"),
    (("a.sh", "f() {\\n  :\\n}\\n", "shell"), ("a.kt", "fun f() {\\n}\\n", "kotlin"),
     "['tree_sitter_bash', 'tree_sitter_kotlin']"),
])
def test_grammars_load_lazily_per_language(first, second, modules):
    script = (
        "import sys\n"
        "from coderag.chunking.definitions import DefinitionChunker\n"
        "c = DefinitionChunker()\n"
        f"c.chunk('{first[0]}', '{first[1]}', '{first[2]}')\n"
        f"c.chunk('{second[0]}', '{second[1]}', '{second[2]}')\n"
        "print(sorted({m.split('.')[0] for m in sys.modules if m.startswith('tree_sitter_')}))\n"
    )
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == modules
