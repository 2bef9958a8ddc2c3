"""The tensors of a ``.safetensors`` file as read-only views of a memory map.

The format is an 8-byte little-endian header length, a JSON header naming each
tensor's dtype, shape and byte range, then the raw little-endian data.  Mapping
the file instead of reading it means a search touches only the pages of the
rows its query's tokens use (a 13.6 MB table took ~9 ms to read whole), and the
workers of one index share one copy of the table in the page cache.
"""
from __future__ import annotations

import json
import struct
from pathlib import Path

import numpy as np

from coderag.filemap import map_read_only

_DTYPES = {"F64": "<f8", "F32": "<f4", "F16": "<f2", "I64": "<i8", "I32": "<i4", "I16": "<i2", "I8": "i1",
           "U8": "u1", "BOOL": "?"}
_MAX_HEADER = 100 << 20


def map_tensors(path: Path) -> dict[str, np.ndarray] | None:
    """Every tensor of the file, or ``None`` when it holds a dtype numpy has no type for (e.g. BF16)
    or its header does not describe its data (the caller then lets the safetensors library judge)."""
    with open(path, "rb") as file:
        head = file.read(8)
        if len(head) < 8:
            return None
        (length,) = struct.unpack("<Q", head)
        if length > _MAX_HEADER:
            return None
        try:
            header = json.loads(file.read(length))
        except ValueError:
            return None
        size = file.seek(0, 2)
        if size == 0:
            return None
        data = map_read_only(file)
    start = 8 + length
    tensors: dict[str, np.ndarray] = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        dtype = _DTYPES.get(info.get("dtype"))
        shape, offsets = info.get("shape"), info.get("data_offsets")
        if dtype is None or not isinstance(shape, list) or not isinstance(offsets, list) or len(offsets) != 2:
            return None
        count = int(np.prod(shape, dtype=np.int64)) if shape else 1
        begin, end = start + int(offsets[0]), start + int(offsets[1])
        if end > size or end - begin != count * np.dtype(dtype).itemsize:
            return None
        tensor = np.frombuffer(data, dtype=dtype, count=count, offset=begin).reshape(shape)
        tensors[name] = np.require(tensor, requirements="A")  # numpy's fast paths want aligned data
    return tensors
