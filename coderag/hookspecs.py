"""Every hook coderag calls, in one place (the plugin API).

A plugin is a module (or object) with functions marked ``@coderag.hookimpl``
and named like the specs below.  Builtin backends use the same hooks.  Each
``coderag_register_*`` hook receives a ``register`` callable
(:class:`coderag.protocols.Registry`) and calls it once per backend:

.. code-block:: python

    import coderag

    @coderag.hookimpl
    def coderag_register_embedders(register):
        register("my-model", make_my_model, description="...")

Hooks only *register* factories; they must not import heavy libraries or do
any work.  A factory is called when (and each time) its backend is chosen,
including once in each worker process, so it must be importable by name
(a module-level function or class) and cheap to call twice.
"""
from __future__ import annotations

import pluggy

hookspec = pluggy.HookspecMarker("coderag")


# ---------------------------------------------------------------------------
# backends
# ---------------------------------------------------------------------------


@hookspec
def coderag_register_chunkers(register):
    """Register chunker factories.

    :param register: call ``register(name, factory, description="")``.
        ``factory(**options)`` returns an object satisfying
        :class:`coderag.protocols.Chunker`: ``name``, ``version`` and
        ``chunk(path, text, language) -> list[Chunk]``.  Options come from git
        config keys ``coderag.chunker.<option>``.

    Chunkers run in worker processes: they must be picklable and free of I/O.
    """


@hookspec
def coderag_register_embedders(register):
    """Register embedder factories.

    :param register: call ``register(name, factory, description="")``.
        ``factory(**options)`` returns an object satisfying
        :class:`coderag.protocols.Embedder`: ``model_id``, ``dim``,
        ``embed_documents(texts)`` and ``embed_query(text)``.  Options come
        from git config keys ``coderag.embedder.<option>`` (for the builtin
        ``model2vec`` embedder, ``coderag.embedder.model`` names a folder or
        hub id).

    The factory runs once per process, including in each worker, so it must
    load weights from local files without network access when possible.
    ``model_id`` must change whenever the vectors would change.
    """


@hookspec
def coderag_register_vector_stores(register):
    """Register vector store factories.

    :param register: call ``register(name, factory, description="")``.
        ``factory(directory, dim=..., **options)`` opens (creating if needed)
        a store in ``directory`` (a :class:`pathlib.Path` owned by the store)
        and returns an object satisfying :class:`coderag.protocols.VectorStore`.

    Stores are used by one writer process at a time (coderag holds a lock)
    and opened read-only by any number of searchers; ``commit()`` must be
    atomic so a reader or a crash never sees half a write.
    """


@hookspec
def coderag_register_lexical_stores(register):
    """Register lexical (keyword) store factories.

    :param register: call ``register(name, factory, description="")``.
        ``factory(directory, **options)`` returns an object satisfying
        :class:`coderag.protocols.LexicalStore`.  Same process and
        durability rules as vector stores.
    """
