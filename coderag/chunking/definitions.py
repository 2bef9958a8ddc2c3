"""The ``code`` chunker: one chunk per definition, found with tree-sitter.

Rules, in the order they apply:

* Every function and method is its own chunk, with the decorators,
  attributes and comment block directly above it (no blank line between).
  Functions nested in a function stay inside it.
* A class-like scope (class, struct, impl, trait, interface, enum, namespace,
  an object literal of functions) never contains its members' chunks: its own
  chunks cover the header, docstring and fields, i.e. the lines between
  members.  Members carry the enclosing header line(s) as ``context``.
* A definition longer than ``max_lines`` is split: its nested definitions get
  their own chunks and the rest is cut into windows of ``window`` lines
  (``overlap`` shared) that keep its symbol and get its header as context.
* Code between top-level definitions is covered by windows of kind
  ``module``.  Lines holding only closing brackets are left out; every other
  non-blank line is in some chunk.
* Languages without a grammar, files that mostly fail to parse, and minified
  files get :class:`~coderag.chunking.windows.WindowChunker` windows.
"""
from __future__ import annotations

import re

from coderag.chunking import syntax
from coderag.chunking.lang_bash import BashSpec
from coderag.chunking.lang_c import CppSpec
from coderag.chunking.lang_c import CSpec
from coderag.chunking.lang_elixir import ElixirSpec
from coderag.chunking.lang_go import GoSpec
from coderag.chunking.lang_java import JavaSpec
from coderag.chunking.lang_javascript import JavaScriptSpec
from coderag.chunking.lang_javascript import TypeScriptSpec
from coderag.chunking.lang_kotlin import KotlinSpec
from coderag.chunking.lang_lua import LuaSpec
from coderag.chunking.lang_python import PythonSpec
from coderag.chunking.lang_ruby import RubySpec
from coderag.chunking.lang_rust import RustSpec
from coderag.chunking.lang_swift import SwiftSpec
from coderag.chunking.windows import WindowChunker
from coderag.chunking.windows import in_order
from coderag.chunking.windows import make_chunks
from coderag.chunking.windows import split_lines
from coderag.chunking.windows import trim_blank
from coderag.chunking.windows import window_spans
from coderag.protocols import Chunk

DEFINITIONS_VERSION = "3"

SPECS: dict[str, syntax.LanguageSpec] = {
    "python": PythonSpec(),
    "javascript": JavaScriptSpec(),
    "typescript": TypeScriptSpec(),
    "tsx": TypeScriptSpec(),
    "go": GoSpec(),
    "rust": RustSpec(),
    "java": JavaSpec(),
    "c": CSpec(),
    "cpp": CppSpec(),
    "ruby": RubySpec(),
    "elixir": ElixirSpec(),
    "lua": LuaSpec(),
    "swift": SwiftSpec(),
    "kotlin": KotlinSpec(),
    "shell": BashSpec(),
}

MAX_ERROR_FRACTION = 0.5
"""Above this share of unparsed bytes, definitions are guesses: use windows instead."""

MINIFIED_LINE_CHARS = 300
"""Average line length above which a file is treated as minified (windows only)."""

# Lines that close a scope ("}", "})();", "}  // namespace x", Ruby/Elixir/Lua "end", "end)"):
# nothing to search in them.
_ONLY_CLOSERS = re.compile(
    r"\s*(?:(?:[)\]}]|end\b)(?:[\s()\[\]{};,]|end\b)*(?://.*|/\*.*|#.*|--.*)?)?"
)
_HEADER_LINES = 4
_HEADER_CHARS = 200


class _Def:
    """A definition found in the tree, with its span and its nested definitions."""

    __slots__ = ("lo", "hi", "start", "end", "name", "kind", "container", "header", "head_end", "children")

    def __init__(self, lo, hi, start, end, name, kind, container, header, head_end):
        self.lo, self.hi = lo, hi  # 0-based rows, decorators and doc comments included
        self.start, self.end = start, end  # bytes of the outer node, for nesting
        self.name, self.kind, self.container = name, kind, container
        self.header, self.head_end = header, head_end  # header text, its last row
        self.children: list[_Def] = []


class DefinitionChunker:
    """Definition-level chunks (functions, methods, classes...) with a window fallback.

    Supports Python, JavaScript, TypeScript/TSX, Go, Rust, Java, C, C++, Swift,
    Kotlin, shell (bash), Ruby, Elixir and Lua through tree-sitter grammars,
    imported per language on first use.  Holds only its options, so it
    pickles into worker processes; parsers live in a per-process cache
    (:mod:`coderag.chunking.syntax`).
    """

    name = "code"

    def __init__(
        self,
        max_lines: int = 150,
        min_lines: int = 3,
        window: int = 40,
        overlap: int = 10,
        max_chunk_chars: int = 20000,
    ) -> None:
        self.max_lines = int(max_lines)
        self.min_lines = int(min_lines)
        self.windows = WindowChunker(window, overlap, max_chunk_chars)
        if self.max_lines < self.windows.window:
            raise ValueError(f"max_lines ({self.max_lines}) must be at least window ({self.windows.window})")
        if self.min_lines < 1:
            raise ValueError(f"min_lines must be at least 1, got {self.min_lines}")
        w = self.windows
        self.version = (
            f"{DEFINITIONS_VERSION}-m{self.max_lines}-n{self.min_lines}-w{w.window}"
            f"-o{w.overlap}-c{w.max_chunk_chars}"
        )

    def __repr__(self) -> str:
        w = self.windows
        return (
            f"DefinitionChunker(max_lines={self.max_lines}, min_lines={self.min_lines}, "
            f"window={w.window}, overlap={w.overlap}, max_chunk_chars={w.max_chunk_chars})"
        )

    # -- public -------------------------------------------------------------

    def chunk(self, path: str, text: str, language: str) -> list[Chunk]:
        """Return the chunks of ``text``, in line order; ``[]`` for blank text."""
        lines = split_lines(text)
        spec = SPECS.get(language)
        if spec is None or not lines or len(text) > MINIFIED_LINE_CHARS * len(lines) + 2000:
            return self.windows.chunk_lines(path, lines, language, self.min_lines)
        defs = self._definitions(text, lines, language)
        if defs is None:
            return self.windows.chunk_lines(path, lines, language, self.min_lines)
        return _Emitter(self, path, lines, language, spec.sep).run(defs)

    def _definitions(self, text: str, lines: list[str], language: str) -> list[_Def] | None:
        """The top-level definitions of ``text`` (nested ones in ``children``), or ``None`` if unparsable."""
        spec = SPECS[language]
        parser, query, errors = syntax.load(language, spec)
        # "replace" keeps every "\n" in place, so tree rows are our line numbers.
        src = spec.preprocess(text.encode("utf-8", "replace"))
        root = parser.parse(src).root_node
        if syntax.error_fraction(root, errors, len(src)) > MAX_ERROR_FRACTION:
            return None
        from tree_sitter import QueryCursor

        last = len(lines) - 1
        found: dict[tuple[int, int], _Def] = {}
        # py-tree-sitter 0.26 returns a capture's nodes in no fixed order; the
        # first capture of an outer span wins below, so walk them in document order.
        captured = QueryCursor(query).captures(root).get("def", [])
        for node in sorted(captured, key=lambda n: (n.start_byte, -n.end_byte, n.type)):
            hit = spec.classify(node)
            if hit is None or not hit.name:
                continue
            outer = hit.outer
            key = (outer.start_byte, outer.end_byte)
            if key in found:
                continue
            head_end = _header_end(node, hit.body, src)
            header = "\n".join(
                line.strip()[:_HEADER_CHARS]
                for line in lines[node.start_point.row : head_end + 1][:_HEADER_LINES]
            )
            found[key] = _Def(
                _first_row(outer, spec), min(syntax.last_row(outer), last), key[0], key[1],
                hit.name, hit.kind, hit.container, header, head_end,
            )
        return _nest(sorted(found.values(), key=lambda d: (d.start, -d.end)))


def _header_end(node, body, src: bytes) -> int:
    """Last row of a definition's header: up to its body's opening brace, or before an indented block."""
    first = node.start_point.row
    if body is None:
        return first
    row = body.start_point.row
    if src[body.start_byte : body.start_byte + 1] != b"{" and row > first:
        row -= 1  # Python: the block starts at its first statement
    return max(first, row)


def _first_row(outer, spec: syntax.LanguageSpec) -> int:
    """First row of ``outer`` extended up over comments/decorators directly above it."""
    row = outer.start_point.row
    prev = outer.prev_sibling
    while prev is not None and (prev.type in spec.comment_types or prev.type in spec.attach_types):
        if syntax.last_row(prev) < row - 1:
            break  # a blank line separates it
        before = prev.prev_sibling
        if before is not None and syntax.last_row(before) >= prev.start_point.row:
            break  # a trailing comment of the code before, not a doc comment
        row = prev.start_point.row
        prev = before
    return row


def _nest(defs: list[_Def]) -> list[_Def]:
    """Arrange definitions sorted by start into a forest by byte containment."""
    roots: list[_Def] = []
    stack: list[_Def] = []
    for d in defs:
        while stack and not (d.start >= stack[-1].start and d.end <= stack[-1].end):
            stack.pop()
        (stack[-1].children if stack else roots).append(d)
        stack.append(d)
    return _prune(roots)


def _prune(defs: list[_Def]) -> list[_Def]:
    """Drop object-literal scopes that hold no definitions: they are plain data."""
    kept = []
    for d in defs:
        d.children = _prune(d.children)
        if d.kind != "object" or d.children:
            kept.append(d)
    return kept


class _Emitter:
    """Turns the definition forest of one file into chunks."""

    def __init__(self, chunker: DefinitionChunker, path: str, lines: list[str], language: str, sep: str):
        self.max_lines = chunker.max_lines
        self.min_lines = chunker.min_lines
        self.window = chunker.windows.window
        self.overlap = chunker.windows.overlap
        self.max_chars = chunker.windows.max_chunk_chars
        self.path, self.lines, self.language, self.sep = path, lines, language, sep
        self.out: list[Chunk] = []

    def run(self, roots: list[_Def]) -> list[Chunk]:
        last = len(self.lines) - 1
        for lo, hi in self._gaps(roots, 0, last):
            for a, b in window_spans(self.lines, lo, hi, self.window, self.overlap, self.min_lines):
                self._add(a, b, "", "module", "")
        for d in roots:
            self._definition(d, "", [], "")
        # Several definitions on one line would give identical chunks: keep the first.
        return in_order(self.out)

    def _definition(self, d: _Def, prefix: str, headers: list[str], parent_kind: str) -> None:
        kind = "method" if d.kind == "function" and parent_kind in syntax.CLASS_LIKE else d.kind
        symbol = prefix + d.name
        context = "\n".join(headers)
        if not d.container and d.hi - d.lo + 1 <= self.max_lines:
            self._add(d.lo, d.hi, symbol, kind, context)
            return
        inner = headers + [d.header]
        inner_context = "\n".join(inner)
        for lo, hi in self._gaps(d.children, d.lo, d.hi):
            if d.container and hi - lo + 1 <= self.max_lines:
                spans = [s for s in [trim_blank(self.lines, lo, hi)] if s is not None]
            else:
                spans = window_spans(self.lines, lo, hi, self.window, self.overlap, self.min_lines)
            for a, b in spans:
                # The header is in the text of a span that starts at or before it.
                self._add(a, b, symbol, kind, context if a <= d.head_end else inner_context)
        for child in d.children:
            self._definition(child, symbol + self.sep, inner, kind)

    def _gaps(self, children: list[_Def], lo: int, hi: int) -> list[tuple[int, int]]:
        """Line ranges of ``[lo, hi]`` outside every child, minus lines of only closing brackets."""
        gaps = []
        cursor = lo
        for c in children:
            if c.lo > cursor:
                gaps.append((cursor, min(c.lo - 1, hi)))
            cursor = max(cursor, c.hi + 1)
        if cursor <= hi:
            gaps.append((cursor, hi))
        return [g for g in gaps if not self._only_closers(*g)]

    def _only_closers(self, lo: int, hi: int) -> bool:
        return all(_ONLY_CLOSERS.fullmatch(line) for line in self.lines[lo : hi + 1])

    def _add(self, lo: int, hi: int, symbol: str, kind: str, context: str) -> None:
        self.out.extend(
            make_chunks(self.path, self.lines, lo, hi, self.language, self.max_chars, symbol, kind, context)
        )
