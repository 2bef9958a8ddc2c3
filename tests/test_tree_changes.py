"""An update learns what changed from ``git diff-tree`` against the tree it last listed, with the listing's answer."""
from __future__ import annotations

import os

from coderag import Index
from coderag.git.plumbing import Repo
from coderag.indexing import changes
from coderag.ondisk.layout import MANIFEST_NAME
from coderag.ondisk.layout import IndexLocation
from coderag.ondisk.manifest import Manifest


def manifest_of(root) -> Manifest:
    return Manifest(IndexLocation(Repo.discover(root).index_dir()).current() / MANIFEST_NAME)


def both_ways(root) -> tuple[changes.Changes | None, changes.Changes]:
    """What the diff and the listing say the next update of HEAD must do, before it runs."""
    repo = Repo.discover(root)
    manifest = manifest_of(root)
    try:
        head = repo.resolve("HEAD")
        diffed = changes.from_tree_diff(repo, manifest, manifest.get("listed_tree"), repo.tree_of(head))
        listed = changes.from_listing(repo.entries(head), manifest.live_files())
    finally:
        manifest.close()
    return diffed, listed


def same(a: changes.Changes, b: changes.Changes) -> bool:
    return (sorted(a.to_add, key=lambda e: e.path) == sorted(b.to_add, key=lambda e: e.path)
            and sorted(a.to_remove) == sorted(b.to_remove) and (a.unchanged, a.removed) == (b.unchanged, b.removed))


def check_index_matches_head(root) -> None:
    repo = Repo.discover(root)
    manifest = manifest_of(root)
    try:
        live = manifest.live_files()
        entries = repo.entries("HEAD")
        assert {p: r.blob for p, r in live.items()} == {p: e.blob for p, e in entries.items()}
        assert int(manifest.get("live_chunks")) == manifest.live_chunk_count()
    finally:
        manifest.close()


def test_every_kind_of_change_gives_the_listings_answer(make_repo):
    repo = make_repo({
        "app/models.py": "def load_model(path):\n    return open(path).read()\n",
        "app/views.py": "def render_page(request):\n    return 'page'\n",
        "lib/util.py": "def clamp(x, lo, hi):\n    return max(lo, min(hi, x))\n",
        "lib/deep/nested/a.py": "def nested_alpha():\n    return 1\n",
        "README.md": "# demo\n\nA small demo.\n",
    })
    index = Index.open(repo.root)
    index.update()
    steps = [
        lambda: repo.write({"app/models.py": "def load_model(path):\n    return open(path, 'rb').read()\n"}),
        lambda: repo.write({"new/dir/fresh.py": "def freshly_added_helper():\n    return 'fresh'\n"}),
        lambda: os.remove(repo.root / "app/views.py"),
        lambda: os.rename(repo.root / "lib/util.py", repo.root / "lib/helpers.py"),
        lambda: os.chmod(repo.root / "README.md", 0o755),  # a mode change alone keeps the rows
        lambda: os.symlink("app/models.py", repo.root / "models_link.py"),
        lambda: repo.write({"data.bin": b"\x00\x01\x02binary\xff" * 50}),
        lambda: [os.remove(p) for p in (repo.root / "lib/deep/nested").iterdir()],
    ]
    for step in steps:
        step()
        repo.commit()
        diffed, listed = both_ways(repo.root)
        assert diffed is not None and same(diffed, listed)
        report = index.update()
        assert (report.files_unchanged, report.files_removed) == (listed.unchanged, listed.removed)
        check_index_matches_head(repo.root)
    assert index.search("freshly_added_helper", k=1)[0].path == "new/dir/fresh.py"
    assert all(hit.path != "app/views.py" for hit in index.search("render_page", k=5))


def test_a_staged_update_in_between_makes_the_next_one_list_the_tree(make_repo):
    repo = make_repo({"a.py": "def alpha():\n    return 1\n", "b.py": "def beta():\n    return 2\n"})
    index = Index.open(repo.root)
    index.update()
    repo.write({"staged_only.py": "def only_staged_here():\n    return 3\n"})
    repo.git("add", "staged_only.py")
    index.update(staged=True)  # the rows now hold the staging area, not a commit's tree
    manifest = manifest_of(repo.root)
    try:
        assert manifest.get("listed_tree") == ""
    finally:
        manifest.close()
    repo.git("reset", "-q")  # unstage: HEAD never had the file
    diffed, listed = both_ways(repo.root)
    assert diffed is None and listed.removed == 1
    index.update()
    check_index_matches_head(repo.root)
    assert all(hit.path != "staged_only.py" for hit in index.search("only_staged_here", k=5))


def test_a_tree_git_no_longer_has_falls_back_to_the_listing(make_repo):
    repo = make_repo({"a.py": "def alpha():\n    return 1\n"})
    index = Index.open(repo.root)
    index.update()
    manifest = manifest_of(repo.root)
    try:
        manifest.begin()
        manifest.set_many({"listed_tree": "0123456789abcdef0123456789abcdef01234567"})
        manifest.commit()
    finally:
        manifest.close()
    repo.commit({"b.py": "def beta_function_added():\n    return 2\n"})
    diffed, listed = both_ways(repo.root)
    assert diffed is None and len(listed.to_add) == 1
    report = index.update()
    assert report.files_added == 1 and report.files_unchanged == 1
    check_index_matches_head(repo.root)


def test_a_file_that_failed_last_time_is_retried(make_repo):
    repo = make_repo({"a.py": "def alpha():\n    return 1\n", "b.py": "def beta():\n    return 2\n"})
    index = Index.open(repo.root)
    index.update()
    manifest = manifest_of(repo.root)
    try:  # as a service that kept failing leaves it: the file's row says error
        manifest.begin()
        manifest.db.execute("UPDATE files SET status = 'error', reason = 'service failed' WHERE path = 'b.py'")
        manifest.commit()
    finally:
        manifest.close()
    repo.commit({"c.py": "def gamma():\n    return 3\n"})
    diffed, listed = both_ways(repo.root)
    assert diffed is None and sorted(e.path for e in listed.to_add) == ["b.py", "c.py"]
    report = index.update()
    assert report.files_added == 2 and not report.errors
    check_index_matches_head(repo.root)
    diffed, _ = both_ways(repo.root)
    assert diffed is not None and not diffed.to_add  # nothing failed any more: the diff is used again
