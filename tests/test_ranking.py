"""Each ranking signal on a small fixture: it must change the order, and removing it must undo that."""
from __future__ import annotations

import pytest

from coderag.ondisk.manifest import ChunkRow
from coderag.search.query import parse_query
from coderag.search.ranking import definition_match
from coderag.search.ranking import is_example_path
from coderag.search.ranking import is_stub_path
from coderag.search.ranking import is_test_path
from coderag.search.ranking import leaf_name
from coderag.search.ranking import name_coverage
from coderag.search.ranking import prior
from coderag.search.ranking import symbol_match
from coderag.search.fusion import DEFAULT_WEIGHTS
from coderag.search.fusion import Candidates
from coderag.search.fusion import rank


def row(label: int, path: str, symbol: str = "", start: int = 1, end: int = 5, language: str = "python",
        kind: str = "function") -> ChunkRow:
    return ChunkRow(label, path, "blob", start, end, language, symbol, kind, f"text {label}")


def top(query: str, rows: list[ChunkRow], lexical: list[float], semantic: list[float] | None = None,
        **weights: float) -> list[str]:
    """``path:symbol`` in ranked order for candidates scored ``lexical``/``semantic``, index by index.

    A weak filler candidate anchors the bottom of the min-max scaling, so the
    given scores keep their proportions.
    """
    rows = [*rows, row(99, "zz/filler.py", "filler")]
    lexical = [*lexical, 0.0]
    semantic = [*semantic, 0.0] if semantic else None
    by_label = {r.label: r for r in rows}
    lex = sorted(((r.label, s) for r, s in zip(rows, lexical)), key=lambda p: -p[1])
    sem = sorted(((r.label, s) for r, s in zip(rows, semantic or [])), key=lambda p: -p[1])
    hits = rank(query, Candidates(lex, sem), by_label, 10, "hybrid" if semantic else "lexical", weights)
    return [f"{h.path}:{h.symbol}" for h in hits]


# ---------------------------------------------------------------- symbol match


def test_symbol_match_exact_spelling_beats_lookalikes():
    q = parse_query("Session")
    assert symbol_match(q, "Session") == 1.0
    assert symbol_match(q, "session") == 0.8  # case differs
    assert symbol_match(parse_query("extract"), "Traceback._extract") == 0.8  # underscore differs
    assert symbol_match(q, "SessionMixin") == 0.0
    assert symbol_match(q, "") == 0.0


def test_symbol_match_qualified_query_prefers_its_scope():
    q = parse_query("Session.get_adapter")
    assert symbol_match(q, "Session.get_adapter") == 1.0
    assert symbol_match(q, "Client.get_adapter") == 0.5
    assert symbol_match(q, "get_adapter") == 0.5


def test_sentence_queries_have_no_symbol_match():
    assert symbol_match(parse_query("how does APIRouter add routes"), "APIRouter") == 0.0


def test_definition_first_for_a_bare_symbol():
    rows = [row(1, "app/views.py", "index", 1, 30), row(2, "app/routing.py", "APIRouter", 1, 40)]
    # The file that uses APIRouter a lot outscores its definition on keywords alone.
    assert top("APIRouter", rows, [9.0, 6.0])[0] == "app/routing.py:APIRouter"
    assert top("APIRouter", rows, [9.0, 6.0], symbol_exact=0)[0] == "app/views.py:index"


def test_exact_spelling_wins_between_definitions():
    rows = [row(1, "a.py", "session"), row(2, "b.py", "Session")]
    assert top("Session", rows, [5.0, 4.9])[0] == "b.py:Session"


@pytest.mark.parametrize(("name", "text"), [
    ("APIRouter", "class APIRouter(Router):"),
    ("Name", "func (r *T) Name() string {"),
    ("name", "  local function M.name(x)"),
    ("parse", "    public static <T> List<T> parse(String s) {"),
    ("MAX_SIZE", "    static final int MAX_SIZE = 10;"),
    ("without", "var without = baseRest(function(array, values) {"),
    ("Foo", "CREATE TABLE Foo ("),
    ("Foo", "pub struct Foo<T> {"),
    ("mapM", "mapM :: Monad m => (a -> m b) -> [a] -> m [b]"),
    ("render", "  render() {"),
])
def test_definition_match_across_languages(name, text):
    assert definition_match(parse_query(name), f"// header\n{text}\n  body\n") == 1.0


@pytest.mark.parametrize(("name", "text"), [
    ("APIRouter", "router = APIRouter()"),
    ("APIRouter", "from fastapi import APIRouter"),
    ("APIRouter", "class Sub(APIRouter):"),
    ("APIRouter", "class apirouter:"),
    ("parse", "int x = parse(s);"),
    ("parse", "  } else if (parse(x)) {"),
    ("MAX_SIZE", "if x == MAX_SIZE:"),
    ("Foo", "impl Foo for Bar {"),
])
def test_definition_match_ignores_usages(name, text):
    assert definition_match(parse_query(name), text) == 0.0


@pytest.mark.parametrize("text", [
    "def parse(s):\n    return s",                      # the name on the first line
    "x = 1\nparse = make()",                            # on the last line, no newline after it
    "y = parse(s)\nz = parse(t)\ndef parse(s):\n  pass",  # usages before the definition
    "parser = 1\n  reparse()\nparse_all = 2",           # the name only inside longer words
    "int x = parse(s);\n",
    "",
])
def test_definition_match_only_searches_lines_naming_it_and_finds_what_the_whole_text_would(text):
    # The line-by-line search is a speed-up of one whole-text pattern search: they must agree.
    from coderag.search.ranking import _definition_pattern
    whole = 1.0 if _definition_pattern("parse").search(text) else 0.0
    assert definition_match(parse_query("parse"), text) == whole


def test_definition_found_in_a_window_without_symbol():
    # Languages without a grammar are indexed as line windows: no parsed symbol to match.
    rows = [ChunkRow(1, "app/views.rb", "b", 1, 40, "ruby", "", "window", "r = APIRouter.new\nr.get('/')"),
            ChunkRow(2, "app/router.rb", "b", 1, 40, "ruby", "", "window", "class APIRouter < Base\n  def get\n")]
    assert top("APIRouter", rows, [9.0, 6.0])[0] == "app/router.rb:"
    assert top("APIRouter", rows, [9.0, 6.0], symbol_exact=0)[0] == "app/views.rb:"


# --------------------------------------------------------------- name coverage


def test_name_coverage_counts_name_words_found_in_the_query():
    q = parse_query("Add a new layout to an existing split")
    assert name_coverage(q, "Layout.add_split") == pytest.approx(2 / 3)  # both words, two of three
    assert name_coverage(q, "Layout.split") == pytest.approx(1 / 3)  # one common word
    assert name_coverage(q, "Layout.render") == 0.0
    assert name_coverage(q, "") == 0.0
    assert name_coverage(parse_query("get the current split layout"), "get_current_split") == 1.0


def test_name_coverage_uses_stems_and_abbreviations():
    assert name_coverage(parse_query("parsing the configuration headers"), "parse_cfg_header") == 1.0


def test_name_words_lift_the_function_named_after_the_query():
    rows = [row(1, "layout.py", "Layout.split"), row(2, "layout.py", "Layout.add_split", 10, 20)]
    query = "Add a new layout to an existing split"
    assert top(query, rows, [6.0, 5.4])[0] == "layout.py:Layout.add_split"
    assert top(query, rows, [6.0, 5.4], name_words=0)[0] == "layout.py:Layout.split"


# ---------------------------------------------------------------------- priors


@pytest.mark.parametrize("path", ["tests/test_http.py", "src/pkg/tests/helpers.py", "pkg/http_test.go",
                                  "web/router.spec.ts", "lib/__tests__/a.js", "conftest.py",
                                  "src/test/java/FooTest.java", "testdata/x.json", "lib/router_spec.rb"])
def test_test_paths(path):
    assert is_test_path(path)


@pytest.mark.parametrize("path", ["src/contest.py", "pkg/testing_utils_impl/latest.py", "attest.py", "src/http.py"])
def test_not_test_paths(path):
    assert not is_test_path(path)


def test_example_and_stub_paths():
    assert is_example_path("examples/app.py") and is_example_path("docs/conf.py")
    assert not is_example_path("src/example_parser.py")
    assert is_stub_path("werkzeug/datastructures.pyi") and is_stub_path("index.d.ts")
    assert not is_stub_path("index.ts")


def test_prior_multiplies_penalties():
    w = DEFAULT_WEIGHTS
    assert prior("src/http.py", "python", w) == 1.0
    assert prior("tests/test_http.py", "python", w) == pytest.approx(1 - w["test_penalty"])
    assert prior("README.md", "markdown", w) == pytest.approx(1 - w["prose_penalty"])
    assert prior("docs/guide.md", "markdown", w) == pytest.approx((1 - w["example_penalty"]) * (1 - w["prose_penalty"]))


@pytest.mark.parametrize(("other", "weight"), [
    (("tests/test_retry.py", "python"), "test_penalty"),
    (("examples/retry_demo.py", "python"), "example_penalty"),
    (("RETRIES.md", "markdown"), "prose_penalty"),
    (("net/retry.pyi", "python"), "stub_penalty"),
])
def test_each_prior_puts_source_code_first(other, weight):
    path, language = other
    rows = [row(1, path, "", language=language), row(2, "net/retry.py", "")]
    query = "retry with exponential backoff"
    assert top(query, rows, [5.0, 4.5])[0] == "net/retry.py:"
    assert top(query, rows, [5.0, 4.5], **{weight: 0.0})[0] == f"{path}:"


def test_leaf_name():
    assert leaf_name("Session.get_adapter") == "get_adapter"
    assert leaf_name("std::vector::push_back") == "push_back"
    assert leaf_name("") == ""


def test_benchmark_files_count_as_examples():
    from coderag.search.ranking import is_example_path

    for path in ("absl/strings/str_cat_benchmark.cc", "src/parse_bench.rs", "gson/ParserBenchmark.java",
                 "lib/sort.bench.ts", "tools/bench_parse.py", "benchmarks/run.py"):
        assert is_example_path(path), path
    for path in ("src/benchmark.py", "src/workbench.py", "lib/bench.go", "absl/strings/str_cat.cc"):
        assert not is_example_path(path), path


def test_equal_scores_rank_by_the_tie_key_not_the_label():
    # Two files with the same text get the same score; a store whose labels change from one build
    # to the next passes a key of place, so the order is the same however the rows were written.
    from coderag.search.fusion import rank_labels
    rows = {7: row(7, "a/first.py"), 3: row(3, "b/second.py")}
    candidates = Candidates([(7, 1.0), (3, 1.0)], [])
    assert [label for label, _ in rank_labels("parse", candidates, rows, 2, "lexical")] == [3, 7]
    by_place = rank_labels("parse", candidates, rows, 2, "lexical", tie_key=lambda lb: rows[lb].path)
    assert [label for label, _ in by_place] == [7, 3]
    assert by_place[0][1] == by_place[1][1]


@pytest.mark.parametrize("text, question", [
    ("how does the router match a path", True), ("Where is the pool configured", True),
    ("retry with backoff?", True), ("Return the parsed header.", False), ("However the value", False),
    ("parse_header", False), ("ZodError structure and issue formatting", False)])
def test_questions_are_told_from_descriptions(text, question):
    assert parse_query(text).is_question is question


def test_a_question_spreads_its_hits_over_more_files():
    # Three chunks of one file lead; a question (which a file answers) takes the other file sooner.
    from coderag.search.fusion import rank_labels
    rows = {i: row(i, "core/router.py", start=10 * i, end=10 * i + 5) for i in (1, 2, 3)}
    rows[4], rows[5] = row(4, "core/match.py"), row(5, "docs/conf.py")
    candidates = Candidates([(1, 1.0), (2, 0.95), (3, 0.9), (4, 0.7), (5, 0.1)], [])
    weights = {"file_words": 0, "file_coherence": 0, "file_diversity": 0.1, "question_diversity": 0.5}
    files = lambda q: [rows[lb].path for lb, _ in rank_labels(q, candidates, rows, 2, "lexical", weights)]
    assert files("route matching for paths") == ["core/router.py", "core/router.py"]
    assert files("how are routes matched to paths") == ["core/router.py", "core/match.py"]
