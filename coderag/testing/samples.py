"""Inputs the conformance contracts feed to backends: real code, prose and hostile text.

Everything is built in memory and deterministic, so a contract failure
reproduces exactly.  :data:`CHUNK_SAMPLES` are ``(path, text, language)``
triples; :data:`EMBED_TEXTS` are chunk-sized strings.
"""
from __future__ import annotations

from typing import NamedTuple


class Sample(NamedTuple):
    """One file handed to a chunker: its path, its text and its language name."""

    path: str
    text: str
    language: str


PYTHON = '''import time


class Client:
    """A tiny HTTP client."""

    timeout = 5

    def get(self, url):
        return self._request("GET", url)

    @staticmethod
    def _request(method, url):
        return method, url


def retry_with_backoff(func, attempts=5, base_delay=0.5):
    """Call func, retrying with exponential backoff when it raises."""
    for attempt in range(attempts):
        try:
            return func()
        except OSError:
            time.sleep(base_delay * 2 ** attempt)
    raise RuntimeError("gave up")
'''

JAVASCRIPT = '''/**
 * Register a route handler for a path.
 */
function registerRoute(routes, path, handler) {
  routes[path] = handler;
  return routes;
}

const matchRoute = (routes, url) => {
  const path = url.split("?")[0];
  return routes[path] || null;
};

class Router {
  constructor() { this.routes = {}; }
  add(path, handler) { return registerRoute(this.routes, path, handler); }
}

module.exports = { registerRoute, matchRoute, Router };
'''

GO = '''package util

import "strings"

// Slugify turns a title into a URL slug.
func Slugify(title string) string {
\tlower := strings.ToLower(title)
\treturn strings.ReplaceAll(lower, " ", "-")
}

type Stack struct {
\titems []int
}

func (s *Stack) Push(v int) {
\ts.items = append(s.items, v)
}
'''

MARKDOWN = "# Title\n\nSome prose about the project.\n\n## Usage\n\n    run --fast\n\nMore text here.\n"


def _huge_python(functions: int = 1500) -> str:
    """A ~9,000-line module of small functions (a big generated-looking file)."""
    parts = [f"def handler_{i}(request):\n    value = request.get('k{i}')\n"
             f"    if value is None:\n        return {i}\n    return value * {i}\n\n"
             for i in range(functions)]
    return "".join(parts)


def _long_function(lines: int = 3000) -> str:
    """One function far longer than any sensible chunk."""
    body = "".join(f"    total += compute(step_{i}, {i})\n" for i in range(lines))
    return f"def giant(compute):\n    total = 0\n{body}    return total\n"


CHUNK_SAMPLES: list[Sample] = [
    Sample("pkg/client.py", PYTHON, "python"),
    Sample("web/router.js", JAVASCRIPT, "javascript"),
    Sample("util/strings.go", GO, "go"),
    Sample("README.md", MARKDOWN, "markdown"),
    Sample("notes.txt", "one line, no newline at the end", "text"),
    Sample("crlf.py", "def f():\r\n    return 1\r\n\r\ndef g():\r\n    return 2\r\n", "python"),
    Sample("blank_edges.py", "\n\n\ndef f():\n    return 1\n\n\n\n", "python"),
    Sample("unicode.py", "def grüße(名前):\n    return f'héllo {名前} \U0001f600'\n", "python"),
    Sample("tabs.go", GO.replace("\t", "\t\t"), "go"),
    Sample("unknown.zz", "key = value\n" * 120, ""),
    Sample("broken.py", "def f(:\n    return (\n\nclass\n" * 20, "python"),
    Sample("huge.py", _huge_python(), "python"),
    Sample("long_function.py", _long_function(), "python"),
    Sample("bundle.min.js", "var a=1;" * 25_000, "javascript"),
    Sample("binaryish.dat", "\x00\x01\x02ELF\x7f\ufffd\ufffd\n\x00\x00\n" * 200 + "\x0c\x1b[0m\n", "text"),
    Sample("control.txt", "a\x0bb\x0cc\x1cd\x1de\x1ef\x85g\u2028h\u2029i\n" * 50, "text"),
]
"""Files every chunker must handle: several languages, odd line endings, huge and binary-ish input."""

EMPTY_SAMPLES: list[Sample] = [
    Sample("empty.py", "", "python"),
    Sample("spaces.txt", "   \n\t\n\n  \n", "text"),
    Sample("newlines.md", "\n" * 50, "markdown"),
]
"""Files with nothing to index: the chunker returns no chunk with any non-blank text."""

EMBED_TEXTS: list[str] = [
    "def retry_with_backoff(func, attempts=5):\n    for attempt in range(attempts):\n        return func()",
    "function registerRoute(routes, path, handler) { routes[path] = handler; }",
    "parse an HTTP header line into a name and a value",
    "func Slugify(title string) string { return strings.ToLower(title) }",
    "SELECT name, count(*) FROM users GROUP BY name",
    "# Title\n\nSome prose about the project.",
    "x",
    "grüße 名前 héllo \U0001f600",
]
"""Typical documents (code, prose, a one-character text, non-ASCII) for embedders."""

HOSTILE_TEXTS: list[str] = [
    "",
    "   \n\t ",
    "\x00\x01\x02\ufffd\ufffd",
    "a" * 50_000,
    "token " * 20_000,
]
"""Texts an embedder must survive: empty, blank, control characters, very long."""
