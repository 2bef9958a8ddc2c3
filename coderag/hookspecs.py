"""Every hook coderag calls, in one place (the plugin API).

A plugin is a module (or object) with functions marked ``@coderag.hookimpl``
and named like the specs below, published with an entry point in the
``coderag`` group.  Builtin backends use the same hooks.  Each
``coderag_register_*`` hook receives a ``register`` callable
(:class:`coderag.protocols.Registry`) and calls it once per backend:

.. code-block:: python

    import coderag

    @coderag.hookimpl
    def coderag_register_embedders(register):
        register("my-model", make_my_model, description="...")

Rules common to every hook:

* **Register, don't work.**  Hooks run whenever any backend is looked up,
  including for ``git coderag plugins`` and on the commit hook path: they
  must not import heavy libraries, read files or touch the network.
* **Factories are lazy.**  A factory is called only when (and each time) its
  backend is chosen by configuration: once per command, and once more in
  each worker process of a big update.  Import heavy libraries inside the
  factory, make it a module-level function or class (importable by name),
  and keep it cheap to call twice; load weights or files on first use.
* **Options** come from git config ``coderag.<kind>.<option>`` as keyword
  arguments (``-`` in the key becomes ``_``); values may arrive as strings,
  ints, floats or bools, so convert them.  Accept ``**options`` you do not
  know when you can, and raise :class:`coderag.errors.ConfigError` with a
  one-line message for a bad value.
* **Identity.**  The index records each backend's name and options, plus the
  chunker's ``version`` and the embedder's ``model_id``; a change rebuilds
  what depends on it, so bump them whenever your output changes.

The conformance kit (:mod:`coderag.testing`) checks each kind's rules.
"""
from __future__ import annotations

import pluggy

hookspec = pluggy.HookspecMarker("coderag")


# ---------------------------------------------------------------------------
# backends
# ---------------------------------------------------------------------------


@hookspec
def coderag_register_chunkers(register):
    """Register chunker factories: what splits a file into searchable spans.

    :param register: call ``register(name, factory, description="")`` once
        per chunker.  ``name`` is what users put in ``git config
        coderag.chunker NAME``; ``description`` is one line for
        ``git coderag plugins``.

    ``factory(**options)`` returns an object satisfying
    :class:`coderag.protocols.Chunker` (``name``, ``version`` and
    ``chunk(path, text, language) -> list[Chunk]``); options come from git
    config ``coderag.chunker.<option>``.

    Lifecycle: the factory runs once per update in the writing process and
    once in each worker process; ``chunk`` is then called for every changed
    file, with text read from git (never from the working tree).
    Processes: the chunker is pickled into workers, so it must be picklable,
    hold no open files or locks, and be pure: deterministic output for the
    same input, no I/O.  ``version`` must change whenever the output does.
    Kit: :class:`coderag.testing.ChunkerContract`.
    """


@hookspec
def coderag_register_embedders(register):
    """Register embedder factories: what turns chunk texts and queries into vectors.

    :param register: call ``register(name, factory, description="")`` once
        per embedder (selected with ``git config coderag.embedder NAME``).

    ``factory(**options)`` returns an object satisfying
    :class:`coderag.protocols.Embedder`: ``model_id``, ``dim``,
    ``embed_documents(texts)`` and ``embed_query(text)``.  Options come from
    git config ``coderag.embedder.<option>`` (for the builtin ``model2vec``
    embedder, ``coderag.embedder.model`` names a folder or hub id).

    Lifecycle: created once per process that embeds: the update's writer,
    each worker, and each searcher (for the query).  Searches of a bare
    identifier skip the embedder, so keep construction cheap and load the
    model on first use.  Processes: workers are forked or re-create the
    embedder through the factory; pickling must work and should not carry
    the weights (reload them in the new process).  Load weights from local
    files: coderag must work with no network.  ``model_id`` must change
    whenever the vectors would; ``dim`` must be known without embedding.
    Kit: :class:`coderag.testing.EmbedderContract`.
    """


@hookspec
def coderag_register_vector_stores(register):
    """Register vector store factories: where embeddings live on disk.

    :param register: call ``register(name, factory, description="")`` once
        per store (selected with ``git config coderag.vectorstore NAME``).

    ``factory(directory, dim=..., readonly=False, **options)`` opens
    (creating if needed, unless ``readonly``) a store in ``directory`` (a
    :class:`pathlib.Path` the store owns alone) and returns an object
    satisfying :class:`coderag.protocols.VectorStore`.  Options come from
    git config ``coderag.vectorstore.<option>``.

    Lifecycle: the directory lives as long as the index (a full rebuild
    starts a new one); each update opens it, adds and deletes, calls
    ``commit()`` once and closes it.  A crash after ``commit()`` but before
    coderag records the update is undone by deleting the labels it added, so
    ``delete`` must work for any committed label.  Searchers
    open it with ``readonly=True``, which must never write or lock anything
    and must refuse changes.  Processes: one writer at a time (coderag holds
    a lock) and any number of read-only searchers in other processes;
    ``commit()`` must be atomic, so a reader or a crash sees the previous
    commit or the new one, never half of one.  Stores are not shared across
    processes or threads otherwise, and are never pickled.
    Kit: :class:`coderag.testing.VectorStoreContract`.
    """


@hookspec
def coderag_register_lexical_stores(register):
    """Register lexical (keyword) store factories: BM25-style search on disk.

    :param register: call ``register(name, factory, description="")`` once
        per store (selected with ``git config coderag.lexicalstore NAME``).

    ``factory(directory, readonly=False, **options)`` returns an object
    satisfying :class:`coderag.protocols.LexicalStore` over pre-tokenised
    :class:`coderag.protocols.LexicalDoc` documents.  Options come from git
    config ``coderag.lexicalstore.<option>``.

    Lifecycle: the same as vector stores (open, add and delete, one
    ``commit()``, close; a full rebuild starts a new directory).  Processes:
    one writer at a time and read-only searchers in other processes, which
    must never write; ``commit()`` is atomic.  Tokenising is already done (in
    worker processes), so a whitespace split is all the analysis needed.
    Kit: :class:`coderag.testing.LexicalStoreContract`.
    """
