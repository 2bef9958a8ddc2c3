"""File-level ranking evidence: file-name words, coherence and per-file diversity."""
from __future__ import annotations

from coderag.ondisk.manifest import ChunkRow
from coderag.search.files import coherence_bonus
from coderag.search.files import diversify
from coderag.search.files import file_word_coverage
from coderag.search.fusion import Candidates
from coderag.search.fusion import rank_labels
from coderag.search.query import parse_query


def row(label: int, path: str, start: int, end: int, symbol: str = "") -> ChunkRow:
    return ChunkRow(label, path, "blob", start, end, "go", symbol, "function", f"text {label}")


def test_file_words_count_the_query_words_the_file_name_and_folder_spell():
    query = parse_query("panic recovery middleware")
    assert len(query.keywords) == 3
    assert file_word_coverage(query, "middleware/recoverer.go") > 0.6  # "recover..." and "middleware"
    assert 0 < file_word_coverage(query, "lib/recoverer.go") < 0.5
    assert file_word_coverage(query, "lib/logger.go") == 0.0


def test_a_bare_symbol_matches_the_file_named_after_it_only():
    assert file_word_coverage(parse_query("Disposable"), "Sources/Disposable.swift") == 1.0
    assert file_word_coverage(parse_query("Disposable"), "Sources/BinaryDisposable.swift") == 0.0
    assert file_word_coverage(parse_query("application"), "lib/application.js") == 1.0


def test_short_words_do_not_match_as_prefixes():
    query = parse_query("run the rows")  # "run" is too short to be a prefix of "runtime"
    assert file_word_coverage(query, "pkg/runtime.go") == 0.0
    assert file_word_coverage(query, "pkg/row.go") == 0.5  # the same word, stemmed


def test_coherence_rewards_the_file_with_most_candidate_evidence_on_its_best_chunk():
    scores = {1: 0.9, 2: 0.5, 3: 0.5, 4: 1.0}
    paths = {1: "a.go", 2: "a.go", 3: "a.go", 4: "b.go"}
    bonus = coherence_bonus(scores, paths.__getitem__)
    assert bonus == {1: 1.0, 4: 1.0 / 1.9}


def test_diversify_lowers_further_chunks_of_one_file():
    scores = {1: 1.0, 2: 0.9, 3: 0.8, 4: 0.6}
    paths = {1: "a.go", 2: "a.go", 3: "a.go", 4: "b.go"}
    out = diversify([1, 2, 3, 4], scores, paths.__getitem__, 0.5, lambda label: True, 3)
    assert [label for label, _ in out] == [1, 4, 2]
    assert dict(out)[2] == 0.45
    # No decay keeps the raw order; the early stop never drops a better candidate.
    assert [lb for lb, _ in diversify([1, 2, 3, 4], scores, paths.__getitem__, 0.0, lambda lb: True, 3)] == [1, 2, 3]


def test_ranking_brings_a_second_file_above_a_fifth_chunk_of_the_first():
    rows = {i: row(i, "shell/powershell_completions.go", i * 10, i * 10 + 8) for i in range(1, 6)}
    rows[6] = row(6, "completions.go", 1, 9)
    lexical = [(i, 10.0 - i / 10) for i in range(1, 6)] + [(6, 3.0)]
    semantic = [(6, 0.9)] + [(i, 0.5 - i / 100) for i in range(1, 6)]
    query = "shell completion request handling"
    ranked = [label for label, _ in rank_labels(query, Candidates(lexical, semantic), rows, 3,
                                                weights={"file_diversity": 0.5})]
    assert 6 in ranked
    flat = [label for label, _ in rank_labels(query, Candidates(lexical, semantic), rows, 3,
                                              weights={"file_diversity": 0, "file_coherence": 0,
                                                       "file_words": 0})]
    assert 6 not in flat
