"""Rust definitions: fns, impl blocks (methods as ``Type.method``), structs, enums, traits, mods, macros."""
from __future__ import annotations

import re

from coderag.chunking.syntax import Found
from coderag.chunking.syntax import LanguageSpec
from coderag.chunking.syntax import field_text

_CONTAINERS = {
    "struct_item": "struct",
    "enum_item": "enum",
    "union_item": "union",
    "trait_item": "trait",
    "mod_item": "namespace",
}


def _bare_type(raw: str) -> str:
    """``&'a mut Foo<T>`` / ``crate::x::Foo<T>`` -> ``Foo``."""
    raw = re.sub(r"<.*", "", raw)
    raw = raw.replace("&", "").replace("mut ", "").replace("dyn ", "")
    raw = re.sub(r"'\w+\s*", "", raw).strip()
    return raw.rsplit("::", 1)[-1]


class RustSpec(LanguageSpec):
    query = (
        "[(function_item) (impl_item) (struct_item) (enum_item) (union_item) (trait_item)"
        " (mod_item) (macro_definition)] @def"
    )
    comment_types = frozenset({"line_comment", "block_comment"})
    attach_types = frozenset({"attribute_item"})

    def classify(self, node):
        ntype = node.type
        body = node.child_by_field_name("body")
        if ntype == "impl_item":
            name = _bare_type(field_text(node, "type"))
            return Found(name, "impl", True, node, body) if name else None
        name = field_text(node, "name")
        if not name:
            return None
        if ntype == "function_item":
            return Found(name, "function", False, node, body)
        if ntype == "macro_definition":
            return Found(name, "macro", False, node, None)
        if ntype == "mod_item" and body is None:
            return None  # "mod foo;" declares a file, it defines nothing here
        return Found(name, _CONTAINERS[ntype], True, node, body)
