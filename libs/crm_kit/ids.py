"""Identifiers: 24-hex ObjectIds as strings, time-ordered so newest-first sorts are cheap.
Inside a keyed operation (`crm_kit.operation`) they are derived, not random, so a request
run again after a crash asks for the same ids as its first run."""

from __future__ import annotations

import itertools
import os
import random
import time

from bson import ObjectId

from .operation import current_operation

# An ObjectId's parts after its time: 5 random bytes of this process and a 3-byte counter
# from a random start (what `bson.ObjectId()` makes, without its lock, its process check
# on every call and the object: ~1 µs instead of ~5 to 9, and an import makes one or two a
# row, its deals' stage history).
_process = os.urandom(5).hex()
_counter = itertools.count(random.SystemRandom().randrange(0x1000000))


def _reseed() -> None:
    # A forked child is another process: its ids must not repeat its parent's.
    global _process, _counter
    _process = os.urandom(5).hex()
    _counter = itertools.count(random.SystemRandom().randrange(0x1000000))


os.register_at_fork(after_in_child=_reseed)


def new_id() -> str:
    operation = current_operation()
    if operation is not None:
        return operation.new_id()
    return f"{int(time.time()) & 0xFFFFFFFF:08x}{_process}{next(_counter) & 0xFFFFFF:06x}"


def is_id(value: str) -> bool:
    return ObjectId.is_valid(value)
