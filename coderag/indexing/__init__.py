"""Everything that writes an index.

The flow of one update: :mod:`~coderag.indexing.update` plans it from a git
diff against the manifest; :mod:`~coderag.indexing.file_pipeline` reads,
chunks and describes each changed file (inline, or in the worker processes of
:mod:`~coderag.indexing.pool`); the updater embeds and writes the stores and
commits a new generation. :mod:`~coderag.indexing.background` runs updates
detached from git hooks; :mod:`~coderag.indexing.watch` follows the work tree.

Search never imports this package.
"""
