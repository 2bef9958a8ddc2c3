"""C++ headers as real libraries write them: licence first, attribute macros, header guards."""
from __future__ import annotations

from coderag.chunking.definitions import DefinitionChunker
from coderag.chunking.lang_c import blank_macros
from coderag.indexing.file_pipeline import prepare_file

LICENCE = "".join(f"// Copyright line {i} of a long licence header that says nothing about C++.\n" for i in range(12))

HEADER = LICENCE + """
#ifndef EXAMPLE_STATUS_H_
#define EXAMPLE_STATUS_H_

#include <string>

namespace example {
EXAMPLE_NAMESPACE_BEGIN

// The outcome of an operation: OK, or an error code with a message.
class EXAMPLE_MUST_USE_RESULT Status final {
 public:
  // Creates an OK status.
  Status() {}

  // The error code; 0 when OK.
  int code() const EXAMPLE_LOCKS_EXCLUDED(mu_) { return code_; }

 private:
  int code_ EXAMPLE_GUARDED_BY(mu_) = 0;
};

// Returns true when `s` holds no error.
EXAMPLE_EXPORT inline bool IsOk(const Status& s) { return s.code() == 0; }

EXAMPLE_NAMESPACE_END
}  // namespace example

#endif  // EXAMPLE_STATUS_H_
"""


def test_blanking_keeps_offsets_and_lines():
    src = HEADER.encode()
    out = blank_macros(src)
    assert len(out) == len(src) and out.count(b"\n") == src.count(b"\n")
    assert b"EXAMPLE_MUST_USE_RESULT" not in out and b"EXAMPLE_NAMESPACE_BEGIN" not in out
    assert b"EXAMPLE_LOCKS_EXCLUDED" not in out and b"EXAMPLE_EXPORT" not in out
    # Macros used as values are left alone.
    assert blank_macros(b"int x = MAX_SIZE + 1;\nif (FLAG_ON && y) {}\n") == b"int x = MAX_SIZE + 1;\nif (FLAG_ON && y) {}\n"


def test_a_macro_annotated_class_in_a_guarded_header_gets_definition_chunks():
    prepared = prepare_file("include/example/status.h", "blob", HEADER.encode(), DefinitionChunker(), 1 << 20)
    assert prepared.language == "cpp"  # the C++ shows only after the licence
    symbols = {(c.symbol, c.kind) for c in prepared.chunks}
    assert ("example::Status", "class") in symbols
    assert ("example::Status::Status", "method") in symbols
    assert ("example::Status::code", "method") in symbols
    assert ("example::IsOk", "function") in symbols
    is_ok = next(c for c in prepared.chunks if c.symbol == "example::IsOk")
    assert is_ok.text.startswith("// Returns true when")  # the comment stays with its definition


def test_a_c_header_stays_c():
    text = LICENCE + "#ifndef X_H\n#define X_H\nstruct point { int x; int y; };\nint add(int a, int b);\n#endif\n"
    assert prepare_file("src/x.h", "blob", text.encode(), DefinitionChunker(), 1 << 20).language == "c"


def test_one_unknown_construct_in_a_header_guard_keeps_the_definitions():
    # A lower-case annotation macro nothing can blank: the parser wraps the whole guard in an error.
    text = HEADER.replace("int code() const", "int* absl_nonnull code() const absl_nonnull")
    prepared = prepare_file("include/example/status.h", "blob", text.encode(), DefinitionChunker(), 1 << 20)
    symbols = {c.symbol for c in prepared.chunks}
    assert {"example::Status", "example::IsOk"} <= symbols
    assert {c.kind for c in prepared.chunks} != {"window"}


def test_preprocessor_lines_keep_their_macro_names():
    src = b"#ifndef EXAMPLE_RANGES_H_\n#define EXAMPLE_RANGES_H_\n#  define EXAMPLE_EXPORT [[gnu::visibility]]\n#endif\n"
    assert blank_macros(src) == src


def test_an_error_around_a_namespace_counts_only_what_failed_to_parse():
    # "DEFINE_FLAG(int, ...)" puts a type where an expression belongs: the parser wraps the whole
    # header guard in one error, although only that line is unparsed; the rest has definitions.
    text = (
        "#ifndef X_H_\n#define X_H_\nnamespace net {\n"
        'DEFINE_FLAG(int, retries, 3, "x");\n'
        "enum class Code : int { kOk = 0, kBad = 1 };\n"
        "using Rep = int;\n"
        "}  // namespace net\n#endif  // X_H_\n"
    )
    chunks = DefinitionChunker().chunk("include/net/flags.h", text, "cpp")
    assert "net::Code" in {c.symbol for c in chunks}
