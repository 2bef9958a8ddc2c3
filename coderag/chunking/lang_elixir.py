"""Elixir definitions: modules, protocols, implementations, functions, macros and guards.

In the grammar every definition is a ``call`` whose target is the keyword.
``defmodule``, ``defprotocol`` and ``defimpl`` are containers (a nested
``defmodule Inner`` is ``Outer.Inner``, ``defimpl P, for: T`` is ``P.T``, as
Elixir names them); ``def``/``defp``/``defdelegate`` are functions,
``defmacro``/``defmacrop``/``defguard``/``defguardp`` macros.  Each clause of
a multi-clause function is its own chunk.  Module attributes (``@doc``,
``@spec``, ``@impl``...) and ``#`` comments directly above a definition are
part of it.
"""
from __future__ import annotations

from coderag.chunking.syntax import Found
from coderag.chunking.syntax import LanguageSpec
from coderag.chunking.syntax import field_text
from coderag.chunking.syntax import text_of

_FUNCTIONS = {
    "def": "function", "defp": "function", "defdelegate": "function",
    "defmacro": "macro", "defmacrop": "macro", "defguard": "macro", "defguardp": "macro",
}
_CONTAINERS = {"defmodule": "module", "defprotocol": "protocol", "defimpl": "module"}


def _arguments(node):
    return next((c for c in node.named_children if c.type == "arguments"), None)


def _function_name(head) -> str:
    """``name(args) when guard`` / ``name`` / ``a <> b`` -> ``name`` / ``name`` / ``<>``."""
    if head.type == "binary_operator":
        operator = field_text(head, "operator")
        if operator != "when":
            return operator
        head = head.child_by_field_name("left")
    if head is not None and head.type == "call":
        head = head.child_by_field_name("target")
    return text_of(head, 120) if head is not None and head.type == "identifier" else ""


def _impl_target(args) -> str:
    """The ``T`` of ``defimpl P, for: T``."""
    for keywords in (c for c in args.named_children if c.type == "keywords"):
        for pair in keywords.named_children:
            value = pair.child_by_field_name("value")
            if field_text(pair, "key").rstrip(": ") == "for" and value is not None and value.type == "alias":
                return text_of(value, 120)
    return ""


class ElixirSpec(LanguageSpec):
    query = (
        "(call target: (identifier) @keyword (#any-of? @keyword "
        + " ".join(f'"{k}"' for k in (*_FUNCTIONS, *_CONTAINERS))
        + ")) @def"
    )
    attach_types = frozenset({"unary_operator"})  # @doc, @spec, @impl...

    def classify(self, node):
        keyword = field_text(node, "target")
        args = _arguments(node)
        if args is None or not args.named_children:
            return None
        body = next((c for c in node.named_children if c.type == "do_block"), None)
        head = args.named_children[0]
        if keyword in _CONTAINERS:
            name = text_of(head, 120) if head.type == "alias" else ""
            target = _impl_target(args) if keyword == "defimpl" else ""
            if name and target:
                name = f"{name}.{target}"
            return Found(name, _CONTAINERS[keyword], True, node, body)
        return Found(_function_name(head), _FUNCTIONS[keyword], False, node, body)
