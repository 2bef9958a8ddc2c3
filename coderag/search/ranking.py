"""Code-aware ranking signals, each a small pure function of a query and a chunk.

:func:`coderag.search.rank` adds or multiplies these into the fused
retriever score.  They are kept apart from the fusion so that each can be
unit-tested on a tiny fixture and switched off (weight 0) for an ablation.

Match signals (added, scaled by their weights):

* :func:`symbol_match`: a bare symbol query (``APIRouter``) finds the
  chunk that defines it, exact spelling first; :func:`definition_match`
  does the same from the text, for chunks without a parsed symbol (windows
  of languages without a grammar).
* :func:`name_coverage`: how much of the chunk's own name the words of a
  sentence spell out (``"add a new split"`` covers ``add_split``):
  definitions are named after what they do.

Priors (multiplied): tests, examples and docs folders, prose files and type
stubs are rarely what a search is for; benchmark files count as examples.
File-level evidence (file-name words, coherence, per-file diversity) lives
in :mod:`coderag.search.files`.  Measured and left out: symbols mentioned
inside a sentence (+0.002 NDCG@10 on the external benchmark, -0.007 MRR@10
on the public corpus: docstrings mostly name parameters and other
functions) and a vendored-code penalty (one held-out package's queries are
mostly in its ``_vendor`` tree).
"""
from __future__ import annotations

import re
from functools import lru_cache

from coderag.search.query import Query
from coderag.search.query import name_key
from coderag.search.query import name_terms

_SEPARATORS = re.compile(r"\.|::|#|->")

_TEST_PATH = re.compile(
    r"(^|/)(tests?|testing|spec|specs|__tests__|__mocks__|test_?data|fixtures?)(/|$)"
    r"|(^|/)test_[^/]*$|(^|/)conftest\.py$|_(test|spec)\.\w+$|_tests\.py$|\.(spec|test)\.\w+$|Tests?\.\w+$"
)
_EXAMPLE_PATH = re.compile(
    r"(^|/)(examples?|samples?|demos?|docs?|benchmarks?|bench)(/|$)"
    # benchmark files beside the code they measure: "str_cat_benchmark.cc", "parse_bench.rs",
    # "ParserBenchmark.java", "sort.bench.ts", "bench_parse.py"
    r"|_(benchmarks?|bench)\.\w+$|[a-z]Benchmarks?\.\w+$|\.bench\.\w+$|(^|/)bench(mark)?_[^/]*$"
)
_STUB_SUFFIXES = (".pyi", ".d.ts", ".d.mts", ".d.cts")
NAME_WORDS_FULL = 3
"""A name needs this many words found in the query for full :func:`name_coverage`."""
PROSE_LANGUAGES = frozenset({"markdown", "rst", "text", "latex", "asciidoc"})
"""Languages of documentation files: prose about the code, not the code."""


def leaf_name(symbol: str) -> str:
    """The last component of a qualified symbol (``Session.get_adapter`` -> ``get_adapter``)."""
    return _SEPARATORS.split(symbol)[-1] if symbol else ""


def symbol_match(query: Query, symbol: str) -> float:
    """How well the chunk's name matches a name in the query (0..1).

    1.0 when the chunk's name is spelled exactly as in the query, 0.8 when
    only case and ``_`` differ (``session`` for ``Session``, ``_extract`` for
    ``extract``), so the exact definition wins over look-alikes.  A qualified
    query (``Session.get_adapter``) matching a name in another scope gets half.
    """
    if not symbol or not query.names:
        return 0.0
    leaf = leaf_name(symbol)
    if name_key(leaf) not in query.names:
        return 0.0
    score = 1.0 if leaf in query.spellings else 0.8
    if query.qualified and "." in query.qualified:
        qualified = ".".join(name_key(p) for p in _SEPARATORS.split(symbol))
        if not qualified.endswith(query.qualified):
            score /= 2  # right name, another scope
    return score


_DEFINERS = (
    "class|struct|interface|trait|enum|union|record|protocol|extension|object|module|namespace|type|typedef"
    "|def|defp|defmacro|defmodule|fun|func|function|fn|sub|proc|macro|let|const|var|val|table|view|procedure"
)


@lru_cache(maxsize=256)
def _definition_pattern(name: str) -> re.Pattern[str]:
    n = re.escape(name)
    tokens = r"(?:[\w$*&<>\[\],.:]+[ \t]+|\([^)\n]*\)[ \t]*)*"  # modifiers, types, a Go receiver
    return re.compile(
        # a defining keyword, then the name: "class APIRouter", "func (r *T) Name(", "pub fn name",
        # "local function M.name", "CREATE TABLE name" (not "class Sub(APIRouter)")
        rf"(?m:(?<![\w$])(?i:{_DEFINERS})[ \t]+{tokens}(?:[\w$]+(?:\.|::))*{n}(?![\w$]))"
        # an assignment: "NAME = ...", "static final int NAME = ...", "name: Type = ...", "x.name = ..."
        rf"|(?m:^[ \t]*{tokens}(?:[\w$]+\.)*{n}[ \t]*(?::[^=\n]*)?=(?!=))"
        # a C-like definition: "public Foo name(...) {", "name() {" (a call ends with ";" or sits
        # inside an expression)
        rf"|(?m:^[ \t]*{tokens}{n}[ \t]*\([^;\n]*\)[ \t\w]*\{{)"
        # a Haskell-style signature: "name :: Type"
        rf"|(?m:^{n}[ \t]*::)"
    )


def definition_match(query: Query, text: str) -> float:
    """1.0 when ``text`` defines the name of a bare symbol query, else 0.0.

    For chunks without a parsed symbol (line windows of languages without a
    grammar, assignments such as ``const without = baseRest(...)``): a
    defining keyword, an assignment or a C-like definition of the name as
    spelled, in any common language.  Usages (calls, imports, annotations)
    do not match.
    """
    if not query.spellings or not text:
        return 0.0
    name = query.spellings[0]
    pattern = _definition_pattern(name)
    # Every alternative of the pattern lies within one line and spells the name, so only the lines
    # holding the name are searched: the pattern's optional modifier runs backtrack at every line
    # start, which made this the most expensive step of a bare-name search.
    start = text.find(name)
    while start != -1:
        line_start = text.rfind("\n", 0, start) + 1
        line_end = text.find("\n", start)
        line_end = len(text) if line_end == -1 else line_end
        if pattern.search(text, line_start, line_end):
            return 1.0
        start = text.find(name, line_end)
    return 0.0


def name_coverage(query: Query, symbol: str) -> float:
    """How much of the chunk's own name the query spells out (0..1).

    The share of the name's words found in the query, times the number of
    words found (up to :data:`NAME_WORDS_FULL`) over that number: ``add_split``
    is fully covered by ``"Add a new layout to the split"``, while a
    one-word name such as ``split`` matched by one common word counts a third.
    """
    words = _symbol_words(symbol)
    if not words:
        return 0.0
    hits = sum(1 for w in words if w in query.word_set)
    return hits / len(words) * min(hits, NAME_WORDS_FULL) / NAME_WORDS_FULL


@lru_cache(maxsize=1 << 16)
def _symbol_words(symbol: str) -> tuple[str, ...]:
    return name_terms(leaf_name(symbol)) if symbol else ()


def is_test_path(path: str) -> bool:
    """Tests, fixtures and mocks (by folder or file naming conventions of common languages)."""
    return bool(_TEST_PATH.search(path))


def is_example_path(path: str) -> bool:
    """Examples, docs and benchmarks: code that uses the project rather than defines it."""
    return bool(_EXAMPLE_PATH.search(path))


def is_stub_path(path: str) -> bool:
    """Type declaration files (``.pyi``, ``.d.ts``): signatures without the implementation."""
    return path.endswith(_STUB_SUFFIXES)


def prior(path: str, language: str, weights: dict[str, float]) -> float:
    """Multiplier (<= 1) for where a chunk lives; 1.0 for ordinary source code."""
    test, example, prose, stub = _path_kinds(path, language)
    factor = 1.0
    if test:
        factor *= 1.0 - weights["test_penalty"]
    if example:
        factor *= 1.0 - weights["example_penalty"]
    if prose:
        factor *= 1.0 - weights["prose_penalty"]
    if stub:
        factor *= 1.0 - weights["stub_penalty"]
    return factor


@lru_cache(maxsize=1 << 16)
def _path_kinds(path: str, language: str) -> tuple[bool, bool, bool, bool]:
    return is_test_path(path), is_example_path(path), language in PROSE_LANGUAGES, is_stub_path(path)
