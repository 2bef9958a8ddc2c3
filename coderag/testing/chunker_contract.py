"""The chunker contract: what every :class:`~coderag.protocols.Chunker` must do."""
from __future__ import annotations

import pickle
from typing import Callable

import pytest

from coderag.protocols import Chunk
from coderag.protocols import Chunker
from coderag.testing.samples import CHUNK_SAMPLES
from coderag.testing.samples import EMPTY_SAMPLES
from coderag.testing.samples import Sample


def file_lines(text: str) -> list[str]:
    """Lines as coderag counts them: split on ``"\\n"``; a final ``"\\n"`` adds no line."""
    lines = text.split("\n")
    if lines[-1] == "":
        lines.pop()
    return lines


class ChunkerContract:
    """Contract tests for a chunker.  Subclass it and override :meth:`factory`::

        from coderag.testing import ChunkerContract

        class TestMyChunker(ChunkerContract):
            @pytest.fixture
            def factory(self):
                return my_package.make_chunker      # what you pass to register()

    Optional fixtures to override: ``options`` (keyword arguments for the
    factory), ``samples`` (files to chunk; extend :data:`CHUNK_SAMPLES`
    rather than replace it), ``skippable_line`` (lines the chunker may leave
    out of every chunk) and ``max_chunk_chars`` (if the chunker cuts the
    text of over-long chunks, the length it cuts them to).
    """

    @pytest.fixture
    def factory(self) -> Callable[..., Chunker]:
        raise NotImplementedError(
            "override the `factory` fixture in your ChunkerContract subclass: "
            "return the chunker factory your plugin registers"
        )

    @pytest.fixture
    def options(self) -> dict:
        """Keyword arguments for the factory (git config ``coderag.chunker.<option>``)."""
        return {}

    @pytest.fixture
    def chunker(self, factory, options) -> Chunker:
        return factory(**options)

    @pytest.fixture
    def samples(self) -> list[Sample]:
        return list(CHUNK_SAMPLES)

    @pytest.fixture
    def skippable_line(self) -> Callable[[str], bool]:
        """Lines that need not be in any chunk; by default only blank ones."""
        return lambda line: not line.strip()

    @pytest.fixture
    def max_chunk_chars(self) -> int | None:
        """``None``: chunk text is always exactly its lines.  An int: text may be cut to that length."""
        return None

    # ------------------------------------------------------------------ tests

    def test_satisfies_protocol(self, chunker):
        assert isinstance(chunker, Chunker), "needs `name`, `version` and `chunk(path, text, language)`"
        assert isinstance(chunker.name, str) and chunker.name
        assert isinstance(chunker.version, str) and chunker.version

    def test_returns_chunks_of_the_file(self, chunker, samples):
        for path, text, language in samples:
            chunks = chunker.chunk(path, text, language)
            assert isinstance(chunks, list), f"{path}: chunk() must return a list"
            for c in chunks:
                assert isinstance(c, Chunk), f"{path}: {c!r} is not a coderag.protocols.Chunk"
                assert c.path == path
                assert all(isinstance(v, str) for v in (c.language, c.symbol, c.kind, c.context)), c
                assert c.kind, f"{path}: a chunk needs a kind ('window' for plain windows)"

    def test_line_numbers_exact(self, chunker, samples, max_chunk_chars):
        for path, text, language in samples:
            lines = file_lines(text)
            for c in chunker.chunk(path, text, language):
                where = f"{path}:{c.start_line}-{c.end_line}"
                assert isinstance(c.start_line, int) and isinstance(c.end_line, int), where
                assert 1 <= c.start_line <= c.end_line <= len(lines), f"{where} is outside 1-{len(lines)}"
                expected = "\n".join(lines[c.start_line - 1:c.end_line])
                if c.text == expected:
                    continue
                assert max_chunk_chars is not None, (
                    f"{where}: text is not exactly lines {c.start_line}-{c.end_line} "
                    f"(got {c.text[:60]!r}..., expected {expected[:60]!r}...)")
                assert len(c.text) == max_chunk_chars and expected.startswith(c.text), (
                    f"{where}: text is neither its lines nor their first {max_chunk_chars} characters")

    def test_chunks_in_order(self, chunker, samples):
        for path, text, language in samples:
            spans = [(c.start_line, c.end_line) for c in chunker.chunk(path, text, language)]
            assert spans == sorted(spans), f"{path}: chunks are not in line order"
            assert len(spans) == len(set(spans)), f"{path}: the same span appears twice"

    def test_spans_cover_the_text(self, chunker, samples, skippable_line):
        for path, text, language in samples:
            lines = file_lines(text)
            covered = [False] * len(lines)
            for c in chunker.chunk(path, text, language):
                covered[c.start_line - 1:c.end_line] = [True] * (c.end_line - c.start_line + 1)
            missing = [i + 1 for i, line in enumerate(lines) if not covered[i] and not skippable_line(line)]
            assert not missing, f"{path}: lines {missing[:10]} are in no chunk"

    def test_nothing_to_index(self, chunker):
        for path, text, language in EMPTY_SAMPLES:
            chunks = chunker.chunk(path, text, language)
            assert isinstance(chunks, list)
            assert not [c for c in chunks if c.text.strip()], f"{path}: chunks of blank text"

    def test_huge_files_are_split(self, chunker, samples):
        # A chunk is what a search returns and what an embedder reads: a whole
        # 9,000-line file (or a 3,000-line function) is useless as one.
        for path, text, language in samples:
            lines = file_lines(text)
            if len(lines) < 2000:
                continue
            chunks = chunker.chunk(path, text, language)
            assert len(chunks) > 1, f"{path}: {len(lines)} lines in one chunk"
            biggest = max(c.end_line - c.start_line + 1 for c in chunks)
            assert biggest <= len(lines) // 2, f"{path}: a chunk of {biggest} of {len(lines)} lines"

    def test_deterministic(self, chunker, factory, options, samples):
        again = factory(**options)
        assert again.version == chunker.version, "the same options must give the same version"
        for path, text, language in samples:
            first = chunker.chunk(path, text, language)
            assert chunker.chunk(path, text, language) == first, f"{path}: two calls differ"
            assert again.chunk(path, text, language) == first, f"{path}: a second instance differs"

    def test_picklable_for_workers(self, chunker, samples):
        # Index updates chunk in worker processes that receive the chunker by pickling.
        copy = pickle.loads(pickle.dumps(chunker))
        assert (copy.name, copy.version) == (chunker.name, chunker.version)
        for path, text, language in samples[:6]:
            assert copy.chunk(path, text, language) == chunker.chunk(path, text, language), path

    def test_path_and_language_need_not_exist(self, chunker):
        # Chunkers see text from git, never files: a path that is not on disk and a
        # language nobody registered must still work.
        chunks = chunker.chunk("no/such/dir/x.nosuchlang", "alpha\nbeta\n", "nosuchlang")
        assert [c.text for c in chunks if c.text.strip()], "the text was dropped"
