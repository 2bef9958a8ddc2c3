"""``git coderag mcp``: the tools of :mod:`coderag.mcp.service` on the official MCP SDK (FastMCP).

stdio by default (an agent starts the server as a subprocess), streamable
HTTP with ``--http HOST:PORT`` (loopback unless told otherwise).
"""
from __future__ import annotations

import functools
from typing import Any
from typing import Callable
from typing import Literal

from coderag.errors import ConfigError
from coderag.errors import CoderagError

INSTRUCTIONS = (
    "Code search over one git repository, kept current by git hooks. Use `search` for questions in words "
    "or code (hybrid keyword + semantic), `find_symbol` when you know a name, `read_span` to read the lines "
    "around a result, `status` to see what is indexed. Every answer says whether the index is stale "
    "(behind HEAD) and whether an update is running."
)


def _tool_errors(fn: Callable[..., Any]) -> Callable[..., Any]:
    """Turn every failure into an MCP tool error of one sentence (never a traceback, never a dead server)."""
    from mcp.server.fastmcp.exceptions import ToolError

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except CoderagError as exc:
            raise ToolError(str(exc).splitlines()[0] if str(exc) else exc.__class__.__name__) from None
        except Exception as exc:  # a bug: say so in one line, keep serving
            raise ToolError(f"internal error ({exc.__class__.__name__}): {str(exc).splitlines()[0] if str(exc) else ''}"
                            ) from None

    return wrapper


def build_server(service, host: str = "127.0.0.1", port: int = 8765):
    """A FastMCP server whose tools call ``service`` (a :class:`~coderag.mcp.service.SearchService`)."""
    from mcp.server.fastmcp import FastMCP

    mcp = FastMCP("coderag", instructions=INSTRUCTIONS, host=host, port=port, log_level="WARNING")

    @mcp.tool()
    @_tool_errors
    def search(query: str, k: int = 10, mode: Literal["hybrid", "lexical", "semantic"] = "hybrid",
               path: str | None = None, lang: str | None = None) -> dict:
        """Find the code that answers a question or matches words or a symbol.

        Returns up to k results (best first), each a file span (path, start_line, end_line), its symbol,
        language, score and the chunk's text, plus the index's freshness: commit (indexed), head, stale,
        updating. mode: hybrid (default), lexical (keywords only) or semantic (embeddings only).
        path: a glob such as 'src/*.py' to restrict results; lang: a language such as 'python'.
        """
        return service.search(query, k=k, mode=mode, path=path, lang=lang)

    @mcp.tool()
    @_tool_errors
    def find_symbol(name: str, k: int = 20) -> dict:
        """Where a function, class or method is defined: exact name first, then ignoring case, then
        definitions whose name contains it. Each definition has path, start_line, end_line, symbol,
        kind and how it matched."""
        return service.find_symbol(name, k=k)

    @mcp.tool()
    @_tool_errors
    def read_span(path: str, start_line: int, end_line: int) -> dict:
        """The lines start_line..end_line (1-based, inclusive, at most 500) of a file, as of the indexed
        commit. path is relative to the repository root."""
        return service.read_span(path, start_line, end_line)

    @mcp.tool()
    @_tool_errors
    def status() -> dict:
        """What is indexed (commit, files, chunks, backends) and whether it is behind HEAD."""
        return service.status()

    return mcp


def parse_address(address: str) -> tuple[str, int]:
    host, sep, port = address.rpartition(":")
    if not sep or not port.isdigit() or not 0 < int(port) < 65536:
        raise ConfigError(f"--http wants HOST:PORT (e.g. 127.0.0.1:8765), not {address!r}")
    return host or "127.0.0.1", int(port)


def serve(directory: str, http: str | None = None) -> None:
    """Run the server for the repository at ``directory`` until the client goes away (or Ctrl-C)."""
    try:
        import mcp  # noqa: F401
    except ImportError:
        raise ConfigError("the MCP server needs the `mcp` package: pip install 'coderag[mcp]'") from None
    from coderag.mcp.service import SearchService

    service = SearchService(directory)
    service.freshness()  # open the index now, so the first call is fast (and a missing index fails here)
    try:
        if http:
            host, port = parse_address(http)
            build_server(service, host, port).run("streamable-http")
        else:
            build_server(service).run("stdio")
    finally:
        service.close()
