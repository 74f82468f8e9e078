"""Round-robin turns, fair across replicas.

FerretDB v1 does not apply concurrent updates atomically (`$inc` loses increments; a
conditional update can match twice) but it does enforce unique keys on insert. So each
turn is a slot record `slot:<workspace>:<team>:<n>`, taken by inserting it, and slots
also carry a unique `key` (the natural key of a playbook or rule task): a duplicate event
handled at the same moment by another replica finds the slot its key already holds
instead of taking another turn. Within a process, turns of one team are taken one at a
time, and the process's last turn says where the next free one is: usually one insert.
Turns asked for at once (the tasks of one `asyncio.gather`) or while one is being taken
are taken together, the next free slots in one ordered insert (a batch of stage changes
picks its team members with one write statement, not one each). An ordered insert stops
at its first refused slot (another replica took it, or its key took a turn already), so
slots are only ever taken contiguously: every taken slot has a taken one below it. (An
unordered insert left the refused slot empty with later ones taken; moving a later one
down into it raced with other replicas and could leave a slot empty for good: a member
skipped.)
The refused one is taken alone, the rest together again. The same holds on MongoDB,
where it costs as little.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from crm_kit.clock import utcnow
from crm_kit.ids import new_id
from crm_kit.records import Duplicate, RecordSource, RecordType

from ..config import SLOTS
from ..domain.team import Team
from .documents import TEAM

MAX_ATTEMPTS = 500
# Every this many turns the team records a hint for processes that start afresh.
HINT_EVERY = 16


@dataclass
class Slot:
    id: str
    workspace_id: str
    key: str
    at: datetime


def _to_doc(slot: Slot) -> dict[str, Any]:
    return {"_id": slot.id, "workspace_id": slot.workspace_id, "key": slot.key, "at": slot.at}


def _from_doc(doc: Mapping[str, Any]) -> Slot:
    return Slot(doc["_id"], doc["workspace_id"], doc["key"], doc["at"])


SLOT = RecordType(SLOTS, _to_doc, _from_doc, unique=("key",))


def slot_id(workspace_id: str, team_id: str, n: int) -> str:
    return f"slot:{workspace_id}:{team_id}:{n}"


def turn_of(slot_id: str) -> int:
    return int(slot_id.rsplit(":", 1)[1])


@dataclass
class _Ask:
    key: str
    turn: asyncio.Future[int]


class Turns:
    """One per process: its last turn of each team (a hint only: the slots decide)."""

    def __init__(self, source: RecordSource) -> None:
        self.source = source
        self._last: dict[tuple[str, str], int] = {}
        # Turns asked for, per team, that no insert has taken yet (see the module doc).
        self._asked: dict[tuple[str, str], list[_Ask]] = {}

    async def take(self, workspace_id: str, team: Team, key: str | None) -> int:
        slots = self.source.records(SLOT, workspace_id)
        slot_key = f"{team.id}:{key}" if key else f"{team.id}:once:{new_id()}"
        last = (workspace_id, team.id)
        ask = _Ask(slot_key, asyncio.get_running_loop().create_future())
        self._asked.setdefault(last, []).append(ask)
        try:
            # One turn of the event loop before taking: the asks of tasks started together
            # (a batch's playbooks prepared side by side, `asyncio.gather`) are then all
            # registered, and the first to take the lock takes them in ONE insert, where
            # taking at once sent the first alone and the rest in a second insert (a
            # commit, and a round trip on the batch's way to its tasks, more).
            await asyncio.sleep(0)
            async with slots.lock(f"{workspace_id}:{team.id}"):
                if not ask.turn.done():  # no one took it while this waited: take them all
                    asked, self._asked[last] = self._asked[last], []
                    await self._take_together(workspace_id, team, asked)
        finally:
            if not ask.turn.done():  # failed or cancelled before its insert
                with contextlib.suppress(ValueError):
                    self._asked[last].remove(ask)
        n = await ask.turn
        if n % HINT_EVERY == 0:  # a coarse hint in the team for fresh processes
            teams = self.source.records(TEAM, workspace_id)
            await teams.update(team.id, {"$max": {"rr_hint": n}}, verified=True)
        return n

    async def _take_together(self, workspace_id: str, team: Team, asked: list[_Ask]) -> None:
        """The next free slots for `asked`, in one ordered insert. It stops at the first
        slot refused, so what it inserts is a prefix: no slot is ever left empty below a
        taken one (an empty slot is a member skipped in the rotation). The refused ask is
        taken alone (another replica took its slot, or its key has a turn already) and
        the asks after it go again together. Each ask's future gets its turn, or the
        failure."""
        slots = self.source.records(SLOT, workspace_id)
        last = (workspace_id, team.id)
        try:
            waiting = list(asked)
            while waiting:
                if last in self._last:  # ours is the latest we know of: try the next ones
                    n = self._last[last] + 1
                else:
                    n = await self._first_free(workspace_id, team.id, team.rr_hint)
                now = utcnow()
                made = [
                    Slot(slot_id(workspace_id, team.id, n + i), workspace_id, a.key, now)
                    for i, a in enumerate(waiting)
                ]
                refused = await slots.insert_many(made, ordered=True)
                inserted = len(made) - len(refused)
                for i in range(inserted):
                    waiting[i].turn.set_result(n + i)
                if inserted:
                    self._last[last] = max(n + inserted - 1, self._last.get(last, 0))
                if not refused:
                    return
                first = waiting[inserted]
                first.turn.set_result(await self._take_alone(workspace_id, team, first.key))
                waiting = waiting[inserted + 1 :]
        except BaseException as error:
            # Every asker fails with it: this one raises it now, the others from their
            # futures (cancelled, this one's tasks were not: they fail and are run again).
            failure = error if isinstance(error, Exception) else RuntimeError("turns abandoned")
            for a in asked:
                if not a.turn.done():
                    a.turn.set_exception(failure)
                    a.turn.exception()  # retrieved: an asker that is gone never awaits it
            raise

    async def _take_alone(self, workspace_id: str, team: Team, slot_key: str) -> int:
        slots = self.source.records(SLOT, workspace_id)
        last = (workspace_id, team.id)
        if last in self._last:  # ours is the latest we know of: try the next one
            n = self._last[last] + 1
        else:
            n = await self._first_free(workspace_id, team.id, team.rr_hint)
        for _ in range(MAX_ATTEMPTS):
            slot = Slot(slot_id(workspace_id, team.id, n), workspace_id, slot_key, utcnow())
            try:
                await slots.insert(slot)
                break
            except Duplicate as refused:
                if refused.field == "key":  # this key took its turn already
                    return turn_of(str(refused.existing_id))
            taken = await slots.get([slot.id])
            if taken and taken[0].key == slot_key:
                return n  # the key's own turn
            if taken:  # another replica took n (and perhaps more): the first free one
                n = await self._first_free(workspace_id, team.id, n)
            # else: freed meanwhile (the janitor), try n again
        else:
            raise RuntimeError(f"could not take a round-robin turn of team {team.id}")
        self._last[last] = max(n, self._last.get(last, 0))
        return n

    async def _taken(self, workspace_id: str, team_id: str, n: int) -> bool:
        slots = self.source.records(SLOT, workspace_id)
        return bool(await slots.get([slot_id(workspace_id, team_id, n)]))

    async def _first_free(self, workspace_id: str, team_id: str, hint: int) -> int:
        """The lowest untaken turn above `hint` (slots are taken contiguously): gallop
        forward from the hint, then bisect; a handful of primary-key look-ups."""
        low = hint  # taken (or 0)
        step = 1
        high = low + step
        while await self._taken(workspace_id, team_id, high):
            low, step = high, step * 2
            high = low + step
        while high - low > 1:
            middle = (low + high) // 2
            if await self._taken(workspace_id, team_id, middle):
                low = middle
            else:
                high = middle
        return high
