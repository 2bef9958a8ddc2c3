"""Kotlin definitions: classes, interfaces, objects, functions and constructors.

Containers are ``class`` (data, sealed, abstract... classes), ``enum class``
(kind ``enum``), ``interface``, ``object`` and ``companion object`` (kind
``object``, named ``Companion`` when anonymous).  ``fun``, ``constructor``
and ``init`` blocks are functions (methods inside a container); an extension
function ``fun String.shout()`` is named ``String.shout``.  Annotations and
modifiers are part of the declaration node; KDoc ``/** */`` and ``//``
comments directly above attach.

Written for the ``tree-sitter-kotlin`` 1.x grammar (tree-sitter-grammars),
which has no ``body`` fields: bodies are found by node type.
"""
from __future__ import annotations

import re

from coderag.chunking.syntax import Found
from coderag.chunking.syntax import LanguageSpec
from coderag.chunking.syntax import field_text
from coderag.chunking.syntax import text_of

_BODIES = frozenset({"class_body", "enum_class_body", "function_body", "block"})
_NOT_RECEIVER = frozenset({"modifiers", "type_parameters", "identifier"})
_SPECIAL = {"secondary_constructor": "constructor", "anonymous_initializer": "init"}


def _body(node):
    return next((c for c in node.named_children if c.type in _BODIES), None)


def _class_kind(node) -> str:
    if any(c.type == "interface" for c in node.children):
        return "interface"
    modifiers = next((c for c in node.named_children if c.type == "modifiers"), None)
    if modifiers is not None and any(
        c.type == "class_modifier" and text_of(c) == "enum" for c in modifiers.named_children
    ):
        return "enum"
    return "class"


def _receiver(function, name_node) -> str:
    """The receiver type of an extension function (``Map<K, V>?`` -> ``Map``), or ``""``."""
    for child in function.named_children:
        if child.start_byte >= name_node.start_byte:
            return ""
        if child.type not in _NOT_RECEIVER:
            return re.sub(r"<.*", "", text_of(child, 160)).rstrip("?").replace(" ", "")
    return ""


class KotlinSpec(LanguageSpec):
    query = (
        "[(class_declaration) (object_declaration) (companion_object) (function_declaration)"
        " (secondary_constructor) (anonymous_initializer)] @def"
    )
    comment_types = frozenset({"line_comment", "block_comment"})

    def classify(self, node):
        ntype = node.type
        body = _body(node)
        if ntype in _SPECIAL:
            return Found(_SPECIAL[ntype], "function", False, node, body)
        if ntype == "companion_object":
            return Found(field_text(node, "name") or "Companion", "object", True, node, body)
        name_node = node.child_by_field_name("name")
        name = text_of(name_node)
        if not name:
            return None  # error recovery made up a missing name
        if ntype == "object_declaration":
            return Found(name, "object", True, node, body)
        if ntype == "class_declaration":
            return Found(name, _class_kind(node), True, node, body)
        receiver = _receiver(node, name_node)
        return Found(f"{receiver}.{name}" if receiver else name, "function", False, node, body)
