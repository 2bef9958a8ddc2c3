"""Every chunk's embedding text at a repository's HEAD, as an index would make them (for the bench scripts)."""
from __future__ import annotations


def embedding_texts(repo_root: str) -> tuple[list[str], list[str]]:
    """``(chunk texts, file paths)``: the configured chunker's chunks of every indexable file."""
    from coderag.analysis.documents import embedding_text
    from coderag.config import load_settings
    from coderag.git.plumbing import Repo
    from coderag.indexing.file_pipeline import BatchWorker, prepare_file, skip_reason_for_mode

    repo = Repo.discover(repo_root)
    settings = load_settings(repo.root)
    worker = BatchWorker(str(repo.root), settings, None)
    entries = [e for e in repo.entries("HEAD").values() if not skip_reason_for_mode(e.mode)]
    sizes = repo.blob_sizes(e.blob for e in entries)
    items = [(e.path, e.blob) for e in entries if sizes.get(e.blob, 0) <= settings.max_file_bytes]
    texts: list[str] = []
    for start in range(0, len(items), 500):
        part = items[start:start + 500]
        data = dict(repo.read_blobs(b for _, b in part))
        for path, blob in part:
            prepared = prepare_file(path, blob, data[blob], worker.chunker, settings.max_file_bytes)
            texts += [embedding_text(c) for c in prepared.chunks]
    return texts, [path for path, _ in items]
