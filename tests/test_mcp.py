"""`git coderag mcp`: the real server in a subprocess, driven by the MCP SDK's own client."""
from __future__ import annotations

import asyncio
import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path
from contextlib import asynccontextmanager

import pytest

mcp = pytest.importorskip("mcp")
from mcp import ClientSession  # noqa: E402
from mcp.client.stdio import StdioServerParameters  # noqa: E402
from mcp.client.stdio import stdio_client  # noqa: E402


@asynccontextmanager
async def stdio_session(repo):
    params = StdioServerParameters(command=sys.executable, args=["-m", "coderag", "mcp"], cwd=str(repo.root),
                                   env=dict(os.environ))
    async with stdio_client(params) as (read, write):
        async with ClientSession(read, write) as session:
            await session.initialize()
            yield session


def answer(result) -> dict:
    assert not result.isError, result.content
    return json.loads(result.content[0].text)


def error_text(result) -> str:
    assert result.isError
    text = result.content[0].text
    assert "Traceback" not in text and len(text.splitlines()) == 1
    return text


@pytest.fixture
def indexed(sample_repo):
    sample_repo.coderag("index", check=True)
    return sample_repo


def test_tools_are_listed_with_schemas_and_each_answers(indexed):
    async def run():
        async with stdio_session(indexed) as s:
            tools = {t.name: t for t in (await s.list_tools()).tools}
            assert set(tools) == {"search", "find_symbol", "read_span", "status"}
            assert all(t.description and t.inputSchema["type"] == "object" for t in tools.values())
            assert tools["search"].inputSchema["properties"]["mode"]["enum"] == ["hybrid", "lexical", "semantic"]

            found = answer(await s.call_tool("search", {"query": "retry with exponential backoff", "k": 3}))
            head = indexed.git("rev-parse", "HEAD").strip()
            assert found["commit"] == found["head"] == head and found["stale"] is False
            assert found["results"][0]["symbol"] == "retry_with_backoff"
            top = found["results"][0]

            cli = json.loads(indexed.coderag("search", "--json", "-k", "3", "retry with exponential backoff").stdout)
            assert [r["path"] for r in cli["results"]] == [r["path"] for r in found["results"]]

            defs = answer(await s.call_tool("find_symbol", {"name": "retry_with_backoff"}))["definitions"]
            assert defs[0]["symbol"] == "retry_with_backoff" and defs[0]["match"] == "exact"
            loose = answer(await s.call_tool("find_symbol", {"name": "RETRY_WITH_BACKOFF"}))["definitions"]
            assert loose[0]["match"] == "case-insensitive"
            part = answer(await s.call_tool("find_symbol", {"name": "backoff"}))["definitions"]
            assert any(d["symbol"] == "retry_with_backoff" and d["match"] == "sub-token" for d in part)

            span = answer(await s.call_tool("read_span", {"path": top["path"], "start_line": top["start_line"],
                                                          "end_line": top["end_line"]}))
            assert "def retry_with_backoff" in span["text"]
            assert span["text"] == "\n".join(
                (indexed.root / top["path"]).read_text().splitlines()[top["start_line"] - 1:top["end_line"]])

            status = answer(await s.call_tool("status", {}))
            assert status["indexed"] is True and status["stale"] is False

    asyncio.run(run())


def test_bad_calls_get_one_line_errors_and_the_server_keeps_serving(indexed, tmp_path):
    outside = tmp_path / "secret.txt"
    outside.write_text("secret\n")
    os.symlink(outside, indexed.root / "link.txt")
    indexed.commit(message="a symlink out of the tree")
    indexed.coderag("index", check=True)

    async def run():
        async with stdio_session(indexed) as s:
            bad = [
                ("search", {"query": ""}, "query must be a non-empty string"),
                ("search", {"query": "x" * 100_000}, "at most"),
                ("search", {"query": "retry\x00\x01\x02"}, "control characters"),
                ("search", {"query": "retry", "k": 10_000}, "k must be an integer from 1 to 100"),
                ("read_span", {"path": "../secret.txt", "start_line": 1, "end_line": 1}, "without '..'"),
                ("read_span", {"path": str(outside), "start_line": 1, "end_line": 1}, "relative"),
                ("read_span", {"path": "link.txt", "start_line": 1, "end_line": 1}, "symlink"),
                ("read_span", {"path": "no/such.py", "start_line": 1, "end_line": 1}, "not a file"),
                ("read_span", {"path": "net/http_client.py", "start_line": 1, "end_line": 10_000}, "at most 500"),
                ("find_symbol", {"name": "  "}, "non-empty"),
            ]
            for tool, arguments, expected in bad:
                assert expected in error_text(await s.call_tool(tool, arguments)), (tool, arguments)
            found = await asyncio.gather(*[s.call_tool("search", {"query": f"retry backoff {i}", "k": 2})
                                           for i in range(20)])
            assert all(answer(r)["results"] for r in found)

    asyncio.run(run())


def test_a_commit_made_while_the_server_runs_is_found_after_its_update(indexed):
    async def run():
        async with stdio_session(indexed) as s:
            before = answer(await s.call_tool("search", {"query": "compute_invoice_totals", "k": 3}))
            assert not any(r["symbol"] == "compute_invoice_totals" for r in before["results"])
            indexed.commit({"billing/invoice.py": "def compute_invoice_totals(lines):\n"
                                                  "    \"\"\"Sum the invoice lines with tax.\"\"\"\n"
                                                  "    return sum(l.amount * 1.2 for l in lines)\n"})
            first = answer(await s.call_tool("search", {"query": "compute_invoice_totals", "k": 3}))
            assert first["stale"] is True and first["updating"] is True  # answered from the old generation
            deadline = time.monotonic() + 60
            while True:
                now = answer(await s.call_tool("search", {"query": "compute_invoice_totals", "k": 3}))
                if not now["stale"]:
                    break
                assert time.monotonic() < deadline, now
                await asyncio.sleep(0.2)
            assert now["results"][0]["symbol"] == "compute_invoice_totals"
            assert now["commit"] == indexed.git("rev-parse", "HEAD").strip()

    asyncio.run(run())


def test_without_an_index_the_server_says_so_in_one_line(sample_repo):
    proc = subprocess.run([sys.executable, "-m", "coderag", "mcp"], cwd=sample_repo.root, capture_output=True,
                          text=True, stdin=subprocess.DEVNULL, timeout=60)
    assert proc.returncode != 0
    assert proc.stderr.strip().startswith("coderag: error: no coderag index")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_streamable_http_on_loopback(indexed):
    try:
        from mcp.client.streamable_http import streamable_http_client
    except ImportError:  # before mcp 1.24
        from mcp.client.streamable_http import streamablehttp_client as streamable_http_client

    port = free_port()
    server = subprocess.Popen([sys.executable, "-m", "coderag", "mcp", "--http", f"127.0.0.1:{port}"],
                              cwd=indexed.root, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
                break
            except OSError:
                assert server.poll() is None, server.stderr.read().decode()
                assert time.monotonic() < deadline
                time.sleep(0.1)

        async def run():
            async with streamable_http_client(f"http://127.0.0.1:{port}/mcp") as (read, write, _):
                async with ClientSession(read, write) as s:
                    await s.initialize()
                    found = answer(await s.call_tool("search", {"query": "retry_with_backoff", "k": 2}))
                    assert found["results"][0]["symbol"] == "retry_with_backoff"

        asyncio.run(run())
    finally:
        server.terminate()
        server.wait(20)


def test_the_readme_stdio_config_starts_a_working_server(indexed):
    # The snippet users paste into their client's config, run as a client would run it.
    readme = (Path(__file__).resolve().parent.parent / "README.md").read_text(encoding="utf-8")
    blocks = [json.loads(b.split("```", 1)[0]) for b in readme.split("```json\n")[1:]]
    entry = next(b["mcpServers"]["coderag"] for b in blocks if "mcpServers" in b)
    args = [str(indexed.root) if a == "/path/to/repo" else a for a in entry["args"]]
    bin_dir = str(Path(sys.executable).parent)  # where the git-coderag console script is installed
    env = {**os.environ, "PATH": bin_dir + os.pathsep + os.environ["PATH"]}

    async def run():
        params = StdioServerParameters(command=entry["command"], args=args, env=env)
        async with stdio_client(params) as (read, write):
            async with ClientSession(read, write) as session:
                await session.initialize()
                found = answer(await session.call_tool("search", {"query": "retry with exponential backoff"}))
                assert found["results"][0]["symbol"] == "retry_with_backoff"

    asyncio.run(run())
    assert any("url" in b.get("servers", {}).get("coderag", {}) for b in blocks)
