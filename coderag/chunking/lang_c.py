"""C and C++ definitions: functions, structs/unions/enums, classes, namespaces.

Names are qualified with ``::``; an out-of-line ``int A::b() {...}`` is the
method ``A::b``.
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


def _template_outer(node):
    while node.parent is not None and node.parent.type == "template_declaration":
        node = node.parent
    return node


class CSpec(LanguageSpec):
    query = (
        "[(function_definition) (struct_specifier) (union_specifier) (enum_specifier)] @def"
    )
    sep = "::"

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
