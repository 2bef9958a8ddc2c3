from __future__ import annotations

import pytest

from coderag.analysis.tokenize import STOP_WORDS
from coderag.analysis.tokenize import code_tokens
from coderag.analysis.tokenize import query_tokens
from coderag.analysis.tokenize import split_identifier
from coderag.analysis.tokenize import stem


@pytest.mark.parametrize(
    ("word", "parts"),
    [
        ("parseHTTPHeader", ["parse", "http", "header"]),
        ("snake_case_name", ["snake", "case", "name"]),
        ("utf8Decode2", ["utf", "8", "decode", "2"]),
        ("APIRouter", ["api", "router"]),
        ("IOError", ["io", "error"]),
        ("getX", ["get", "x"]),
        ("MAX_SIZE", ["max", "size"]),
        ("__init__", ["init"]),
        ("plain", ["plain"]),
        ("ÄpfelBaum", ["äpfel", "baum"]),
    ],
)
def test_split_identifier(word, parts):
    assert split_identifier(word) == parts


def test_code_tokens_whole_then_parts():
    assert code_tokens("parseHTTPHeader") == ["parsehttpheader", "parse", "http", "header"]
    # a single-part word is not repeated
    assert code_tokens("header") == ["header"]


def test_code_tokens_snake_and_camel_meet():
    assert code_tokens("parse_header")[0] == code_tokens("parseHeader")[0] == "parseheader"


def test_code_tokens_covers_comments_and_strings_keeps_repeats():
    toks = code_tokens('x = load(path)  # retry the Download\ns = "retry later"')
    assert toks.count("retry") == 2
    assert "download" in toks and "later" in toks and "load" in toks


def test_code_tokens_one_character_rule():
    toks = code_tokens("for i in range(0, n): x[i] = utf8(1)")
    assert "i" not in toks and "x" not in toks and "n" not in toks
    assert "0" not in toks and "1" not in toks  # lone digit literals
    assert "8" in toks and "utf8" in toks  # digit inside a name survives
    assert "range" in toks
    assert "42" in code_tokens("retries = 42")


def test_code_tokens_drops_stop_words_and_data_words():
    toks = code_tokens("# return the value of this\nreturn isEmpty")
    assert "the" not in toks and "of" not in toks and "this" not in toks
    assert "isempty" in toks and "empty" in toks and "is" not in toks
    assert code_tokens("a" * 65) == []
    digest = "d41d8cd98f00b204e9800998ecf8427e"
    assert code_tokens(digest) == [digest]  # kept whole, not split into junk


def test_code_tokens_stem_option():
    assert code_tokens("parsedHeaders", stem=True) == ["parsedhead", "pars", "head"]
    assert code_tokens("parsedHeaders") == ["parsedheaders", "parsed", "headers"]


@pytest.mark.parametrize(
    "forms",
    [
        "parse parser parsers parsing parsed parses",
        "validate validation validator validating validated",
        "header headers",
        "entry entries",
        "class classes",
        "match matches matching matched",
        "map maps mapping mapped mapper",
        "embed embeds embedding embedded embedder",
        "handle handler handlers handling handled",
        "filter filters filtering filtered",
        "configure configuration configured configuring",
        "serialize serializer serialization serialized",
        "iterate iterator iteration iterating",
        "format formatted formatting formatter",
        "query queries querying",
        "identify identifier identified",
        "use using used uses",
        "connect connection connections",
        "api apis",
        "correct correctly",
    ],
)
def test_stem_conflates_forms(forms):
    assert len({stem(w) for w in forms.split()}) == 1, [stem(w) for w in forms.split()]


@pytest.mark.parametrize(
    "word",
    ["status", "analysis", "class", "alias", "string", "only", "apply", "readonly", "speed", "utf8", "ab"],
)
def test_stem_leaves_alone(word):
    assert stem(word) == word


def test_stem_keeps_distinct_concepts_apart():
    assert stem("string") != stem("str")
    assert stem("user") != stem("use")
    assert stem("element") != stem("elect")


def test_query_tokens_sentence():
    assert query_tokens("where are http headers parsed") == ["http", "headers", "parsed"]
    assert query_tokens("Where are HTTP headers parsed?", stem=True) == ["http", "head", "pars"]


def test_query_tokens_identifiers():
    assert query_tokens("APIRouter") == ["apirouter", "api", "router"]
    assert query_tokens("parse_header") == ["parseheader", "parse", "header"]
    assert query_tokens("parse header parse") == ["parse", "header"]  # deduplicated


def test_query_tokens_match_index_tokens():
    doc = set(code_tokens("def parse_http_header(raw):\n    '''Parse the headers.'''", stem=True))
    assert set(query_tokens("how are HTTP headers parsed", stem=True)) <= doc


def test_query_of_only_stop_words_is_not_empty():
    assert query_tokens("how is this") == ["how", "is", "this"]
    assert query_tokens("") == []
    assert {"the", "where", "how", "is", "are", "does", "of"} <= STOP_WORDS
