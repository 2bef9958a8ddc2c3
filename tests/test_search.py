"""Fusion, query analysis, keyword documents and the lexical scorer, on small real fixtures."""
from __future__ import annotations

import random

import pytest

from coderag.analysis.documents import lexical_doc
from coderag.analysis.documents import name_tokens
from coderag.ondisk.manifest import ChunkRow
from coderag.protocols import Chunk
from coderag.protocols import LexicalDoc
from coderag.search.query import parse_query
from coderag.search.fusion import Candidates
from coderag.search.fusion import fuse
from coderag.search.fusion import rank
from coderag.search.fusion import rank_labels
from coderag.stores.whoosh_store import TEXT_FIELDS
from coderag.stores.whoosh_store import WhooshLexicalStore


def row(label: int, path: str, start: int = 1, end: int = 5, symbol: str = "", language: str = "python") -> ChunkRow:
    return ChunkRow(label, path, "blob", start, end, language, symbol, "function", f"text {label}")


# ---------------------------------------------------------------------- fusion


def test_fuse_scales_each_list_and_weights_them():
    c = Candidates(lexical=[(1, 30.0), (2, 20.0), (3, 10.0)], semantic=[(3, 0.9), (4, 0.5)])
    fused = fuse(c, "hybrid", {"lexical": 1.0, "semantic": 0.5})
    assert fused == pytest.approx({1: 1.0, 2: 0.5, 3: 0.5, 4: 0.0})
    assert fuse(c, "lexical", {"lexical": 1.0, "semantic": 0.5}) == pytest.approx({1: 1.0, 2: 0.5, 3: 0.0})
    assert fuse(c, "semantic", {"lexical": 1.0, "semantic": 0.5}) == pytest.approx({3: 1.0, 4: 0.0})
    assert fuse(Candidates([(7, 2.0), (8, 2.0)], []), "hybrid", {"lexical": 1.0, "semantic": 1.0}) == {7: 1.0, 8: 1.0}


def test_semantic_weight_lets_the_vectors_reorder():
    rows = {i: row(i, f"f{i}.py") for i in range(1, 5)}
    c = Candidates(lexical=[(1, 10.0), (2, 9.0), (3, 1.0)], semantic=[(2, 0.8), (4, 0.7), (1, 0.1)])
    assert [label for label, _ in rank_labels("how are retries done", c, rows, 3)][0] == 2
    assert [label for label, _ in rank_labels("how are retries done", c, rows, 3, weights={"semantic": 0})][0] == 1


def test_rank_drops_overlapping_spans_dead_labels_and_filters():
    rows = {1: row(1, "a.py", 1, 50), 2: row(2, "a.py", 10, 20), 3: row(3, "b.py", 1, 5),
            4: row(4, "web/c.js", 1, 5, language="javascript")}
    c = Candidates(lexical=[(1, 9.0), (2, 8.0), (3, 7.0), (5, 6.5), (4, 6.0), (6, 0.0)], semantic=[])
    hits = rank("retry", c, rows, 10, "lexical")
    assert [(h.path, h.start_line) for h in hits] == [("a.py", 1), ("b.py", 1), ("web/c.js", 1)]
    assert hits[0].text == "text 1" and hits[0].score >= hits[1].score >= hits[2].score
    assert [h.path for h in rank("retry", c, rows, 10, "lexical", language="javascript")] == ["web/c.js"]
    assert [h.path for h in rank("retry", c, rows, 10, "lexical", path_glob="web")] == ["web/c.js"]
    assert len(rank("retry", c, rows, 1, "lexical")) == 1
    with pytest.raises(ValueError):
        rank("retry", c, rows, 10, "fuzzy")


# ---------------------------------------------------------------------- queries


def test_symbol_and_sentence_queries():
    assert parse_query("APIRouter").is_symbol
    assert parse_query("Session.get_adapter").names == ("getadapter",)
    assert parse_query("Session.get_adapter").spellings == ("get_adapter",)
    assert parse_query("  std::vector::push_back ").is_symbol
    sentence = parse_query("how does APIRouter add routes")
    assert not sentence.is_symbol and sentence.names == ()


def test_query_terms_meet_document_tokens():
    # Stemming: the words of a question meet the code's names.
    doc = lexical_doc(1, Chunk("net/http.py", 1, 3, "def parse_headers(raw):\n    return raw", "python",
                               "parse_headers", "function"))
    body = set(doc.body.split()) | set(doc.symbol.split())
    assert set(parse_query("parsing a header").terms) <= body


def test_bare_names_that_are_stop_words_stay_findable():
    assert "every" in name_tokens("lodash-es/every.js")
    assert "every" in parse_query("every").terms
    assert name_tokens("is_empty") == ["isempty", "empty"]  # a stop word inside a name is still dropped


def test_abbreviations_expand_both_ways():
    assert {"config", "configur"} <= set(parse_query("load the cfg file").expansions)
    assert "cfg" in parse_query("load the configuration").expansions
    assert parse_query("cfg").expansions == ()  # a bare name is looked up as spelled


# ------------------------------------------------------- lexical scorer vs Whoosh


def _whoosh_reference(store: WhooshLexicalStore, tokens: list[str], k: int) -> list[tuple[int, float]]:
    """Whoosh's own BM25F search over the same query (the scorer must agree with it)."""
    from whoosh.query import Or
    from whoosh.query import Term

    s = store._current()
    results = s.search(Or([Term(f, t, boost=store.boosts[f]) for t in tokens for f in TEXT_FIELDS]), limit=k)
    return [(int(s.stored_fields(d)["label"]), float(score)) for score, d in results.top_n]


def test_posting_scorer_matches_whoosh_bm25f(tmp_path):
    rng = random.Random(7)
    words = [f"w{i}" for i in range(40)]
    docs = [LexicalDoc(i, " ".join(rng.choices(words, k=2)), " ".join(rng.choices(words, k=3)),
                       " ".join(rng.choices(words[:25], k=rng.randint(1, 60)))) for i in range(300)]
    store = WhooshLexicalStore(tmp_path / "w", segment_docs=120)  # several segments
    store.add(docs[:200])
    store.commit()
    store.add(docs[200:])
    store.delete(range(0, 200, 7))  # deletions inside committed segments
    store.commit()
    assert store.segment_count > 1
    for _ in range(20):
        tokens = rng.sample(words, rng.randint(1, 6))
        ours, reference = store.search(tokens, 300), _whoosh_reference(store, tokens, 300)
        assert [s for _, s in ours] == pytest.approx([s for _, s in reference], rel=1e-5)
        # The same documents with the same scores, best first (tied scores may swap).
        assert dict(ours) == pytest.approx(dict(reference), rel=1e-5)
        assert [s for _, s in ours] == sorted((s for _, s in ours), reverse=True)
        assert not {label for label, _ in ours} & set(range(0, 200, 7))
        assert store.search(tokens, 5) == ours[:5]
    store.close()
