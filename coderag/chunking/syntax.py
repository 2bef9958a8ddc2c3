"""Tree-sitter plumbing shared by the per-language definition finders.

Grammars are imported on first use of their language and cached per process
in module-level dicts (parser objects do not pickle, so chunker instances
never hold them).  Measured on 2 shared cores: ``import tree_sitter`` ~6 ms,
then per language ~1-9 ms for grammar import + parser + query, and well under
1 ms for a first small parse.
"""
from __future__ import annotations

import importlib
from typing import TYPE_CHECKING
from typing import NamedTuple

if TYPE_CHECKING:
    from tree_sitter import Node
    from tree_sitter import Parser
    from tree_sitter import Query

# language name -> (grammar module, function returning the language pointer)
GRAMMARS: dict[str, tuple[str, str]] = {
    "python": ("tree_sitter_python", "language"),
    "javascript": ("tree_sitter_javascript", "language"),
    "typescript": ("tree_sitter_typescript", "language_typescript"),
    "tsx": ("tree_sitter_typescript", "language_tsx"),
    "go": ("tree_sitter_go", "language"),
    "rust": ("tree_sitter_rust", "language"),
    "java": ("tree_sitter_java", "language"),
    "c": ("tree_sitter_c", "language"),
    "cpp": ("tree_sitter_cpp", "language"),
    "ruby": ("tree_sitter_ruby", "language"),
    "elixir": ("tree_sitter_elixir", "language"),
    "lua": ("tree_sitter_lua", "language"),
    "swift": ("tree_sitter_swift", "language"),
    "kotlin": ("tree_sitter_kotlin", "language"),
    "shell": ("tree_sitter_bash", "language"),
}

CLASS_LIKE = frozenset({"class", "struct", "union", "interface", "trait", "impl", "enum", "object"})
"""Kinds whose member functions are methods (a function in a namespace stays a function)."""


class Found(NamedTuple):
    """What a language spec says about a captured node."""

    name: str
    kind: str
    container: bool
    """True for class-like scopes: their member functions are always separate chunks."""
    outer: "Node"
    """The node whose span the definition covers (with decorators, ``export``, ``template<>``...)."""
    body: "Node | None"
    """The body, to find where the header ends; ``None`` means a one-line header."""


class LanguageSpec:
    """How to find definitions in one tree-sitter grammar.

    ``query`` captures candidate nodes as ``@def``; :meth:`classify` turns a
    candidate into a :class:`Found` or rejects it (anonymous callbacks...).
    Comments of ``comment_types`` and nodes of ``attach_types`` (decorators,
    attributes) directly above a definition become part of its span.
    """

    query: str = ""
    comment_types: frozenset[str] = frozenset({"comment"})
    attach_types: frozenset[str] = frozenset()
    sep: str = "."
    """Separator of qualified names (``Class.method``; ``A::b`` in C++)."""

    def preprocess(self, src: bytes) -> bytes:
        """The bytes handed to the parser: same length and newlines as ``src`` (default: unchanged)."""
        return src

    def classify(self, node: "Node") -> Found | None:
        raise NotImplementedError


def text_of(node: "Node | None", limit: int = 200) -> str:
    """The source text of ``node`` (decoded, whitespace-collapsed, at most ``limit`` chars)."""
    if node is None:
        return ""
    raw = node.text or b""
    return " ".join(raw[: limit * 2].decode("utf-8", "replace").split())[:limit]


def field_text(node: "Node", field: str) -> str:
    return text_of(node.child_by_field_name(field))


def last_row(node: "Node") -> int:
    """0-based last line of ``node``; a node ending just after a newline ends on the line before."""
    end = node.end_point
    if end.column == 0 and end.row > node.start_point.row:
        return end.row - 1
    return end.row


_LOADED: dict[str, tuple["Parser", "Query", "Query"]] = {}


def has_grammar(language: str) -> bool:
    return language in GRAMMARS


def load(language: str, spec: LanguageSpec) -> tuple["Parser", "Query", "Query"]:
    """Return the cached ``(parser, definitions query, error query)`` for ``language``.

    Imports the grammar wheel on the first call in this process.
    """
    cached = _LOADED.get(language)
    if cached is not None:
        return cached
    from tree_sitter import Language
    from tree_sitter import Parser
    from tree_sitter import Query

    module_name, func = GRAMMARS[language]
    lang = Language(getattr(importlib.import_module(module_name), func)())
    cached = (Parser(lang), Query(lang, spec.query), Query(lang, "(ERROR) @e"))
    _LOADED[language] = cached
    return cached


def error_fraction(root: "Node", error_query: "Query", size: int) -> float:
    """Fraction of the source bytes that the parser could not make sense of (0.0 for a clean parse).

    Only the innermost ``ERROR`` nodes count, less the error-free multi-line
    constructs the parser still recognised inside them.  An error wraps
    everything it could not close: one unknown macro in a C++ header
    (``int f() ABSL_LOCKS_EXCLUDED(mu);``) turned the whole ``#ifndef`` guard
    into one ``ERROR`` whose classes and functions are nonetheless parsed
    fine, and one ``#ifdef`` in a C initializer did the same to the rest of
    its file.
    """
    if not root.has_error or size == 0:
        return 0.0
    from tree_sitter import QueryCursor

    errors = sorted(
        QueryCursor(error_query).captures(root).get("e", []), key=lambda n: (n.start_byte, -n.end_byte)
    )
    if root.type == "ERROR" and not errors:
        errors = [root]
    bad = 0
    for i, node in enumerate(errors):
        following = errors[i + 1] if i + 1 < len(errors) else None
        if following is not None and following.start_byte < node.end_byte:
            continue  # holds a smaller error: that one is counted instead
        bad += node.end_byte - node.start_byte
        for child in node.named_children:
            if not child.has_error and child.end_point.row > child.start_point.row:
                bad -= child.end_byte - child.start_byte
    return bad / size
