"""The MCP face: ``git coderag mcp`` serves coding agents and editors over the Model Context Protocol.

:mod:`coderag.mcp.service` holds the tools' logic (a warm index, freshness,
bounded inputs) and imports no MCP code; :mod:`coderag.mcp.server` wires it
into the official SDK's FastMCP server (the optional ``mcp`` extra), on stdio
or streamable HTTP. Nothing on the hook path or the ``search`` path imports
this package.
"""
