"""Language detection and generated-file detection from a path (and optionally the text).

Both functions are cheap (a few dict look-ups and, when text is given, a look at
its first lines) and import nothing heavy: they run on every file of every update.
"""
from __future__ import annotations

import posixpath
import re

_EXTENSIONS: dict[str, str] = {
    # Python
    ".py": "python", ".pyi": "python", ".pyw": "python", ".pyx": "cython", ".pxd": "cython",
    # JavaScript / TypeScript (JSX parses with the JavaScript grammar)
    ".js": "javascript", ".mjs": "javascript", ".cjs": "javascript", ".jsx": "javascript",
    ".ts": "typescript", ".mts": "typescript", ".cts": "typescript", ".tsx": "tsx",
    # Systems languages
    ".go": "go", ".rs": "rust", ".c": "c", ".h": "c",
    ".cc": "cpp", ".cpp": "cpp", ".cxx": "cpp", ".c++": "cpp", ".hh": "cpp", ".hpp": "cpp",
    ".hxx": "cpp", ".h++": "cpp", ".ipp": "cpp", ".inl": "cpp", ".cu": "cpp", ".cuh": "cpp",
    ".m": "objc", ".mm": "objc", ".zig": "zig", ".nim": "nim", ".d": "d",
    # JVM / .NET
    ".java": "java", ".kt": "kotlin", ".kts": "kotlin", ".scala": "scala", ".sc": "scala",
    ".groovy": "groovy", ".gradle": "groovy", ".clj": "clojure", ".cljs": "clojure",
    ".cs": "csharp", ".fs": "fsharp", ".fsx": "fsharp", ".vb": "vb",
    # Scripting
    ".rb": "ruby", ".rake": "ruby", ".gemspec": "ruby", ".php": "php", ".phtml": "php",
    ".pl": "perl", ".pm": "perl", ".lua": "lua", ".r": "r", ".jl": "julia",
    ".swift": "swift", ".dart": "dart", ".ex": "elixir", ".exs": "elixir", ".erl": "erlang",
    ".hrl": "erlang", ".hs": "haskell", ".ml": "ocaml", ".mli": "ocaml", ".elm": "elm",
    ".sh": "shell", ".bash": "shell", ".zsh": "shell", ".ksh": "shell", ".fish": "fish",
    ".ps1": "powershell", ".psm1": "powershell", ".bat": "batch", ".cmd": "batch",
    # Web
    ".html": "html", ".htm": "html", ".xhtml": "html", ".vue": "vue", ".svelte": "svelte",
    ".css": "css", ".scss": "scss", ".sass": "scss", ".less": "less",
    ".jinja": "jinja", ".jinja2": "jinja", ".j2": "jinja",
    # Data / config / docs
    ".json": "json", ".jsonc": "json", ".json5": "json", ".ipynb": "json",
    ".yaml": "yaml", ".yml": "yaml", ".toml": "toml", ".ini": "ini", ".cfg": "ini",
    ".conf": "ini", ".properties": "ini", ".xml": "xml", ".svg": "xml", ".xsd": "xml",
    ".sql": "sql", ".graphql": "graphql", ".gql": "graphql", ".proto": "protobuf",
    ".tf": "hcl", ".hcl": "hcl", ".cmake": "cmake", ".mk": "make",
    ".md": "markdown", ".markdown": "markdown", ".mdx": "markdown", ".rst": "rst",
    ".txt": "text", ".tex": "latex", ".csv": "csv", ".tsv": "csv",
}

_FILENAMES: dict[str, str] = {
    "makefile": "make", "gnumakefile": "make", "dockerfile": "dockerfile",
    "containerfile": "dockerfile", "cmakelists.txt": "cmake", "rakefile": "ruby",
    "gemfile": "ruby", "podfile": "ruby", "vagrantfile": "ruby", "brewfile": "ruby",
    "jenkinsfile": "groovy", "build": "python", "sconstruct": "python", "sconscript": "python",
    "justfile": "make", "procfile": "yaml", ".bashrc": "shell", ".bash_profile": "shell",
    ".zshrc": "shell", ".profile": "shell", ".gitignore": "text", ".gitattributes": "text",
    ".editorconfig": "ini", "pipfile": "toml", "go.mod": "gomod", "go.sum": "text",
    "license": "text", "copying": "text", "readme": "markdown",
}

# Interpreter named on a "#!" line -> language.
_INTERPRETERS: dict[str, str] = {
    "python": "python", "python2": "python", "python3": "python", "pypy": "python",
    "pypy3": "python", "node": "javascript", "nodejs": "javascript", "deno": "typescript",
    "bun": "javascript", "ts-node": "typescript", "sh": "shell", "bash": "shell", "zsh": "shell",
    "ksh": "shell", "dash": "shell", "fish": "fish", "ruby": "ruby", "perl": "perl",
    "php": "php", "lua": "lua", "rscript": "r", "tclsh": "tcl", "make": "make",
}

# Constructs that only C++ has, to tell a C++ ".h" header from a C one.
_CPP_HINTS = re.compile(
    r"^\s*(?:class\s+\w+[^;]*$|namespace\s+\w*\s*\{|template\s*<|public:|private:|protected:|"
    r"using\s+namespace\b|#include\s*<(?:iostream|string|vector|memory|map|cstdint|cstddef)>)",
    re.MULTILINE,
)


def detect_language(path: str, text: str | None = None) -> str:
    """Return the language name of the file at repo-relative ``path``.

    Uses well-known file names (``Makefile``, ``Dockerfile``...), then the
    extension, then, when ``text`` is given, a ``#!`` line.  A ``.h``
    header whose text shows C++ constructs is ``"cpp"``.  Falls back to
    ``"text"``.
    """
    base = posixpath.basename(path.replace("\\", "/"))
    lower = base.lower()
    stem, ext = posixpath.splitext(lower)
    # Well-known names first: "CMakeLists.txt" is CMake, not text.
    lang = _FILENAMES.get(lower)
    if lang is None and ext:
        lang = _EXTENSIONS.get(ext)
    if lang is None and lower.startswith(("dockerfile.", "makefile.")):
        lang = _FILENAMES[lower.split(".", 1)[0]]
    if lang is None and lower.startswith("readme"):
        lang = "markdown" if ext in ("", ".md") else "text"
    if lang is None and text:
        lang = _from_shebang(text)
    if lang == "c" and ext == ".h" and text and _CPP_HINTS.search(text, 0, 20000):
        lang = "cpp"
    return lang or "text"


def _from_shebang(text: str) -> str | None:
    if not text.startswith("#!"):
        return None
    first = text[2:200].split("\n", 1)[0].strip()
    words = first.split()
    if not words:
        return None
    prog = posixpath.basename(words[0])
    if prog == "env":
        # "#!/usr/bin/env -S python3 -u": skip env's own options.
        args = [w for w in words[1:] if not w.startswith("-") and "=" not in w]
        if not args:
            return None
        prog = posixpath.basename(args[0])
    prog = prog.lower()
    if prog in _INTERPRETERS:
        return _INTERPRETERS[prog]
    # Versioned interpreters: python3.11, ruby2.7, perl5...
    return _INTERPRETERS.get(re.sub(r"[\d.]+$", "", prog))


_LOCK_FILES = frozenset({
    "package-lock.json", "npm-shrinkwrap.json", "yarn.lock", "pnpm-lock.yaml", "bun.lockb",
    "poetry.lock", "pipfile.lock", "pdm.lock", "uv.lock", "cargo.lock", "gemfile.lock",
    "composer.lock", "go.sum", "podfile.lock", "mix.lock", "pubspec.lock", "flake.lock",
    "packages.lock.json", "gradle.lockfile",
})

_GENERATED_SUFFIXES = (
    ".min.js", ".min.css", ".min.mjs", "-min.js", ".bundle.js", ".map", ".pb.go", "_pb2.py",
    "_pb2_grpc.py", ".pb.h", ".pb.cc", ".g.dart", ".freezed.dart", ".designer.cs", ".g.cs",
    "_generated.go", ".generated.ts", ".d.ts.map",
)

# Generator headers.  "DO NOT EDIT" counts only in capitals ("# do not edit below"
# is a note to a human); the other phrases only where a comment line begins
# with them, since prose says "keys generated by running iteratee" too.
_MARKER_ANYWHERE = re.compile(r"\bDO NOT EDIT\b|@generated\b")
_MARKER_LEADING = re.compile(
    r"(?:this\s+)?(?:file|code|module|source)(?:\s+\w+)?\s+(?:is|was|has\s+been)\s+"
    r"(?:auto-?|automatically\s+)?generated\b"
    r"|(?:auto-?|automatically\s+)?generated\s+(?:by|from|with|using)\b"
    r"|code\s+generated\b|auto-?generated\b",
    re.IGNORECASE,
)
_COMMENT_PREFIX = re.compile(r"[\s#/*!;%\"'<>{}()\-]*")

_COMMENT_STARTS = ("#", "//", "/*", "*", "<!--", "--", ";", '"""', "'''", "%", "{#", "(*")

MINIFIED_MIN_CHARS = 2000
LONG_LINE_CHARS = 500

# Languages whose lines are legitimately long (prose, data).
_LONG_LINE_OK = frozenset({"markdown", "rst", "text", "csv", "json", "xml", "html", "latex"})


def is_probably_generated(path: str, text: str | None = None) -> str | None:
    """Return why ``path`` looks generated or minified, or ``None`` if it looks hand-written.

    Checks, cheapest first: lock files and generated-file suffixes
    (``*.min.js``, ``*_pb2.py``...); then, with ``text``, generator headers
    in comments among the first 10 lines ("DO NOT EDIT", "@generated", a
    comment starting "Generated by" or "This file is autogenerated") and
    minified code (very long average or maximum line length in a code file).
    """
    base = posixpath.basename(path.replace("\\", "/")).lower()
    if base in _LOCK_FILES or base.endswith(".lock"):
        return "lock file"
    for suffix in _GENERATED_SUFFIXES:
        if base.endswith(suffix):
            return f"generated file name (*{suffix})"
    if not text:
        return None
    head = text[:3000]
    for line in head.split("\n")[:10]:
        if not line.lstrip().startswith(_COMMENT_STARTS):
            continue  # only comments count, not code that mentions the words
        m = _MARKER_ANYWHERE.search(line) or _MARKER_LEADING.match(line, _COMMENT_PREFIX.match(line).end())
        if m:
            return f"generated marker in first lines: {m.group(0)!r}"
    lang = detect_language(path, text)
    if lang in _LONG_LINE_OK:
        return None
    if len(text) < MINIFIED_MIN_CHARS:
        return None
    # Minified: most of the bytes sit in very long lines, and lines are long on
    # average.  A few long literals in a hand-written file (a test's expected
    # output) are not enough.
    lengths = list(map(len, text.split("\n")))
    in_long = sum(n for n in lengths if n > LONG_LINE_CHARS)
    if in_long > len(text) / 2 and len(text) / len(lengths) > 150:
        return f"minified ({in_long * 100 // len(text)}% of the text in lines over {LONG_LINE_CHARS} characters)"
    return None
