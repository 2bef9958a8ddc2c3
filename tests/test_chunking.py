"""Tests for the builtin chunkers: exact spans, symbols and kinds per language, and the edge cases."""
from __future__ import annotations

import pickle
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest

from coderag.chunking.definitions import DefinitionChunker
from coderag.chunking.windows import WindowChunker
from coderag.chunking.windows import split_lines
from coderag.protocols import Chunk
from coderag.protocols import Chunker

# ---------------------------------------------------------------------------
# snippets, one realistic file per language
# ---------------------------------------------------------------------------

PYTHON = '''\
"""Module doc."""
import os

X = 1


# Helper used by Foo.
@decorator
def helper(a, b):
    """Doc."""
    def inner():
        return a
    return inner()


class Foo(Base):
    """Foo doc."""

    attr = 1

    def __init__(self):
        self.x = 1

    # Cached value.
    @property
    def prop(self):
        return self.x

    other = 2

    class Inner:
        def m(self):
            pass

if __name__ == "__main__":
    helper(1, 2)
'''

JAVASCRIPT = '''\
'use strict';
const path = require('path');

/**
 * Adds numbers.
 */
function add(a, b) {
  return a + b;
}

// Doubles.
export const twice = (x) => {
  return x * 2;
};

const api = {
  get(url) {
    return url;
  },
  post: function (url) {
    return url;
  },
  version: 3,
};

module.exports.run = function () {
  return 1;
};

exports.stop = () => {
  return 0;
};

Widget.prototype.show = function () {
  return true;
};

class Widget extends Base {
  static count = 0;

  /** Build it. */
  constructor(opts) {
    super(opts);
  }

  render() {
    return null;
  }
}

(function () {
  function hidden() {
    return 3;
  }
})();

export default function () {
  return 2;
}
'''

TYPESCRIPT = '''\
import { x } from "y";

/** A shape. */
export interface Shape {
  area(): number;
}

export type Id = string | number;

enum Color { Red, Green }

@Component({ selector: "app" })
export class Circle implements Shape {
  private r = 1;

  @Input()
  set radius(v: number) {
    this.r = v;
  }

  area(): number {
    return Math.PI * this.r ** 2;
  }

  private handler = (e: Event): void => {
    console.log(e);
  };
}

namespace Util {
  export function clamp(v: number): number {
    return v;
  }
}
'''

TSX = '''\
import React from "react";

type Props = { name: string };

export function Hello({ name }: Props) {
  return <div className="x">Hello {name}</div>;
}

export const Button = ({ label }: { label: string }) => (
  <button>{label}</button>
);
'''

GO = '''\
package server

import "fmt"

// Server serves.
// It has docs.
type Server struct {
\taddr string
}

type (
\tHandler func()
\tOption  int
)

// Start starts the server.
func (s *Server) Start() error {
\tfmt.Println(s.addr)
\treturn nil
}

func New(addr string) *Server {
\treturn &Server{addr: addr}
}
'''

RUST = '''\
use std::fmt;

/// A point.
#[derive(Debug, Clone)]
pub struct Point {
    x: i32,
}

impl Point {
    /// Make one.
    pub fn new(x: i32) -> Self {
        Point { x }
    }

    fn norm(&self) -> i32 {
        self.x.abs()
    }
}

impl fmt::Display for Point {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        write!(f, "{}", self.x)
    }
}

pub fn free() {}

#[cfg(test)]
mod tests {
    #[test]
    fn it_works() {
        assert_eq!(2, 2);
    }
}
'''

JAVA = '''\
package a.b;

import java.util.List;

/**
 * A repository.
 */
@Entity
public class Repo<T> extends Base implements Store {
    private final List<T> items;

    /** Creates it. */
    public Repo() {
        this.items = null;
    }

    // Finds one.
    @Override
    public T find(int id) {
        return items.get(id);
    }

    enum Mode {
        READ, WRITE;

        int code() {
            return 1;
        }
    }

    interface Listener {
        void on(T item);
    }
}
'''

C = '''\
#include <stdio.h>

/* A node. */
typedef struct node {
    int value;
    struct node *next;
} node_t;

struct point { int x; int y; };

static int count;

/**
 * Sum a list.
 */
static int *sum(node_t *head, int n)
{
    int total = 0;
    return &total;
}

int main(void) {
    return 0;
}
'''

CPP = '''\
#include <vector>

namespace geo {

// A shape.
class Shape : public Base {
 public:
  Shape();
  virtual ~Shape() {}
  double area() const { return 0; }

 private:
  int sides_;
};

template <typename T>
T max_of(T a, T b) {
  return a > b ? a : b;
}

}  // namespace geo

geo::Shape::Shape() : sides_(0) {
}

double geo::Shape::perimeter() const {
  return 1.0;
}
'''


def spans(chunks: list[Chunk]) -> list[tuple[int, int, str, str]]:
    return [(c.start_line, c.end_line, c.kind, c.symbol) for c in chunks]


def check_invariants(chunks: list[Chunk], text: str, path: str | None = None, max_chars: int = 20000) -> None:
    """What every chunker output must satisfy: exact text, in-file spans, in order."""
    lines = split_lines(text)
    keys = [(c.start_line, c.end_line) for c in chunks]
    assert keys == sorted(keys)
    for c in chunks:
        assert path is None or c.path == path
        assert 1 <= c.start_line <= c.end_line <= len(lines)
        assert c.text == "\n".join(lines[c.start_line - 1 : c.end_line])[:max_chars]
        assert c.text.strip()


CLOSER = re.compile(r"\s*(?:[)\]}]|end\b)(?:[\s()\[\]{};,]|end\b)*(?://.*|/\*.*|#.*|--.*)?")


def uncovered(chunks: list[Chunk], text: str) -> list[int]:
    """Lines with a word character, other than a closing "}  // end", that no chunk covers."""
    covered = set()
    for c in chunks:
        covered.update(range(c.start_line, c.end_line + 1))
    lines = enumerate(split_lines(text), 1)
    return [i for i, line in lines if re.search(r"\w", line) and not CLOSER.fullmatch(line) and i not in covered]


CASES = {
    "python": (PYTHON, [
        (1, 4, "module", ""),
        (7, 13, "function", "helper"),  # comment + decorator included, nested inner kept inside
        (16, 19, "class", "Foo"),  # header, docstring, fields before the first method
        (21, 22, "method", "Foo.__init__"),
        (24, 27, "method", "Foo.prop"),
        (29, 29, "class", "Foo"),  # class-level statement between methods
        (31, 31, "class", "Foo.Inner"),
        (32, 33, "method", "Foo.Inner.m"),
        (35, 36, "module", ""),
    ]),
    "javascript": (JAVASCRIPT, [
        (1, 2, "module", ""),
        (4, 9, "function", "add"),  # JSDoc included
        (11, 14, "function", "twice"),
        (16, 16, "object", "api"),
        (17, 19, "method", "api.get"),
        (20, 22, "method", "api.post"),
        (23, 24, "object", "api"),
        (26, 28, "function", "run"),
        (30, 32, "function", "stop"),
        (34, 36, "method", "Widget.show"),
        (38, 39, "class", "Widget"),
        (41, 44, "method", "Widget.constructor"),
        (46, 48, "method", "Widget.render"),
        (51, 51, "module", ""),  # the IIFE wrapper is transparent ...
        (52, 54, "function", "hidden"),  # ... its functions are found; "})();" is left out
        (57, 59, "function", "default"),
    ]),
    "typescript": (TYPESCRIPT, [
        (1, 1, "module", ""),
        (3, 6, "interface", "Shape"),
        (8, 8, "type", "Id"),
        (10, 10, "enum", "Color"),
        (12, 14, "class", "Circle"),  # class decorator included
        (16, 19, "method", "Circle.radius"),  # member decorator included
        (21, 23, "method", "Circle.area"),
        (25, 27, "method", "Circle.handler"),
        (30, 30, "namespace", "Util"),
        (31, 33, "function", "Util.clamp"),
    ]),
    "tsx": (TSX, [
        (1, 1, "module", ""),
        (3, 3, "type", "Props"),
        (5, 7, "function", "Hello"),
        (9, 11, "function", "Button"),
    ]),
    "go": (GO, [
        (1, 3, "module", ""),
        (5, 9, "struct", "Server"),
        (11, 11, "module", ""),
        (12, 12, "type", "Handler"),
        (13, 13, "type", "Option"),
        (16, 20, "method", "Server.Start"),
        (22, 24, "function", "New"),
    ]),
    "rust": (RUST, [
        (1, 1, "module", ""),
        (3, 7, "struct", "Point"),  # doc comment and attribute included
        (9, 9, "impl", "Point"),
        (10, 13, "method", "Point.new"),
        (15, 17, "method", "Point.norm"),
        (20, 20, "impl", "Point"),
        (21, 23, "method", "Point.fmt"),
        (26, 26, "function", "free"),
        (28, 29, "namespace", "tests"),
        (30, 33, "function", "tests.it_works"),
    ]),
    "java": (JAVA, [
        (1, 3, "module", ""),
        (5, 10, "class", "Repo"),
        (12, 15, "method", "Repo.Repo"),
        (17, 21, "method", "Repo.find"),
        (23, 24, "enum", "Repo.Mode"),
        (26, 28, "method", "Repo.Mode.code"),
        (31, 31, "interface", "Repo.Listener"),
        (32, 32, "method", "Repo.Listener.on"),
    ]),
    "c": (C, [
        (1, 1, "module", ""),
        (3, 7, "struct", "node"),
        (9, 9, "struct", "point"),
        (11, 11, "module", ""),
        (13, 20, "function", "sum"),
        (22, 24, "function", "main"),
    ]),
    "cpp": (CPP, [
        (1, 1, "module", ""),
        (3, 3, "namespace", "geo"),
        (5, 8, "class", "geo::Shape"),
        (9, 9, "method", "geo::Shape::~Shape"),
        (10, 10, "method", "geo::Shape::area"),
        (12, 14, "class", "geo::Shape"),
        (16, 19, "function", "geo::max_of"),  # template<> line included
        (23, 24, "method", "geo::Shape::Shape"),  # out-of-line definitions
        (26, 28, "method", "geo::Shape::perimeter"),
    ]),
}


@pytest.fixture(scope="module")
def code() -> DefinitionChunker:
    return DefinitionChunker()


@pytest.mark.parametrize("language", sorted(CASES))
def test_definitions_per_language(code, language):
    text, expected = CASES[language]
    chunks = code.chunk("f", text, language)
    assert spans(chunks) == expected
    assert all(c.language == language for c in chunks)
    check_invariants(chunks, text)
    assert uncovered(chunks, text) == []


@pytest.mark.parametrize(
    ("language", "symbol", "first_line", "context"),
    [
        ("python", "helper", "# Helper used by Foo.", ""),
        ("python", "Foo.prop", "    # Cached value.", "class Foo(Base):"),
        ("python", "Foo.Inner.m", "        def m(self):", "class Foo(Base):\nclass Inner:"),
        ("javascript", "add", "/**", ""),
        ("javascript", "Widget.constructor", "  /** Build it. */", "class Widget extends Base {"),
        ("typescript", "Circle", '@Component({ selector: "app" })', ""),
        ("typescript", "Circle.radius", "  @Input()", "export class Circle implements Shape {"),
        ("go", "Server.Start", "// Start starts the server.", ""),
        ("rust", "Point", "/// A point.", ""),
        ("rust", "Point.fmt", "    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {", "impl fmt::Display for Point {"),
        ("java", "Repo.find", "    // Finds one.", "@Entity\npublic class Repo<T> extends Base implements Store {"),
        ("c", "sum", "/**", ""),
        ("cpp", "geo::max_of", "template <typename T>", "namespace geo {"),
    ],
)
def test_doc_comments_decorators_and_context(code, language, symbol, first_line, context):
    text, _ = CASES[language]
    chunk = next(c for c in code.chunk("f", text, language) if c.symbol == symbol)
    assert chunk.text.split("\n")[0] == first_line
    assert chunk.context == context


def test_comment_separated_by_blank_line_or_trailing_is_not_attached(code):
    text = "# section\n\ndef a():\n    pass\nx = 1  # trailing\ndef b():\n    pass\n"
    assert spans(code.chunk("f.py", text, "python")) == [
        (1, 1, "module", ""), (3, 4, "function", "a"), (5, 5, "module", ""), (6, 7, "function", "b"),
    ]


def long_function(n: int) -> str:
    body = "".join(f"    x{i} = {i}\n" for i in range(n))
    return f"def big(a):\n{body}    def nested():\n        return a\n    return x0\n"


def test_long_function_is_windowed_and_nested_function_gets_own_chunk(code):
    text = long_function(200)  # 204 lines, over max_lines=150
    chunks = code.chunk("f.py", text, "python")
    assert spans(chunks) == [
        (1, 40, "function", "big"), (31, 70, "function", "big"), (61, 100, "function", "big"),
        (91, 130, "function", "big"), (121, 160, "function", "big"), (151, 190, "function", "big"),
        (181, 201, "function", "big"), (202, 203, "function", "big.nested"), (204, 204, "function", "big"),
    ]
    assert [c.context for c in chunks[:2]] == ["", "def big(a):"]
    check_invariants(chunks, text)


def test_nested_function_stays_inside_a_small_parent(code):
    chunks = code.chunk("f.py", long_function(100), "python")
    assert spans(chunks) == [(1, 104, "function", "big")]


def test_big_class_methods_are_chunks_and_class_chunk_stays_small(code):
    methods = "".join(f"    def m{i}(self):\n        return {i}\n\n" for i in range(80))
    text = f"class Big(Base):\n    '''Doc.'''\n    a = 1\n\n{methods}    z = 2\n"
    chunks = code.chunk("f.py", text, "python")
    assert len(chunks) == 82
    assert spans(chunks)[:2] == [(1, 3, "class", "Big"), (5, 6, "method", "Big.m0")]
    assert spans(chunks)[-1] == (245, 245, "class", "Big")
    assert {c.context for c in chunks[1:]} == {"class Big(Base):"}
    check_invariants(chunks, text)


def test_window_chunks_keep_spans_exact_with_long_lines():
    text = "a = 1\n" + "b" * 50000 + "\nc = 2\n"
    chunks = DefinitionChunker(max_chunk_chars=1000).chunk("f.py", text, "python")
    assert [(c.start_line, c.end_line, len(c.text)) for c in chunks] == [(1, 1, 5), (2, 2, 1000), (3, 3, 5)]
    check_invariants(chunks, text, max_chars=1000)


@pytest.mark.parametrize("language", ["markdown", "text", "yaml", "perl", "scala"])
def test_languages_without_grammar_fall_back_to_windows(code, language):
    text = "".join(f"line {i}\n" for i in range(100))
    assert spans(code.chunk("f", text, language)) == [
        (1, 40, "window", ""), (31, 70, "window", ""), (61, 100, "window", ""),
    ]


def test_unparsable_code_falls_back_to_windows(code):
    text = "def (:\n  x = = 1\nclass\n}}}} ((( \n" * 5
    chunks = code.chunk("f.py", text, "python")
    assert spans(chunks) == [(1, 20, "window", "")]


def test_minified_code_falls_back_to_windows(code):
    text = "function a(){return 1};" * 2000
    chunks = code.chunk("f.js", text, "javascript")
    assert [(c.start_line, c.end_line, c.kind, len(c.text)) for c in chunks] == [(1, 1, "window", 20000)]


@pytest.mark.parametrize(
    "text",
    ["", "\n", "\n\n   \n\t\n", " "],
)
def test_blank_input_gives_no_chunks(code, text):
    assert code.chunk("f.py", text, "python") == []
    assert WindowChunker().chunk("f.py", text, "python") == []


def test_only_comments(code):
    text = "// one\n// two\n/* three */\n"
    assert spans(code.chunk("f.c", text, "c")) == [(1, 3, "module", "")]


def test_crlf_line_endings_keep_line_numbers(code):
    text = PYTHON.replace("\n", "\r\n")
    chunks = code.chunk("f.py", text, "python")
    assert spans(chunks) == CASES["python"][1]
    assert chunks[1].text.split("\n")[0] == "# Helper used by Foo.\r"
    check_invariants(chunks, text)


def test_stray_carriage_returns_do_not_shift_lines(code):
    text = "x = 1\r\ry = 2\r\ndef f():\n    pass\n"  # "\r" alone is not a line break
    assert spans(code.chunk("f.py", text, "python"))[-1] == (2, 3, "function", "f")


@pytest.mark.parametrize("language", sorted(CASES))
def test_binary_junk_does_not_crash(code, language):
    junk = bytes(range(256)).decode("latin-1") * 20 + "\ud800 lone surrogate\n\x00\x00{{{(((\n"
    chunks = code.chunk("f", junk, language)
    check_invariants(chunks, junk)
    assert uncovered(chunks, junk) == []


def test_own_source_is_fully_covered(code):
    path = Path(__file__).resolve().parents[1] / "coderag" / "chunking" / "definitions.py"
    text = path.read_text()
    chunks = code.chunk("definitions.py", text, "python")
    check_invariants(chunks, text, "definitions.py")
    assert uncovered(chunks, text) == []
    assert "DefinitionChunker.chunk" in {c.symbol for c in chunks}


def test_huge_file_is_fast(code):
    text = "".join(f"def f{i}(a, b):\n    '''Doc {i}.'''\n    return a + b * {i}\n\n\n" for i in range(2500))
    start = time.perf_counter()
    chunks = code.chunk("f.py", text, "python")
    elapsed = time.perf_counter() - start
    assert len(split_lines(text)) >= 10000 and len(chunks) == 2500
    # ~0.03 s on a shared 2-core machine; a generous bound so the test is not flaky.
    assert elapsed < 1.0


def test_deterministic(code):
    assert code.chunk("f.js", JAVASCRIPT, "javascript") == code.chunk("f.js", JAVASCRIPT, "javascript")


@pytest.mark.parametrize("chunker", [DefinitionChunker(max_lines=60, window=20, overlap=5), WindowChunker(7, 2)])
def test_pickle_round_trip(chunker):
    clone = pickle.loads(pickle.dumps(chunker))
    assert isinstance(clone, Chunker)
    assert (clone.name, clone.version) == (chunker.name, chunker.version)
    assert clone.chunk("f.rs", RUST, "rust") == chunker.chunk("f.rs", RUST, "rust")
    # Still picklable after use (parsers are cached per process, not on the object).
    pickle.dumps(chunker)


def test_versions_follow_options():
    assert DefinitionChunker().version != DefinitionChunker(max_lines=100).version
    assert WindowChunker().version != WindowChunker(window=30).version
    assert DefinitionChunker(**{"window": "30", "overlap": "5"}).windows.window == 30  # git config strings


@pytest.mark.parametrize(
    "options",
    [{"window": 0}, {"overlap": 40}, {"overlap": -1}, {"max_chunk_chars": 10}, {"max_lines": 10}, {"min_lines": 0}],
)
def test_bad_options_are_rejected(options):
    with pytest.raises(ValueError):
        DefinitionChunker(**options)


def test_grammars_load_lazily_per_language():
    code = (
        "import sys\n"
        "from coderag.chunking.definitions import DefinitionChunker\n"
        "c = DefinitionChunker()\n"
        "assert not [m for m in sys.modules if m.startswith('tree_sitter')], 'imported too early'\n"
        "c.chunk('a.py', 'def f():\\n    pass\\n', 'python')\n"
        "c.chunk('a.md', '# doc\\n', 'markdown')\n"
        "print(sorted({m.split('.')[0] for m in sys.modules if m.startswith('tree_sitter_')}))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "['tree_sitter_python']"


# ---------------------------------------------------------------------------
# WindowChunker
# ---------------------------------------------------------------------------


def test_windows_exact_spans_and_trailing_newline():
    text = "".join(f"l{i}\n" for i in range(1, 21))
    chunks = WindowChunker(window=8, overlap=3).chunk("f.txt", text, "text")
    assert [(c.start_line, c.end_line) for c in chunks] == [(1, 8), (6, 13), (11, 20)]
    assert chunks[0].text == "\n".join(f"l{i}" for i in range(1, 9))
    assert WindowChunker(window=8, overlap=3).chunk("f.txt", text.rstrip("\n"), "text") == chunks
    check_invariants(chunks, text, "f.txt")


def test_windows_skip_and_trim_blank_lines():
    text = "a\n" + "\n" * 30 + "   \n" + "b\nc\n"
    chunks = WindowChunker(window=10, overlap=0).chunk("f.txt", text, "text")
    assert [(c.start_line, c.end_line, c.text) for c in chunks] == [(1, 1, "a"), (33, 34, "b\nc")]


def test_windows_split_when_text_is_too_long():
    text = ("x" * 60 + "\n") * 10
    chunks = WindowChunker(window=10, overlap=0, max_chunk_chars=200).chunk("f.txt", text, "text")
    assert [(c.start_line, c.end_line) for c in chunks] == [(1, 3), (4, 6), (7, 9), (10, 10)]
    check_invariants(chunks, text, "f.txt", max_chars=200)


def test_windows_stay_in_order_when_cut_for_length():
    lengths = [10, 90, 30, 70, 50, 120, 5]
    text = "".join("x" * lengths[i % len(lengths)] + "\n" for i in range(60))
    chunks = WindowChunker(window=6, overlap=3, max_chunk_chars=200).chunk("f.txt", text, "text")
    check_invariants(chunks, text, "f.txt", max_chars=200)
    assert len({(c.start_line, c.end_line) for c in chunks}) == len(chunks)


def test_javascript_functions_inside_ternaries_and_wrapper_calls(code):
    text = (
        "var getSymbols = !native ? stubArray : function(object) {\n  return [];\n};\n"
        "var bindKey = baseRest(function(object, key) {\n  return key;\n});\n"
        "describe('suite', () => {\n  it('works', () => {\n    expect(1).toBe(1);\n  });\n});\n"
    )
    assert spans(code.chunk("f.js", text, "javascript")) == [
        (1, 3, "function", "getSymbols"), (4, 6, "function", "bindKey"), (7, 11, "module", ""),
    ]


def test_c_preprocessor_noise_keeps_the_definitions_it_can(code):
    text = (
        "#include <Python.h>\n\n"
        "static PyObject* lang(PyObject *self) {\n    return NULL;\n}\n\n"
        "static struct PyModuleDef_Slot slots[] = {\n#ifdef Py_GIL_DISABLED\n"
        "    {Py_mod_gil, Py_MOD_GIL_NOT_USED},\n#endif\n    {0, NULL}\n};\n\n"
        "static PyMethodDef methods[] = {\n    {\"language\", lang, METH_NOARGS, \"doc\"},\n"
        "    {NULL, NULL, 0, NULL}\n};\n\n"
        "PyMODINIT_FUNC PyInit__binding(void) {\n    return PyModuleDef_Init(&module);\n}\n"
    )
    chunks = code.chunk("binding.c", text, "c")
    assert [s for s in spans(chunks) if s[2] == "function"] == [
        (3, 5, "function", "lang"), (19, 21, "function", "PyInit__binding"),
    ]
    assert uncovered(chunks, text) == []
