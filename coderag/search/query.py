"""What a search query asks for: its keyword terms, the identifiers it names, its shape.

A query is either a bare symbol (``APIRouter``, ``parse_header``,
``Session.get_adapter``) or words (``"where are retries with backoff
handled"``).  The ranker treats the two shapes differently, so the analysis
is done once here.  Pure standard library; cheap enough to run on every query.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache

from coderag.analysis.documents import body_tokens
from coderag.analysis.documents import name_tokens
from coderag.analysis.tokenize import STOP_WORDS
from coderag.analysis.tokenize import split_identifier
from coderag.analysis.tokenize import stem

__all__ = ["Query", "parse_query", "name_terms", "ABBREVIATIONS"]

# A whole query that is one name, optionally qualified (``mod.func``, ``Type::new``).
_SYMBOL_QUERY = re.compile(r"^[A-Za-z_$][\w$]*(?:(?:\.|::|#|->)[A-Za-z_$][\w$]*)*(?:\(\))?$")

ABBREVIATIONS: dict[str, tuple[str, ...]] = {
    # Short forms that code spells out one way and prose another.  Each group
    # is symmetric: a query with any member also looks for the others.
    name: group
    for group in (
        ("cfg", "conf", "config", "configuration"),
        ("req", "request"),
        ("res", "resp", "response"),
        ("msg", "message"),
        ("err", "error"),
        ("ctx", "context"),
        ("env", "environment"),
        ("arg", "args", "argument"),
        ("param", "params", "parameter"),
        ("fn", "func", "function"),
        ("str", "string"),
        ("num", "number"),
        ("dir", "directory", "folder"),
        ("db", "database"),
        ("conn", "connection"),
        ("repo", "repository"),
        ("src", "source"),
        ("dst", "dest", "destination"),
        ("tmp", "temp", "temporary"),
        ("len", "length"),
        ("idx", "index"),
        ("obj", "object"),
        ("attr", "attribute"),
        ("val", "value"),
        ("var", "variable"),
        ("impl", "implementation"),
        ("info", "information"),
        ("doc", "docs", "document", "documentation"),
        ("pkg", "package"),
        ("lib", "library"),
        ("util", "utils", "utility"),
        ("prev", "previous"),
        ("cur", "curr", "current"),
        ("ref", "reference"),
        ("async", "asynchronous"),
        ("sync", "synchronous"),
        ("exec", "execute"),
        ("proc", "process"),
        ("addr", "address"),
        ("buf", "buffer"),
        ("cb", "callback"),
        ("mod", "module"),
        ("expr", "expression"),
        ("elem", "element"),
        ("col", "column"),
        ("iter", "iterator"),
        ("seq", "sequence"),
        ("auth", "authentication", "authorization"),
        ("init", "initialize", "initialise"),
        ("max", "maximum"),
        ("min", "minimum"),
        ("calc", "calculate"),
        ("cmd", "command"),
        ("opt", "opts", "option"),
        ("btn", "button"),
        ("img", "image"),
    )
    for name in group
}
"""Common code abbreviations and their spelled-out forms (not tuned to any corpus)."""


@dataclass(frozen=True)
class Query:
    """One analysed query.

    :ivar text: the query as typed, stripped.
    :ivar terms: stemmed keyword tokens for the lexical store, in query order.
    :ivar expansions: extra stemmed tokens from :data:`ABBREVIATIONS` (not in ``terms``).
    :ivar names: for a bare symbol query, its last component normalised by
        :func:`name_key` (``getadapter`` for ``Session.get_adapter``); else empty.
    :ivar spellings: the same, exactly as typed (``get_adapter``).
    :ivar qualified: the full normalised symbol of a bare symbol query
        (``session.getadapter``), or ``""``.
    :ivar is_symbol: the whole query is one identifier.
    :ivar word_set: stemmed sub-words of the query (with expansions), for
        matching against symbol and file names.
    :ivar keywords: the stemmed content words of the query as typed (no stop
        words, no expansions, at least 3 letters), once each, in order.
    :ivar is_question: the query is asked as a question (``how does the router
        match``, ``where is the pool configured?``): it asks where something
        happens, which a file or module answers, not one function.
    """

    text: str
    terms: tuple[str, ...]
    expansions: tuple[str, ...]
    names: tuple[str, ...]
    spellings: tuple[str, ...]
    qualified: str
    is_symbol: bool
    word_set: frozenset[str]
    keywords: tuple[str, ...] = ()
    is_question: bool = False


def name_key(name: str) -> str:
    """Spelling-independent form of an identifier: lower case, no ``_`` or ``$``."""
    return name.replace("_", "").replace("$", "").lower()


@lru_cache(maxsize=1 << 16)
def name_terms(name: str) -> tuple[str, ...]:
    """Stemmed sub-words of one identifier (``getHTTPAdapters`` -> ``get``, ``http``, ``adapt``)."""
    out = []
    for part in split_identifier(name):
        if part in STOP_WORDS or (len(part) < 2 and not part.isdigit()):
            continue
        out.append(stem(part))
    return tuple(dict.fromkeys(out))


def _last_component(symbol: str) -> str:
    return re.split(r"\.|::|#|->", symbol.removesuffix("()"))[-1]


_QUESTION = re.compile(r"(?i)(how|where|what|which|why|when)\b")
"""A question word opening the query (docstrings, the other kind of sentence query, rarely start so)."""


@lru_cache(maxsize=4096)
def parse_query(text: str) -> Query:
    """Analyse ``text`` (see :class:`Query`)."""
    text = text.strip()
    is_symbol = bool(_SYMBOL_QUERY.match(text))
    terms = tuple(dict.fromkeys(body_tokens(text)))
    if not terms:
        # Only stop words ("how is this"): keep them rather than search for nothing.
        terms = tuple(dict.fromkeys(name_tokens(" ".join(w for w in re.findall(r"\w+", text) if len(w) > 1))))
    spellings: list[str] = []
    qualified = ""
    if is_symbol:
        symbol = text.removesuffix("()")
        spellings.append(_last_component(symbol))
        qualified = ".".join(name_key(p) for p in re.split(r"\.|::|#|->", symbol))
        # A name that is also an English word (``every``, ``without``) is still a name.
        terms = tuple(dict.fromkeys(terms + tuple(name_tokens(spellings[0]))))
    spellings = [s for s in dict.fromkeys(spellings) if name_key(s)]
    words: set[str] = set()
    keywords: list[str] = []
    for word in re.findall(r"\w+", text):
        terms_of_word = name_terms(word)
        words.update(terms_of_word)
        keywords.extend(t for t in terms_of_word if len(t) > 2)
    expansions: list[str] = []
    # A bare symbol is looked up as spelled; words get their abbreviations' other forms.
    for word in re.findall(r"[A-Za-z]+", text) if not is_symbol else ():
        for part in split_identifier(word):
            for alt in ABBREVIATIONS.get(part, ()):
                for token in body_tokens(alt):
                    if token not in terms:
                        expansions.append(token)
    words.update(expansions)
    return Query(
        text=text,
        terms=terms,
        expansions=tuple(dict.fromkeys(expansions)),
        names=tuple(dict.fromkeys(name_key(s) for s in spellings)),
        spellings=tuple(spellings),
        qualified=qualified,
        is_symbol=is_symbol,
        word_set=frozenset(words),
        keywords=tuple(dict.fromkeys(keywords)),
        is_question=not is_symbol and bool(_QUESTION.match(text) or text.endswith("?")),
    )
