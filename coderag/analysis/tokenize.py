"""Code-aware tokens for lexical indexing and queries (standard library only).

One function of this module runs over every byte of a full index, so it is
built for speed: one compiled regex finds the words, and the (cached)
per-word expansion makes the cost per occurrence a dictionary lookup, since
code vocabularies are small and very repetitive.

Rules shared by documents (:func:`code_tokens`) and queries
(:func:`query_tokens`), so that both sides always agree:

* A *word* is a run of ``\\w`` characters (letters, digits, ``_``; any
  script).  Words longer than :data:`MAX_WORD` are skipped: they are data
  (base64, hashes, minified blobs), not names anyone searches for.
* A word yields its *whole* form, lower-cased with underscores removed
  (``parse_header`` and ``parseHeader`` both give ``parseheader``, so snake
  and camel spellings of a name meet), followed by its sub-words from
  :func:`split_identifier` when there are several.
* One-character tokens are dropped, except a digit that is a sub-word of a
  longer name (``utf8`` -> ``utf``, ``8``; ``sha1``): single letters (``i``,
  ``x``, ``n``) and lone digit literals (``0``, ``1``) occur in nearly every
  chunk, so they carry no ranking signal and would only inflate postings;
  a digit inside a name is what tells ``utf8`` from ``utf16``.
* English stop words (:data:`STOP_WORDS`) are dropped everywhere; a query
  made only of stop words keeps them rather than becoming empty.
* ``stem=True`` maps each token through :func:`stem`; pass the same value
  when indexing and querying.
"""
from __future__ import annotations

import re
from functools import lru_cache
from itertools import chain

__all__ = [
    "MAX_WORD",
    "STOP_WORDS",
    "code_tokens",
    "query_tokens",
    "split_identifier",
    "stem",
]

MAX_WORD = 64
"""Words longer than this many characters are not indexed."""

STOP_WORDS = frozenset(
    """
    a an the and or but nor of to in on at by for from with without into onto
    is are was were be been being am it its this that these those there here
    as if then than so such do does did done doing has have had having
    can could should would will shall may might must
    how what where which who whom whose when why
    i me my we our you your he she they them their his her
    not no yes any all some each every very also just only about
    """.split()
)
"""Small built-in English stop list (function words common in questions and comments)."""

# Whole words: \w+ covers identifiers, numbers and words in comments and strings.
_WORD = re.compile(r"\w+")
# Sub-words: an acronym before a capitalised word (HTTP in HTTPHeader), a
# capitalised or lower-case run, a trailing acronym, or a digit run.  The
# "lower" class is any word character that is not an ASCII capital, a digit
# or "_", so non-ASCII letters stay inside their word.
_LOWER = r"[^\W\dA-Z_]"
_SUBWORD = re.compile(
    rf"[A-Z]+(?=[A-Z]{_LOWER})|[A-Z]?{_LOWER}+|[A-Z]+|\d+"
)
# A word with this many digit runs is treated as data (hashes, hex blobs):
# it is kept whole but not split into junk sub-words.
_MAX_DIGIT_RUNS = 4
_DIGITS = re.compile(r"\d+")


def split_identifier(word: str) -> list[str]:
    """Split an identifier into lower-cased sub-words.

    ``parseHTTPHeader`` -> ``["parse", "http", "header"]``,
    ``snake_case_name`` -> ``["snake", "case", "name"]``,
    ``utf8Decode2`` -> ``["utf", "8", "decode", "2"]``.
    Nothing is filtered out here; :func:`code_tokens` applies the length and
    stop-word rules.
    """
    return [part.lower() for part in _SUBWORD.findall(word)]


@lru_cache(maxsize=1 << 18)
def _expand(word: str) -> tuple[str, ...]:
    """The tokens of one word occurrence (see the module rules)."""
    if len(word) > MAX_WORD:
        return ()
    whole = word.replace("_", "").lower()
    parts = _SUBWORD.findall(word)
    out: list[str] = []
    if len(whole) > 1 and whole not in STOP_WORDS:
        out.append(whole)
    if len(parts) > 1 and len(_DIGITS.findall(word)) <= _MAX_DIGIT_RUNS:
        for part in parts:
            part = part.lower()
            if part == whole:
                continue
            if len(part) > 1 or part.isdigit():
                if part not in STOP_WORDS:
                    out.append(part)
    return tuple(out)


@lru_cache(maxsize=1 << 18)
def _expand_stemmed(word: str) -> tuple[str, ...]:
    return tuple(stem(token) for token in _expand(word))


def code_tokens(text: str, stem: bool = False) -> list[str]:
    """Tokens for indexing ``text`` (code, comments and strings alike).

    For each word: its whole lower-cased form, then its sub-words when it
    has several (``parseHTTPHeader`` -> ``parsehttpheader``, ``parse``,
    ``http``, ``header``).  Order follows the text; repeats are kept, since
    they are term frequencies.  With ``stem=True`` every token goes through
    :func:`stem`; queries must then use ``query_tokens(..., stem=True)``.
    """
    expand = _expand_stemmed if stem else _expand
    return list(chain.from_iterable(map(expand, _WORD.findall(text))))


def query_tokens(query: str, stem: bool = False) -> list[str]:
    """Tokens for a user query, treated exactly like :func:`code_tokens`.

    Works for sentences (``"where are http headers parsed"`` -> ``http``,
    ``headers``, ``parsed``) and bare identifiers (``APIRouter`` ->
    ``apirouter``, ``api``, ``router``).  Duplicates are removed (first
    occurrence kept), since stores build one clause per distinct token.  If
    every word is a stop word, the stop words are kept so that the query
    is not empty.
    """
    tokens = code_tokens(query, stem=stem)
    if not tokens:
        # e.g. "how is this" or a lone stop-word identifier: better than nothing.
        words = [w.lower() for w in _WORD.findall(query) if len(w) > 1]
        tokens = [_stem(w) for w in words] if stem else words
    return list(dict.fromkeys(tokens))


# ---------------------------------------------------------------------------
# stemming
# ---------------------------------------------------------------------------

_VOWEL = re.compile(r"[aeiouy]")
# Irregular forms worth conflating, checked first.
_IRREGULAR = {
    "using": "use",
    "used": "use",
    "children": "child",
    "indices": "index",
    "vertices": "vertex",
    "matrices": "matrix",
    "analyses": "analysis",
    "ids": "id",
    "embed": "embed",  # not a past tense
    "embeds": "embed",
}
# Adverbs: only shapes that are reliably adverbs are stripped ("apply",
# "only", "readonly", "assembly" must survive).
_ADVERB = (("ically", "ic"), ("ively", "ive"), ("ously", "ous"), ("fully", "ful"),
           ("ally", "al"), ("tly", "t"))
# Derivational endings, longest first, with the shortest stem they may leave.
_DERIVED = (
    ("ization", "", 3), ("isation", "", 3), ("ation", "", 3), ("ator", "", 3),
    ("izer", "", 3), ("iser", "", 3), ("ize", "", 3), ("ise", "", 4),
    ("ction", "ct", 2), ("ption", "pt", 2), ("ment", "", 4), ("ness", "", 4),
    ("able", "", 4), ("ible", "", 4), ("ity", "", 4), ("ate", "", 3),
    ("ful", "", 4), ("er", "", 3),
)


def _undouble(word: str) -> str:
    # "mapp" -> "map", "embedd" -> "embed"; never "ll", "ss", "zz" (call, pass).
    if len(word) > 3 and word[-1] == word[-2] and word[-1] not in "aeiouylsz":
        return word[:-1]
    return word


@lru_cache(maxsize=1 << 18)
def _stem(word: str) -> str:
    irregular = _IRREGULAR.get(word)
    if irregular is not None:
        return irregular
    if len(word) <= 3 or not word.isalpha() or not word.isascii():
        return word
    # 1. plurals and third person: -ies, -sses, -xes/-ches/-shes, -s
    if word.endswith(("ies", "ied", "ier")) and len(word) > 5:
        word = word[:-3] + "y"
    elif word.endswith("sses"):
        word = word[:-2]
    elif word.endswith(("xes", "ches", "shes", "zzes")):
        word = word[:-2]
    elif word.endswith("s") and not word.endswith(("ss", "us", "ias")) and (
        not word.endswith("is") or len(word) <= 4  # "apis", "uris"; not "analysis"
    ):
        word = word[:-1]
    # 2. inflections: -ing, -ed (stem keeps a vowel), and adverbs
    for suffix in ("ing", "ed"):
        if word.endswith(suffix) and not word.endswith("eed"):
            base = word[: -len(suffix)]
            if len(base) >= 3 and _VOWEL.search(base):
                undoubled = _undouble(base)
                # Put back the "e" that "ate", "able", "ize" lost, so that
                # step 3 treats "validating" like "validate" (but "formatted"
                # is "format", not "formate").
                if undoubled == base and base.endswith(("at", "bl", "iz")):
                    undoubled += "e"
                word = undoubled
            break
    else:
        for suffix, repl in _ADVERB:
            if word.endswith(suffix) and len(word) - len(suffix) >= 3:
                word = word[: -len(suffix)] + repl
                break
    # 3. derivational endings, at most two ("documentation" -> "document" -> "docu")
    for _ in range(2):
        for suffix, repl, min_stem in _DERIVED:
            if word.endswith(suffix):
                base = word[: -len(suffix)]
                if len(base) >= min_stem and _VOWEL.search(base):
                    word = base + repl
                    if suffix == "er":
                        word = _undouble(word)  # "getter" -> "get"
                    break
                return _drop_e(word)
        else:
            break
    return _drop_e(word)


def _drop_e(word: str) -> str:
    # A final "e" goes, so "parse" meets "parsing" and "parser".
    if len(word) > 3 and word.endswith("e"):
        word = word[:-1]
    return word


def stem(token: str) -> str:
    """A light, deterministic English stemmer tuned for code words.

    Conflates the forms a question and the code use for one concept:
    plurals (``headers``, ``entries``, ``classes``), ``-ing``/``-ed``
    (``parsing``, ``mapped``), ``-er``/``-ator``/``-ation``/``-ize``/``-able``
    and a few adverb shapes, so ``parse``/``parser``/``parsing``/``parsed``
    all become ``pars`` and ``validation``/``validator``/``validate`` become
    ``valid``.  Stems are not words; they only have to agree.  Tokens of up
    to three characters, non-ASCII tokens and tokens with digits are left
    alone.  Memoised.
    """
    return _stem(token)
