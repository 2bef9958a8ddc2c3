"""C and C++ definitions: functions, structs/unions/enums, classes, namespaces.

Names are qualified with ``::``; an out-of-line ``int A::b() {...}`` is the
method ``A::b``.  Attribute-like macros (``class ABSL_MUST_USE_RESULT
Status``, ``FMT_EXPORT template <...>``, ``UV_EXTERN int uv_run(...)``,
a lone ``ABSL_NAMESPACE_BEGIN`` line) are blanked before parsing: the
grammar cannot know they expand to nothing, and took the macro for the class
name or wrapped the whole declaration in an error.
"""
from __future__ import annotations

import re

from coderag.chunking.syntax import Found
from coderag.chunking.syntax import LanguageSpec
from coderag.chunking.syntax import field_text
from coderag.chunking.syntax import text_of

_NAME_TYPES = frozenset(
    {"identifier", "field_identifier", "qualified_identifier", "destructor_name",
     "operator_name", "type_identifier", "template_function", "operator_cast"}
)
_SPECIFIERS = {
    "struct_specifier": "struct",
    "union_specifier": "union",
    "enum_specifier": "enum",
    "class_specifier": "class",
}


def _declarator_name(node) -> str:
    """Follow ``declarator`` fields (pointers, references, function declarators) to the name."""
    for _ in range(16):
        if node is None:
            return ""
        if node.type in _NAME_TYPES:
            return re.sub(r"<[^<>]*>", "", text_of(node, 160)).replace(" ", "")
        inner = node.child_by_field_name("declarator")
        if inner is None:
            # reference_declarator and friends have no field: take the first named child.
            inner = next((c for c in node.named_children if c.type != "parameter_list"), None)
        node = inner
    return ""


# An upper-case macro name with an underscore ("ABSL_MUST_USE_RESULT", "FMT_CONSTEXPR20", not "T" or
# "FILE"), optionally with arguments, directly followed by another name on the same line: in a
# declaration two adjacent names are a type and a name, so the macro is a specifier that expands away.
_SPECIFIER_MACRO = re.compile(
    rb"(?<![\w#.>:])([A-Z][A-Z0-9]*_[A-Z0-9_]*)(?:\([^()\n]*\))?(?=[ \t]+(?:[A-Za-z_~]|::))"
)
# The same after a declarator, before what ends it: "int f() const ABSL_LOCKS_EXCLUDED(mu) {",
# "int n_ ABSL_GUARDED_BY(mu) = 0;", "void g() FMT_NOEXCEPT;" ("return MAX;" stays valid blanked).
_TRAILING_MACRO = re.compile(
    rb"(?<=[\w)\]][ \t])([A-Z][A-Z0-9]*_[A-Z0-9_]*)(?:\([^()\n]*\))?(?=[ \t]*(?:[;{=,)]|$))", re.MULTILINE
)
# A line holding only such a macro and no ";" ("ABSL_NAMESPACE_BEGIN", "FMT_BEGIN_EXPORT").
_LONE_MACRO = re.compile(rb"(?m)^[ \t]*([A-Z][A-Z0-9]*_[A-Z0-9_]*)[ \t]*$")


def _blank(match: re.Match) -> bytes:
    text = match.string
    line = text[text.rfind(b"\n", 0, match.start()) + 1 : match.start()]
    if line.lstrip().startswith(b"#"):
        return match.group(0)  # "#ifndef FMT_RANGES_H_", "#define FMT_EXPORT": the preprocessor's own names
    return b" " * (match.end() - match.start())


def blank_macros(src: bytes) -> bytes:
    """``src`` with attribute-like macros replaced by spaces (offsets and lines unchanged)."""
    if not re.search(rb"[A-Z]_", src):
        return src
    return _LONE_MACRO.sub(_blank, _TRAILING_MACRO.sub(_blank, _SPECIFIER_MACRO.sub(_blank, src)))


def _template_outer(node):
    while node.parent is not None and node.parent.type == "template_declaration":
        node = node.parent
    return node


class CSpec(LanguageSpec):
    query = (
        "[(function_definition) (struct_specifier) (union_specifier) (enum_specifier)] @def"
    )
    sep = "::"

    def preprocess(self, src: bytes) -> bytes:
        return blank_macros(src)

    def classify(self, node):
        body = node.child_by_field_name("body")
        if node.type == "function_definition":
            name = _declarator_name(node.child_by_field_name("declarator"))
            if not name:
                return None
            kind = "method" if "::" in name else "function"
            return Found(name, kind, False, _template_outer(node), body)
        if node.type == "namespace_definition":
            name = field_text(node, "name") or "(anonymous)"
            return Found(name, "namespace", True, node, body)
        if body is None:
            return None  # a use ("struct foo *p"), not a definition
        name = field_text(node, "name")
        outer = node
        parent = node.parent
        if parent is not None and parent.type in ("type_definition", "declaration", "template_declaration"):
            outer = _template_outer(parent) if parent.type == "template_declaration" else parent
            if not name and parent.type == "type_definition":
                name = _declarator_name(parent.child_by_field_name("declarator"))
        if not name:
            return None  # anonymous nested struct/union: part of its parent
        return Found(name, _SPECIFIERS[node.type], True, outer, body)


class CppSpec(CSpec):
    query = (
        "[(function_definition) (struct_specifier) (union_specifier) (enum_specifier)"
        " (class_specifier) (namespace_definition)] @def"
    )
