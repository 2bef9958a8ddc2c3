"""Mine (query, code) pairs from source files: a doc comment's first sentence -> its code.

Python definitions are found with :mod:`ast`; JavaScript functions that follow a JSDoc block
with a regular expression and a small brace scanner. The query is the first sentence of the
doc comment's first paragraph with markup removed (at least 4 words, 2 content words); the
code is the definition without its doc comment, so the pair teaches what code *does*, not
how its comment is worded.
"""
from __future__ import annotations

import ast
import re
import zlib
from collections.abc import Iterator

MIN_WORDS, MAX_WORDS, MIN_CODE_LINES = 4, 64, 3
#: Index-style context of a definition: this many lines of its file (doc comment removed),
#: starting 0-29 lines before the definition, like a 40-line window with 10 lines of overlap.
WINDOW_LINES, WINDOW_STEP = 40, 30

_STOP = frozenset("""a an the of to in on for and or is are be by with as at from this that it its
into if not no any all can will which when then than return returns get set""".split())
_GENERIC = re.compile(
    r"^(see |alias |deprecated|todo\b|overrides?\b|overridden|shortcut for|constructor\b|"
    r"initiali[sz]es? (the |a |an )?(new )?(instance|object|class)\b)", re.I)
# A line that ends the summary paragraph: reST fields, numpy/google sections, doctests.
_SECTION = re.compile(
    r"^(:\w[\w ]*:(?!`)|(args|arguments|parameters|params|returns?|yields?|raises|examples?|"
    r"notes?|warnings?|see also|attributes|usage|keyword arguments|kwargs)\s*:?\s*$|>>>|\.\. |@\w+)", re.I)


def strip_markup(text: str) -> str:
    """Remove reST, Markdown, HTML and JSDoc inline markup; collapse whitespace."""
    text = re.sub(r"\{@(?:link|linkcode|linkplain)\s+([^}|\s]+)(?:[ |]([^}]*))?\}",
                  lambda m: m.group(2) or m.group(1), text)
    text = re.sub(r"(?::[\w.-]+)+:`~?([^`<]*?)\s*(?:<[^>]*>)?`", lambda m: m.group(1), text)
    text = re.sub(r"`([^`<]*?)\s*<[^>]*>`_{0,2}", r"\1", text)
    text = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", text)
    text = re.sub(r"</?[A-Za-z][^>]*>", "", text)
    text = text.replace("`", "").replace("**", "")
    text = re.sub(r"(?<![\w*])\*(\S[^*]*?)\*(?![\w*])", r"\1", text)
    return re.sub(r"\s+", " ", text).strip()


def make_query(paragraph: list[str]) -> str | None:
    """The first sentence of a summary paragraph if it is a usable query, else None."""
    text = strip_markup(" ".join(paragraph))
    m = re.search(r"(?<!e\.g)(?<!i\.e)(?<!etc)(?<!\bvs)[.!?](?=\s|$)", text)
    query = (text[:m.end()] if m else text).strip()
    words = query.split()
    content = [w for w in re.findall(r"[A-Za-z]{3,}", query.lower()) if w not in _STOP]
    if not MIN_WORDS <= len(words) <= MAX_WORDS or len(content) < 2 or _GENERIC.match(query):
        return None
    return query


def context_window(lines: list[str], doc: tuple[int, int], start: int, name: str) -> str:
    """The definition seen as an index window: file lines without the doc comment.

    :param doc: 1-based inclusive line range of the doc comment (removed).
    :param start: 1-based first line of the definition (before the doc comment).
    The offset of the definition inside the window is a fixed function of its name, so
    mining is deterministic.
    """
    flat = lines[:doc[0] - 1] + lines[doc[1]:]
    # A JSDoc block sits above its function, so removing it moves the function up.
    position = start - 1 - (doc[1] - doc[0] + 1 if start > doc[1] else 0)
    offset = zlib.crc32(name.encode()) % WINDOW_STEP
    first = max(0, position - offset)
    return "\n".join(flat[first:first + WINDOW_LINES])


def norm_text(text: str) -> str:
    """Lower-cased word sequence, used to compare queries across sources."""
    return " ".join(re.findall(r"\w+", text.lower()))


# ----------------------------------------------------------------------------- Python


def _docstring_query(doc: str) -> str | None:
    para = []
    for line in doc.strip().split("\n"):
        if not line.strip() or _SECTION.match(line.strip()):
            break
        para.append(line.strip())
    return make_query(para)


def _trivial(body: list[ast.stmt]) -> bool:
    """A body (after the docstring) that is empty, ``pass``, ``...`` or ``raise NotImplementedError``."""
    if not body:
        return True
    if len(body) > 1:
        return False
    stmt = body[0]
    return (isinstance(stmt, ast.Pass)
            or (isinstance(stmt, ast.Expr) and isinstance(stmt.value, ast.Constant))
            or (isinstance(stmt, ast.Raise) and "NotImplemented" in ast.dump(stmt)))


def python_pairs(text: str, classes: bool = False) -> Iterator[tuple[str, str, str, str]]:
    """Yield ``(query, code, name, window)`` for each documented, non-trivial function of a module.

    :param classes: documented classes too: their docstring's first sentence -> the class
        header and the start of its body, at most :data:`WINDOW_LINES` lines (what an index
        window holding the class shows).
    """
    try:
        tree = ast.parse(text)
    except (SyntaxError, ValueError):
        return
    lines = text.split("\n")
    kinds = (ast.FunctionDef, ast.AsyncFunctionDef) + ((ast.ClassDef,) if classes else ())
    for node in ast.walk(tree):
        if not isinstance(node, kinds):
            continue
        if node.name.startswith("__") and node.name.endswith("__"):
            continue
        if any((d.id if isinstance(d, ast.Name) else getattr(d, "attr", "")) == "overload"
               for d in node.decorator_list):
            continue
        doc = ast.get_docstring(node, clean=True)
        if not doc or _trivial(node.body[1:]):
            continue
        query = _docstring_query(doc)
        if not query:
            continue
        d0, d1 = node.body[0].lineno, node.body[0].end_lineno
        start = min([node.lineno] + [d.lineno for d in node.decorator_list])
        if d0 <= node.lineno:  # one-line "def f(): '''doc'''" forms
            continue
        kept = lines[start - 1:d0 - 1] + lines[d1:node.end_lineno]
        if isinstance(node, ast.ClassDef):
            kept = kept[:WINDOW_LINES]
        if sum(1 for ln in kept if ln.strip()) < MIN_CODE_LINES:
            continue
        yield query, _dedent("\n".join(kept)), node.name, context_window(lines, (d0, d1), start, node.name)


def _dedent(code: str) -> str:
    lines = code.split("\n")
    indent = min((len(ln) - len(ln.lstrip()) for ln in lines if ln.strip()), default=0)
    return "\n".join(ln[indent:] for ln in lines)


# ----------------------------------------------------------------------------- JavaScript

_JSDOC = re.compile(r"/\*\*(?!\*)(.*?)\*/", re.S)
_JS_DEF = re.compile(r"""^\s*(?:
      (?:export\s+(?:default\s+)?)?(?:async\s+)?function\b\s*\*?\s*(?P<f>[\w$]*)
    | (?:export\s+)?(?:const|let|var)\s+(?P<v>[\w$]+)\s*=.*(?:\bfunction\b|=>)
    | (?P<a>[\w$.]+)\s*=.*(?:\bfunction\b|=>)
    | (?P<p>[\w$]+)\s*:\s*(?:async\s+)?(?:function\b|.*=>)
    | (?:static\s+)?(?:async\s+)?(?:[gs]et\s+)?\*?\s*(?P<m>[\w$]+)\s*\(
    )""", re.X)
_JS_KEYWORDS = frozenset({"if", "for", "while", "switch", "catch", "return", "function", "with", "typeof", "new"})


def _js_block_end(src: str, pos: int) -> int | None:
    """Offset of the ``}`` closing the first ``{...}`` block at or after ``pos``.

    Skips strings, template literals and comments; regex literals are not recognised,
    which only costs a pair now and then (an unbalanced brace in a regex drops it).
    """
    depth, i, n = 0, pos, len(src)
    while i < n:
        c = src[i]
        if src.startswith("//", i):
            i = src.find("\n", i)
            if i < 0:
                return None
        elif src.startswith("/*", i):
            i = src.find("*/", i + 2)
            if i < 0:
                return None
            i += 2
            continue
        elif c in "'\"`":
            j = i + 1
            while j < n and src[j] != c:
                j += 2 if src[j] == "\\" else 1
            i = j
        elif c == "{":
            depth += 1
        elif c == "}":
            depth -= 1
            if depth == 0:
                return i
            if depth < 0:
                return None
        elif c == ";" and depth == 0:
            return None
        i += 1
    return None


def js_pairs(text: str) -> Iterator[tuple[str, str, str, str]]:
    """Yield ``(query, code, name, window)`` for each function that follows a JSDoc block."""
    for m in _JSDOC.finditer(text):
        para = []
        for raw in m.group(1).split("\n"):
            line = re.sub(r"^\s*\*?", "", raw).strip()
            if line.startswith("@") or (not line and para):
                break
            if line:
                para.append(line)
        query = make_query(para)
        if not query:
            continue
        start = text.find("\n", m.end())
        if start < 0 or text[m.end():start].strip():
            continue
        while True:  # skip blank lines between the comment and the definition
            nxt = text.find("\n", start + 1)
            if nxt < 0 or text[start + 1:nxt].strip():
                break
            start = nxt
        first_line = text[start + 1:nxt if nxt > 0 else len(text)]
        dm = _JS_DEF.match(first_line)
        if not dm:
            continue
        name = next((g for g in dm.groups() if g), "") or "default"
        if name in _JS_KEYWORDS:
            continue
        end = _js_block_end(text, start + 1)
        if end is None:
            continue
        code = text[start + 1:end + 1]
        if code.count("\n") + 1 < MIN_CODE_LINES:
            continue
        lines = text.split("\n")
        d0, d1 = text.count("\n", 0, m.start()) + 1, text.count("\n", 0, m.end()) + 1
        def_line = text.count("\n", 0, start + 1) + 1
        yield query, _dedent(code), name, context_window(lines, (d0, d1), def_line, name)
