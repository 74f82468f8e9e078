"""Use-case-like steps over `Thing` records, run twice inside one keyed operation by the
unit tests (memory) and the integration tests (FerretDB, through the kit's writer)."""

from __future__ import annotations

from crm_kit.clock import utcnow
from crm_kit.ids import new_id
from crm_kit.records import Records
from crm_kit.writer import Written

from .things import Thing


async def create_thing(things: Records[Thing], name: str) -> Thing:
    """A create: a new id, "now", an event (the rename), one insert."""
    thing = Thing(new_id(), "w1", "", at=utcnow())
    thing.rename(name)
    await things.insert(thing)
    return thing


async def bump_twice(things: Records[Thing], thing_id: str) -> Thing:
    """Two relative updates of one record: each must land once."""

    async def bump(thing: Thing) -> bool:
        thing.score = (thing.score or 0) + 1
        return True

    await things.change(thing_id, bump)
    changed = await things.change(thing_id, bump)
    assert changed is not None
    return changed


async def rename_then_bump(
    things: Records[Thing], thing_id: str, name: str, *, bump: bool
) -> Thing | None:
    """A rename that writes nothing when the name is already right, then (if `bump`) a
    relative update of the same record."""

    async def rename(thing: Thing) -> bool:
        if thing.name == name:
            return False
        thing.rename(name)
        return True

    async def add_one(thing: Thing) -> bool:
        thing.score = (thing.score or 0) + 1
        return True

    changed = await things.change(thing_id, rename)
    if bump:
        changed = await things.change(thing_id, add_one)
    return changed


async def count_and_tag(things: Records[Thing], thing_id: str, tag: str) -> None:
    """Partial updates that are not idempotent by themselves (`$inc`, `$push`), the second
    an upsert that creates its record the first time."""
    await things.update(thing_id, {"$inc": {"score": 1}, "$push": {"tags": tag}})
    log = f"{thing_id}-log"
    created = {"name": log, "name_key": log}
    await things.update(log, {"$push": {"tags": tag}, "$setOnInsert": created}, upsert=True)


async def finish(things: Records[Thing], thing_id: str) -> Thing | None:
    """A change that refuses to be made twice (as completing a done task is refused)."""

    async def done(thing: Thing) -> bool:
        if thing.name.endswith(" (done)"):
            raise ValueError("already done")
        thing.rename(f"{thing.name} (done)")
        return True

    return await things.change(thing_id, done)


class NameClaims:
    """A required write hook standing for a claim later look-ups trust (as contacts' email
    claims): name → the thing holding it. `fail_next` makes its next write fail, as the
    database dying between a record's write and its claim's."""

    def __init__(self) -> None:
        self.holders: dict[str, str] = {}
        self.fail_next = False

    async def on_write(self, written: Written) -> None:
        if not isinstance(written.record, Thing):
            return
        if self.fail_next:
            self.fail_next = False
            raise ConnectionError("database gone before the claim")
        self.holders[written.record.name] = written.record.id
