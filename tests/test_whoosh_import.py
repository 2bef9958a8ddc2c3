"""Whoosh is imported without urllib.request, asyncio and its English morphology, and still works."""
from __future__ import annotations

import subprocess
import sys
import textwrap


def run(code: str) -> str:
    result = subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    return result.stdout.strip()


def test_a_store_searches_without_the_three_modules_and_they_import_for_real_later(tmp_path):
    out = run(f"""
        import sys
        from coderag.protocols import LexicalDoc
        from coderag.stores.whoosh_store import WhooshLexicalStore

        store = WhooshLexicalStore({str(tmp_path / "lex")!r})
        store.add([LexicalDoc(1, "retry with backoff", "src retry py", "def retry with backoff sleep"),
                   LexicalDoc(2, "get", "src http py", "def get url return fetch url")])
        store.commit()
        store.close()
        reader = WhooshLexicalStore({str(tmp_path / "lex")!r}, readonly=True)
        hits = reader.search(["retry", "backoff"], 5)
        assert [label for label, _ in hits] == [1], hits
        unused = [m for m in ("asyncio", "urllib.request", "http.client", "ssl", "whoosh.lang.morph_en")
                  if m in sys.modules]
        print("unused imported:", unused)

        # Later imports get the real modules, and Whoosh's names reach them.
        import asyncio, urllib.request, whoosh.compat, whoosh.query.terms
        assert hasattr(asyncio, "run") and not hasattr(asyncio, "__coderag_stand_in__")
        assert hasattr(urllib.request, "Request")
        assert whoosh.query.terms.variations("renders") == __import__("whoosh.lang.morph_en").lang.morph_en.variations("renders")
        assert "render" in whoosh.query.terms.variations("renders")
        print("later imports real")
    """)
    assert out.splitlines() == ["unused imported: []", "later imports real"]


def test_cached_properties_behave_as_with_asyncio():
    out = run("""
        import coderag.stores.whoosh_import
        import sys
        from cached_property import cached_property

        class Thing:
            calls = 0

            @cached_property
            def value(self):
                Thing.calls += 1
                return 42

        thing = Thing()
        assert thing.value == 42 and thing.value == 42 and Thing.calls == 1
        print("asyncio imported:", "asyncio" in sys.modules)

        class Later:
            @cached_property
            async def value(self):
                return 7

        import asyncio

        async def main():
            later = Later()
            return await later.value

        assert asyncio.run(main()) == 7
        print("coroutine property works")
    """)
    assert out.splitlines() == ["asyncio imported: False", "coroutine property works"]


def test_the_coroutine_check_matches_asyncio():
    import asyncio

    from coderag.stores.whoosh_import import _iscoroutinefunction

    async def coroutine():
        pass

    def function():
        pass

    for func in (coroutine, function, len, print, lambda: None):
        assert _iscoroutinefunction(func) == asyncio.iscoroutinefunction(func)
