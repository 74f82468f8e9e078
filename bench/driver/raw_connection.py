"""The least a client can do per statement: one OP_MSG at a time on one plain connection,
the floor `bench/driver/run.py` and `bench/deals/driver_floor.py` measure PyMongo against."""

from __future__ import annotations

import asyncio
import struct
from typing import Any

import bson

OP_MSG = 2013


class RawConnection:
    """One OP_MSG at a time on one connection."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._reader = reader
        self._writer = writer
        self._request_id = 0

    async def command(self, command: dict[str, Any]) -> dict[str, Any]:
        self._request_id += 1
        body = b"\x00\x00\x00\x00\x00" + bson.encode(command)  # flags, section kind 0
        header = struct.pack("<iiii", 16 + len(body), self._request_id, 0, OP_MSG)
        self._writer.write(header + body)
        (length,) = struct.unpack("<i", await self._reader.readexactly(4))
        reply = await self._reader.readexactly(length - 4)
        return bson.decode(reply[12 + 5 :])  # rest of the header, flags, section kind

    async def close(self) -> None:
        self._writer.close()
        await self._writer.wait_closed()
