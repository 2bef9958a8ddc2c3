"""Query analysis and keyword documents: the two sides of the lexical match must agree."""
from __future__ import annotations

from coderag.documents import lexical_doc
from coderag.documents import name_tokens
from coderag.protocols import Chunk
from coderag.query import parse_query


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
