"""The store contracts: what every vector store and lexical store must do.

Both kinds share the lifecycle rules, tested by :class:`_StoreLifecycle`:
changes are private until ``commit()``; ``close()`` drops uncommitted ones;
a ``readonly=True`` open never writes and sees whole commits only, while one
writer keeps committing.  Subclasses say how to add an item for a label and
how to search for it.
"""
from __future__ import annotations

import threading
from pathlib import Path
from typing import Any
from typing import Callable

import numpy as np
import pytest

from coderag.protocols import LexicalDoc
from coderag.protocols import LexicalStore
from coderag.protocols import VectorStore


class _StoreLifecycle:
    """Persistence, deletion and reader/writer rules shared by both store kinds.

    Whether :meth:`search` sees uncommitted changes is up to the store (coderag
    never searches the store it is writing), so tests commit before searching;
    ``len()`` does count uncommitted changes.
    """

    protocol: Any = None
    kind = "store"

    @pytest.fixture
    def factory(self) -> Callable[..., Any]:
        raise NotImplementedError(
            f"override the `factory` fixture in your {type(self).__name__} subclass: "
            f"return the {self.kind} factory your plugin registers"
        )

    @pytest.fixture
    def options(self) -> dict:
        """Keyword arguments for the factory (besides ``directory``, ``readonly`` and ``dim``)."""
        return {}

    @pytest.fixture
    def store_dir(self, tmp_path) -> Path:
        return tmp_path / self.kind.replace(" ", "_")

    @pytest.fixture
    def open_store(self, factory, options, store_dir, request):
        """``open_store(readonly=False)``: open the store under test; closed at teardown."""
        opened = []

        def open_(readonly: bool = False, directory: Path | None = None):
            store = self._create(factory, directory or store_dir, readonly, options, request)
            opened.append(store)
            return store

        yield open_
        for store in opened:
            try:
                store.close()
            except Exception:
                pass

    @pytest.fixture
    def store(self, open_store):
        return open_store()

    # -- what subclasses provide -------------------------------------------------

    def _create(self, factory, directory, readonly, options, request):
        raise NotImplementedError

    def _add(self, store, labels: list[int]) -> None:
        """Add one item per label, findable by :meth:`_probe`."""
        raise NotImplementedError

    def _probe(self, store, label: int, k: int = 5) -> list[tuple[int, float]]:
        """Search for the item of ``label``: it must come first if it is live."""
        raise NotImplementedError

    def _found(self, store, label: int) -> bool:
        return label in [hit for hit, _ in self._probe(store, label, k=10)]

    # -- tests ----------------------------------------------------------------------

    def test_satisfies_protocol(self, store):
        assert isinstance(store, self.protocol), f"missing methods of {self.protocol.__name__}"

    def test_new_store_is_empty(self, store):
        assert len(store) == 0
        assert self._probe(store, 1) == []

    def test_add_then_search(self, store):
        self._add(store, list(range(1, 41)))
        assert len(store) == 40, "len() counts uncommitted adds"
        store.commit()
        assert len(store) == 40
        for label in (1, 17, 40):
            hits = self._probe(store, label)
            assert hits and hits[0][0] == label, f"label {label} is not first: {hits}"

    def test_results_best_first_and_typed(self, store):
        self._add(store, list(range(1, 31)))
        store.commit()
        for label in (3, 30):
            hits = self._probe(store, label, k=8)
            assert 0 < len(hits) <= 8
            for hit_label, score in hits:
                assert isinstance(hit_label, int) and not isinstance(hit_label, bool), type(hit_label)
                assert isinstance(score, float), type(score)
            scores = [score for _, score in hits]
            assert scores == sorted(scores, reverse=True), f"not best first: {scores}"
            assert len({hit for hit, _ in hits}) == len(hits), "a label appears twice"

    def test_k_zero_returns_nothing(self, store):
        self._add(store, [1, 2, 3])
        store.commit()
        assert self._probe(store, 1, k=0) == []

    def test_delete(self, store):
        self._add(store, list(range(1, 21)))
        store.commit()
        store.delete([2, 4, 999_999])  # unknown labels are ignored
        store.delete(np.array([6], dtype=np.int64))
        assert len(store) == 17, "len() counts uncommitted deletes"
        store.commit()
        assert len(store) == 17
        for label in (2, 4, 6):
            assert not self._found(store, label), f"deleted label {label} is still found"
        assert self._found(store, 5)

    def test_commit_persists_across_reopen(self, store, open_store):
        self._add(store, list(range(1, 26)))
        store.commit()
        store.close()
        reopened = open_store()
        assert len(reopened) == 25
        assert self._probe(reopened, 7)[0][0] == 7

    def test_close_drops_uncommitted_changes(self, store, open_store):
        self._add(store, [1, 2, 3])
        store.commit()
        self._add(store, [4, 5])
        store.delete([1])
        store.close()
        reopened = open_store()
        assert len(reopened) == 3
        assert self._found(reopened, 1) and not self._found(reopened, 4)

    def test_deletes_really_delete(self, store, open_store):
        # Rounds of adds and deletes with commits in between (enough churn to make
        # a store compact or merge), then a reopen: deleted items never come back.
        live: set[int] = set()
        next_label = 1
        for round_ in range(6):
            batch = list(range(next_label, next_label + 40))
            next_label += 40
            self._add(store, batch)
            live.update(batch)
            doomed = sorted(live)[round_::3][:25]
            store.delete(doomed)
            live.difference_update(doomed)
            store.commit()
        store.close()
        reopened = open_store()
        assert len(reopened) == len(live)
        for label in range(1, next_label):
            assert self._found(reopened, label) == (label in live), f"label {label} (live: {label in live})"

    def test_close_twice_is_harmless(self, store):
        store.close()
        store.close()

    def test_readonly_sees_whole_commits(self, store, open_store):
        self._add(store, [1, 2, 3])
        store.commit()
        reader = open_store(readonly=True)
        assert len(reader) == 3 and self._found(reader, 2)
        self._add(store, [4])
        assert not self._found(open_store(readonly=True), 4), "a reader saw an uncommitted add"
        store.commit()
        assert self._found(open_store(readonly=True), 4), "a new reader missed a commit"

    def test_readonly_refuses_writes(self, store, open_store):
        self._add(store, [1])
        store.commit()
        reader = open_store(readonly=True)
        with pytest.raises(Exception):
            self._add(reader, [2])
            reader.commit()
        assert len(open_store(readonly=True)) == 1

    def test_readonly_open_of_nothing_writes_nothing(self, open_store, tmp_path):
        missing = tmp_path / "never-created"
        reader = open_store(readonly=True, directory=missing)
        assert len(reader) == 0 and self._probe(reader, 1) == []
        assert not missing.exists() or not any(missing.iterdir()), "a read-only open wrote files"

    def test_readers_while_one_writer_commits(self, store, open_store):
        # coderag's searchers open the store read-only while the hook's writer
        # commits: every reader must see one whole commit and keep working after.
        early = None
        sizes = {0}
        errors: list[str] = []
        stop = threading.Event()

        def read_repeatedly() -> None:
            while not stop.is_set():
                try:
                    reader = open_store(readonly=True)
                    n = len(reader)
                    if n not in sizes:
                        errors.append(f"a reader saw {n} items, not a committed size {sorted(sizes)}")
                    self._probe(reader, 1)
                    reader.close()
                except Exception as exc:  # collected: an exception in a thread is not a failure
                    errors.append(f"{type(exc).__name__}: {exc}")

        thread = threading.Thread(target=read_repeatedly, daemon=True)
        thread.start()
        try:
            for round_ in range(8):
                batch = list(range(round_ * 15 + 1, round_ * 15 + 16))
                sizes.add(len(store) + len(batch))  # announced before the commit lands
                self._add(store, batch)
                store.commit()
                if early is None:
                    early = open_store(readonly=True)
        finally:
            stop.set()
            thread.join(30)
        assert not errors, errors[:3]
        assert self._found(early, 1), "a reader opened before later commits stopped working"


class VectorStoreContract(_StoreLifecycle):
    """Contract tests for a vector store.  Subclass it and override :meth:`factory`::

        from coderag.testing import VectorStoreContract

        class TestMyVectors(VectorStoreContract):
            @pytest.fixture
            def factory(self):
                return my_package.make_store    # called as factory(directory, dim=..., readonly=...)

    Optional fixtures: ``options`` and ``dim``.  Probes use the exact stored
    vector, so an approximate index must still rank it first.
    """

    protocol = VectorStore
    kind = "vector store"

    @pytest.fixture
    def dim(self) -> int:
        return 16

    def _create(self, factory, directory, readonly, options, request):
        self._dim = request.getfixturevalue("dim")
        return factory(directory, dim=self._dim, readonly=readonly, **options)

    def _vectors(self, labels) -> np.ndarray:
        # One fixed random unit vector per label, whatever order labels come in.
        rows = [np.random.default_rng(int(label)).standard_normal(self._dim) for label in labels]
        vectors = np.array(rows, dtype=np.float32).reshape(len(rows), self._dim)
        return vectors / np.linalg.norm(vectors, axis=1, keepdims=True)

    def _add(self, store, labels):
        store.add(np.asarray(labels, dtype=np.int64), self._vectors(labels))

    def _probe(self, store, label, k=5):
        return store.search(self._vectors([label])[0], k)

    def test_scores_are_cosine_similarities(self, store):
        self._add(store, list(range(1, 21)))
        store.commit()
        hits = self._probe(store, 9, k=20)
        assert abs(hits[0][1] - 1.0) < 1e-3, f"a vector's similarity to itself is {hits[0][1]}"
        expected = dict(zip(range(1, 21), (self._vectors(range(1, 21)) @ self._vectors([9])[0]).tolist()))
        for label, score in hits:
            assert abs(score - expected[label]) < 1e-3, f"label {label}: {score} != cosine {expected[label]}"

    def test_k_larger_than_store(self, store):
        self._add(store, [1, 2, 3])
        store.commit()
        assert sorted(label for label, _ in self._probe(store, 1, k=50)) == [1, 2, 3]


class LexicalStoreContract(_StoreLifecycle):
    """Contract tests for a lexical store.  Subclass it and override :meth:`factory`::

        from coderag.testing import LexicalStoreContract

        class TestMyKeywords(LexicalStoreContract):
            @pytest.fixture
            def factory(self):
                return my_package.make_store    # called as factory(directory, readonly=...)

    Documents are pre-tokenised :class:`~coderag.protocols.LexicalDoc`
    (space-separated tokens in ``symbol``, ``path`` and ``body``).
    """

    protocol = LexicalStore
    kind = "lexical store"

    def _create(self, factory, directory, readonly, options, request):
        return factory(directory, readonly=readonly, **options)

    @staticmethod
    def _doc(label: int) -> LexicalDoc:
        return LexicalDoc(int(label), f"handler {_word(label)}", f"src module{label % 7} py",
                          f"def handler {_word(label)} request return value shared")

    def _add(self, store, labels):
        store.add([self._doc(label) for label in labels])

    def _probe(self, store, label, k=5):
        return store.search([_word(label)], k)

    def test_all_fields_are_searched(self, store):
        store.add([LexicalDoc(1, "parse header", "net http py", "def parse header line"),
                   LexicalDoc(2, "slugify", "util strings go", "func slugify title"),
                   LexicalDoc(3, "", "docs readme md", "some prose")])
        store.commit()
        assert [label for label, _ in store.search(["header"], 5)] == [1]
        assert [label for label, _ in store.search(["strings"], 5)] == [2], "the path field is not searched"
        assert [label for label, _ in store.search(["readme"], 5)] == [3]

    def test_scores_rank_more_matches_higher(self, store):
        store.add([LexicalDoc(1, "", "a py", "retry backoff network call"),
                   LexicalDoc(2, "", "b py", "retry network call again"),
                   LexicalDoc(3, "", "c py", "unrelated words only here")])
        store.commit()
        hits = store.search(["retry", "backoff"], 5)
        assert [label for label, _ in hits] == [1, 2]
        assert all(score > 0 for _, score in hits)

    def test_unknown_and_empty_queries(self, store):
        self._add(store, [1, 2])
        store.commit()
        assert store.search(["nosuchtoken"], 5) == []
        assert store.search([], 5) == []
        assert [label for label, _ in store.search([_word(1), _word(1)], 5)] == [1], "repeated tokens"

    def test_k_limits_results(self, store):
        self._add(store, list(range(1, 21)))
        store.commit()
        assert len(store.search(["shared"], 7)) == 7
        assert len(store.search(["shared"], 50)) == 20


def _word(label: int) -> str:
    """A token unique to ``label`` (letters only, like real code tokens)."""
    letters = "abcdefghijklmnopqrstuvwxyz"
    out = ""
    n = int(label)
    while True:
        n, r = divmod(n, 26)
        out = letters[r] + out
        if n == 0:
            return "tok" + out
