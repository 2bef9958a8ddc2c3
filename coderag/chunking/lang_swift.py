"""Swift definitions: types, extensions, functions, initializers, subscripts, computed properties.

Containers are ``class``, ``struct``, ``enum``, ``actor`` (kind ``class``),
``protocol`` (kind ``interface``) and ``extension Foo`` (kind ``extension``,
symbol ``Foo``, so its members are ``Foo.member``).  Inside them ``func``,
``init``, ``deinit``, ``subscript`` and protocol requirements are methods;
a ``var`` with a ``{ get/set }`` body is a ``property``.  ``@attributes`` and
modifiers are part of the declaration node; ``///`` and ``/** */`` comments
directly above attach.
"""
from __future__ import annotations

import re

from coderag.chunking.syntax import Found
from coderag.chunking.syntax import LanguageSpec
from coderag.chunking.syntax import text_of

_TYPE_KINDS = {"class": "class", "struct": "struct", "enum": "enum", "actor": "class", "extension": "extension"}
_MEMBER_OF = frozenset({"class_body", "enum_class_body", "protocol_body"})
_FUNCTIONS = {
    "function_declaration": "",
    "protocol_function_declaration": "",
    "init_declaration": "init",
    "deinit_declaration": "deinit",
    "subscript_declaration": "subscript",
}


def _type_name(node) -> str:
    """``Outer.Inner<T>`` / ``[Int]`` -> ``Outer.Inner`` / ``[Int]``."""
    return re.sub(r"<.*", "", text_of(node, 160)).replace(" ", "")


class SwiftSpec(LanguageSpec):
    query = (
        "[(class_declaration) (protocol_declaration) (function_declaration)"
        " (protocol_function_declaration) (init_declaration) (deinit_declaration)"
        " (subscript_declaration) (property_declaration)] @def"
    )
    comment_types = frozenset({"comment", "multiline_comment"})

    def classify(self, node):
        ntype = node.type
        body = node.child_by_field_name("body")
        if ntype == "class_declaration":
            keyword = node.child_by_field_name("declaration_kind")
            kind = _TYPE_KINDS.get(keyword.type if keyword is not None else "", "class")
            return Found(_type_name(node.child_by_field_name("name")), kind, True, node, body)
        if ntype == "protocol_declaration":
            return Found(_type_name(node.child_by_field_name("name")), "interface", True, node, body)
        member = node.parent is not None and node.parent.type in _MEMBER_OF
        if ntype == "property_declaration":
            computed = node.child_by_field_name("computed_value")
            if computed is None:
                return None  # a stored property: part of its type's (or the module's) chunk
            pattern = node.child_by_field_name("name")
            name = text_of(pattern.child_by_field_name("bound_identifier") if pattern else None)
            return Found(name, "property", False, node, computed)
        name = _FUNCTIONS[ntype] or text_of(node.child_by_field_name("name"))
        return Found(name, "method" if member else "function", False, node, body)
