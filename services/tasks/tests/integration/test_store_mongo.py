"""The store on FerretDB through the kit's write path, in both database profiles: mapping,
scoping, natural keys, conditional changes, keyset pages, round-robin turns, rule runs,
firing reminders once, the deal lists and their one-off backfill."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from pymongo import AsyncMongoClient, monitoring

from crm_contracts import tasks as contract
from crm_kit.mongo import pushes_filters_down
from crm_kit.profile import DatabaseProfile
from crm_kit.testing import CommandsSent
from crm_kit.writer import DocumentWriter
from crm_tasks.config import OUTBOX_COLLECTIONS
from crm_tasks.domain.queries import TaskFilter, TaskOrder
from crm_tasks.domain.rule import Condition, Rule, RuleRun, RunResult
from crm_tasks.domain.task import Task, TaskCreated, TaskSource
from crm_tasks.domain.team import Team
from crm_tasks.events.publish import encode
from crm_tasks.store.mongo import backfill_deal_lists, ensure_indexes, mongo_store
from crm_tasks.store.port import NameTaken, TasksStore

pytestmark = pytest.mark.integration
NOW = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


class _Finds(CommandsSent):
    """The collections of the `find` commands a client starts, as a list that grows as
    they are sent (`CommandsSent.of` answers a copy: a test that cleared it and then read
    it again would read the copy taken before)."""

    def __init__(self) -> None:
        super().__init__("find")
        self.collections: list[str] = []

    def started(self, event: monitoring.CommandStartedEvent) -> None:
        if event.command_name == "find":
            self.collections.append(str(event.command["find"]))


@contextlib.asynccontextmanager
async def _two_replicas_recording_finds(
    infra: Any, db_name: str, *, detected: bool = False
) -> AsyncIterator[tuple[Any, Any, list[str]]]:
    """The store on two replicas (FerretDB profile, change logs on), and the collections
    the first one's `find` commands read. `detected`: the profile as the server's build
    answers (reads by id as one `$in` query on the platform's build of FerretDB)."""
    finds = _Finds()
    client: AsyncMongoClient[Any] = AsyncMongoClient(
        infra.mongodb_uri, tz_aware=True, event_listeners=[finds]
    )
    other: AsyncMongoClient[Any] = AsyncMongoClient(infra.mongodb_uri, tz_aware=True)
    try:
        db = client[db_name]
        await ensure_indexes(db)
        profile = (
            await DatabaseProfile.detect(db, "ferretdb")
            if detected
            else DatabaseProfile.named("ferretdb")
        )
        yield (
            mongo_store(_writer(db, profile)),
            mongo_store(_writer(other[db_name], profile)),
            finds.collections,
        )
    finally:
        await client.close()
        await other.close()


@dataclass
class Env:
    store: TasksStore
    writer: DocumentWriter
    uri: str
    db_name: str
    clients: list[AsyncMongoClient[Any]]

    def replica(self) -> TasksStore:
        """Another process's store on the same database (a client of its own)."""
        client: AsyncMongoClient[Any] = AsyncMongoClient(self.uri, tz_aware=True)
        self.clients.append(client)
        return mongo_store(_writer(client[self.db_name], self.writer.profile))


def _writer(db: Any, profile: DatabaseProfile) -> DocumentWriter:
    return DocumentWriter(db, profile=profile, outbox_collections=OUTBOX_COLLECTIONS, encode=encode)


@pytest.fixture(params=["ferretdb", "mongodb"])
async def env(request: pytest.FixtureRequest, infra: Any, db_name: str) -> AsyncIterator[Env]:
    client: AsyncMongoClient[Any] = AsyncMongoClient(infra.mongodb_uri, tz_aware=True)
    db = client[db_name]
    await ensure_indexes(db)
    writer = _writer(db, DatabaseProfile.named(request.param))
    env = Env(mongo_store(writer), writer, infra.mongodb_uri, db_name, [client])
    yield env
    for opened in env.clients:
        await opened.close()


def make_task(n: int, **fields: Any) -> Task:
    task_id = f"{n:024x}"
    values: dict[str, Any] = {
        "id": task_id,
        "workspace_id": "w1",
        "title": f"t{n}",
        "type": "call",
        "created_at": NOW,
        "updated_at": NOW,
        "idem_key": f"manual:{task_id}",
        "reminder_sent": True,
        "overdue_sent": True,
        **fields,
    }
    task = Task(**values)
    task.raise_event(TaskCreated(task))
    return task


async def test_round_trip_scoping_and_natural_keys(env: Env) -> None:
    w1, w2 = env.store.for_workspace("w1"), env.store.for_workspace("w2")
    task = make_task(1, source=TaskSource("playbook", "k", None, "sc"), idem_key="playbook:sc:k")
    task.due_at = NOW + timedelta(days=1)
    assert await w1.add_tasks([task]) == []
    [stored] = await w1.get_tasks([task.id])
    assert (stored.title, stored.due_at, stored.source, stored.version) == (
        "t1",
        task.due_at,
        task.source,
        0,
    )
    assert await w2.get_tasks([task.id]) == []
    other = make_task(2, idem_key="playbook:sc:k")
    assert [t.id for t in await w1.add_tasks([other])] == [other.id]  # the key is taken
    assert (await w1.task_by_key("playbook:sc:k")).id == task.id  # type: ignore[union-attr]
    # The same key in another workspace is another task.
    assert await w2.add_tasks([make_task(3, workspace_id="w2", idem_key="playbook:sc:k")]) == []
    found = await w1.find_tasks(TaskFilter(source_kind="playbook"), NOW)
    assert [t.id for t in found] == [task.id]
    # Its creation event was written with it, for the relay.
    raw = await env.writer.db["tasks"].find_one({"_id": task.id})
    assert raw is not None and [e["subject"] for e in raw["_outbox"]] == [contract.TASK_CREATED]


async def test_conditional_changes_filters_and_pages(env: Env) -> None:
    w1 = env.store.for_workspace("w1")
    await w1.add_tasks(
        [
            make_task(1, due_at=NOW - timedelta(hours=1), deal_id="d1"),
            make_task(2, due_at=NOW + timedelta(hours=1), deal_id="d1"),
            make_task(3, deal_id="d2", assignee_id="bob"),
        ]
    )

    async def start(task: Task) -> bool:
        if task.status != "open":
            return False
        task.move_to("in_progress", at=NOW, by="alice")
        return True

    started = await w1.change_task(f"{1:024x}", start)
    assert started is not None and started.status == "in_progress" and started.version == 1
    again = await w1.change_task(f"{1:024x}", start)
    assert again is not None and again.version == 1  # nothing written the second time
    overdue = await w1.find_tasks(TaskFilter(overdue=True), NOW)
    assert [t.title for t in overdue] == ["t1"]
    not_overdue = await w1.find_tasks(TaskFilter(overdue=False), NOW)
    assert sorted(t.title for t in not_overdue) == ["t2", "t3"]
    assert await w1.count_tasks(TaskFilter(deal_ids=["d1"]), NOW) == 2
    assert await w1.open_counts(["bob", "amy"]) == {"bob": 1}
    # Keyset pages by due date, undated last.
    by_due = TaskOrder("due_at")
    page1 = await w1.list_tasks(TaskFilter(), NOW, by_due, None, 2)
    assert [t.title for t in page1.items] == ["t1", "t2"]
    assert (page1.total, page1.has_next) == (3, True)
    last = page1.items[-1]
    page2 = await w1.list_tasks(TaskFilter(), NOW, by_due, (last.due_sort, last.id), 2)
    assert [t.title for t in page2.items] == ["t3"] and not page2.has_next


async def test_round_robin_turns_and_team_names(env: Env) -> None:
    w1 = env.store.for_workspace("w1")
    team = Team("a" * 24, "w1", "SDR", ["x", "y"], created_at=NOW)
    await w1.add_team(team)
    with pytest.raises(NameTaken) as taken:
        await w1.add_team(Team("b" * 24, "w1", "SDR", ["z"], created_at=NOW))
    assert taken.value.existing_id == team.id
    assert [await w1.take_turn(team, None) for _ in range(3)] == [1, 2, 3]
    keyed = await w1.take_turn(team, "playbook:sc:k")
    again = await w1.take_turn(team, "playbook:sc:k")
    assert keyed == again == 4
    # A fresh process finds where the turns are.
    assert await env.replica().for_workspace("w1").take_turn(team, None) == 5


async def test_rules_and_one_run_per_event(env: Env) -> None:
    w1 = env.store.for_workspace("w1")
    rule = Rule(
        "c" * 24, "w1", "r", "deal_won", [Condition("deal.tags", "in", {"a.b": ["$x"]})], []
    )
    await w1.add_rule(rule)
    stored = await w1.get_rule(rule.id)
    assert stored is not None and stored.conditions[0].value == {"a.b": ["$x"]}
    run = RuleRun.start("w1", rule.id, "e1", "t", NOW)
    assert await w1.start_run(run) is None
    again = await w1.start_run(RuleRun.start("w1", rule.id, "e1", "t", NOW))
    assert again is not None and again.id == run.id and again.outcome == "running"
    run.outcome = "succeeded"
    assert await w1.finish_run(run, RunResult.of(run, [])) is True
    assert await w1.finish_run(run, RunResult.of(run, [])) is False
    later = RuleRun.start("w1", rule.id, "e2", "t", NOW + timedelta(seconds=1))
    await w1.start_run(later)
    runs = await w1.list_runs(rule.id, None, 10)
    assert [(r.event_id, r.outcome) for r in runs] == [("e2", "running"), ("e1", "succeeded")]
    assert [r.event_id for r in await w1.list_runs(rule.id, (later.at, later.id), 10)] == ["e1"]
    assert await w1.delete_rule(rule.id) and not await w1.delete_rule(rule.id)


async def test_reminders_fire_once(env: Env) -> None:
    w1 = env.store.for_workspace("w1")
    await w1.add_tasks(
        [
            make_task(1, due_at=NOW, overdue_sent=False),
            make_task(2, due_at=NOW + timedelta(hours=1), overdue_sent=False),
            make_task(3, due_at=NOW, overdue_sent=False, status="done"),
        ]
    )
    first = await env.store.fire_due(NOW, 10)
    assert [f.task_id for f in first] == [f"{1:024x}"]
    [task] = await w1.get_tasks([f"{1:024x}"])
    assert task.overdue_sent is True
    assert await env.store.fire_due(NOW, 10) == []
    # Even a pass that missed the flag (a stale read, a lost update) cannot fire twice.
    await env.writer.db["tasks"].update_one({"_id": task.id}, {"$set": {"overdue_sent": False}})
    await env.writer.db["schedule"].insert_one(
        {
            "_id": f"overdue_sent:{task.id}",
            "workspace_id": "w1",
            "task_id": task.id,
            "flag": "overdue_sent",
            "at": NOW,
        }
    )
    assert await env.store.fire_due(NOW, 10) == []
    fired = await env.writer.db["scheduled_fires"].find_one({"task_id": task.id})
    assert fired is not None and [e["subject"] for e in fired["_outbox"]] == [
        contract.TASK_OVERDUE,
        contract.NOTIFICATION_CREATED,
    ]


async def test_round_robin_turns_are_unique_under_concurrency(env: Env) -> None:
    """FerretDB loses concurrent `$inc`s; the slot inserts must not lose or repeat turns."""
    team = Team("f" * 24, "w1", "SDR", ["x"])
    await env.store.for_workspace("w1").add_team(team)
    replicas = [env.store.for_workspace("w1"), env.replica().for_workspace("w1")]
    picks = await asyncio.gather(
        *(replicas[i % 2].take_turn(team, None) for i in range(60)),
        *(replicas[i % 2].take_turn(team, "same-key") for i in range(10)),
    )
    positions = list(picks)
    assert sorted(positions[:60] + positions[60:61]) == list(range(1, 62))
    assert len(set(positions[60:])) == 1


async def test_turns_asked_together_take_one_insert_and_leave_no_member_out(
    env: Env, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Turns asked for while one is being taken go in one insert; a key among them that
    had its turn already gets that turn back, and the slot it was offered goes to the next
    ask: the turns stay contiguous."""
    from pymongo.asynchronous.collection import AsyncCollection

    team = Team("e" * 24, "w1", "SDR", ["x"])
    w1 = env.store.for_workspace("w1")
    await w1.add_team(team)
    first = await w1.take_turn(team, "again")
    inserts: list[int] = []
    insert_many = AsyncCollection.insert_many

    async def counted(self: Any, docs: Any, *args: Any, **options: Any) -> Any:
        if self.name == "round_robin_slots":
            inserts.append(len(docs))
        return await insert_many(self, docs, *args, **options)

    monkeypatch.setattr(AsyncCollection, "insert_many", counted)
    picks = await asyncio.gather(
        *(w1.take_turn(team, key) for key in ("k0", "k1", "again", "k2", "k3"))
    )
    assert picks[2] == first == 1
    others = [turn for n, turn in enumerate(picks) if n != 2]
    assert sorted(others) == [2, 3, 4, 5]
    assert max(inserts) >= 3  # asked while one was being taken: together
    assert await w1.take_turn(team, "k4") == 6


async def test_turns_asked_at_once_take_one_insert(
    env: Env, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Turns asked for by tasks started together (a batch's playbooks, prepared side by
    side) go in ONE insert, the first ask included, and get consecutive turns."""
    from pymongo.asynchronous.collection import AsyncCollection

    team = Team("d" * 24, "w1", "SDR", ["x", "y"])
    w1 = env.store.for_workspace("w1")
    await w1.add_team(team)
    inserts: list[int] = []
    insert_many = AsyncCollection.insert_many

    async def counted(self: Any, docs: Any, *args: Any, **options: Any) -> Any:
        if self.name == "round_robin_slots":
            inserts.append(len(docs))
        return await insert_many(self, docs, *args, **options)

    monkeypatch.setattr(AsyncCollection, "insert_many", counted)
    picks = await asyncio.gather(*(w1.take_turn(team, f"sc{n}:k") for n in range(6)))
    assert sorted(picks) == [1, 2, 3, 4, 5, 6]
    assert inserts == [6]


async def test_deal_tasks_moves_backfill_and_concurrent_changes(env: Env) -> None:
    w1, w2 = env.store.for_workspace("w1"), env.store.for_workspace("w2")
    await asyncio.gather(*(w1.add_tasks([make_task(n, deal_id="d1")]) for n in range(1, 4)))
    await w2.add_tasks([make_task(9, workspace_id="w2", deal_id="d1")])
    found = await w1.find_tasks(TaskFilter(deal_ids=["d1"]), NOW)
    assert sorted(t.title for t in found) == ["t1", "t2", "t3"]

    async def move(task: Task) -> bool:
        return bool(task.change({"deal_id": "d2"}, at=NOW))

    # Moved to another deal: found there, no longer under the first one.
    await w1.change_task(f"{3:024x}", move)
    assert {t.title for t in await w1.find_tasks(TaskFilter(deal_ids=["d1"]), NOW)} == {
        "t1",
        "t2",
    }
    assert [t.title for t in await w1.find_tasks(TaskFilter(deal_ids=["d2"]), NOW)] == ["t3"]
    # Concurrent changes of one task in one process: none is lost.
    fields = ["title", "description", "company_id", "contact_id"]

    def setter(field: str) -> Any:
        async def change(task: Task) -> bool:
            return bool(task.change({field: f"v-{field}"}, at=NOW))

        return change

    await asyncio.gather(*(w1.change_task(f"{1:024x}", setter(f)) for f in fields))
    [task] = await w1.get_tasks([f"{1:024x}"])
    assert all(getattr(task, f) == f"v-{f}" for f in fields)
    assert task.version == len(fields)
    if not env.writer.profile.workarounds:
        return
    # Tasks written before the deal lists existed are listed once at start-up. (A process
    # started after they were lost: this one holds the lists it read, as they were.)
    await env.writer.db["deal_tasks"].delete_many({})
    await env.writer.db["tasks_meta"].delete_many({})
    started = env.replica().for_workspace("w1")
    assert await started.find_tasks(TaskFilter(deal_ids=["d1"]), NOW) == []
    await backfill_deal_lists(env.writer)
    # The backfill's upserts are journalled: the list held as absent is read again.
    for store in (w1, started):
        again = await store.find_tasks(TaskFilter(deal_ids=["d1"]), NOW)
        assert sorted(t.title for t in again) == ["t2", "v-title"]


async def test_a_playbooks_audit_entries_ride_in_its_deal_list_once_after_a_crash(
    infra: Any, db_name: str
) -> None:
    """On the embedded database a stage change's tasks are inserted, then its deal's list
    is written with their events and audit entries (no intent before, no removal after).
    A crash between the two: the redelivered stage change finds its tasks stored and
    carries the same entries and events, so the log keeps one entry per task and the
    stream one event per task (their ids derive from the tasks)."""
    from crm_kit.audit import AUDIT as AUDIT_LOG
    from crm_kit.audit import INTENTS, is_pack, stored_changes
    from crm_kit.outbox import OutboxRelay
    from crm_tasks.config import AUDIT

    client: AsyncMongoClient[Any] = AsyncMongoClient(infra.mongodb_uri, tz_aware=True)
    nc = await infra.connect_nats()
    try:
        db = client[db_name]
        await ensure_indexes(db)
        writer = DocumentWriter(
            db,
            profile=DatabaseProfile.named("ferretdb"),
            outbox_collections=OUTBOX_COLLECTIONS,
            encode=encode,
            audit=AUDIT,
        )
        w1 = mongo_store(writer).for_workspace("w1")
        playbook = [make_task(n, deal_id="d7") for n in (1, 2)]
        # The first delivery dies after the tasks' insert, before the deal's list.
        held: list[dict[str, Any]] = []
        await w1.tasks.insert_many(playbook, hold_audit=held)  # type: ignore[attr-defined]
        assert await db[AUDIT_LOG].count_documents({}) == 0
        assert await db[INTENTS].count_documents({}) == 0
        redelivered = [make_task(n, deal_id="d7") for n in (1, 2)]
        assert len(await w1.add_playbook_tasks({"d7": redelivered})) == 2  # both stored already
        listed = await db["deal_tasks"].find_one({"_id": "w1:d7"})
        assert len(listed["_outbox"]) == 2 and len(listed["_audit"]) == 2
        # Held with their changes as one text each (the list is written and cleared whole).
        assert all(isinstance(entry["changes"], str) for entry in listed["_audit"])
        relay = OutboxRelay(db, OUTBOX_COLLECTIONS, nc.jetstream())
        await relay.publish_pending()
        created = [e async for e in db[AUDIT_LOG].find({"action": "create"})]
        assert sorted(e["record_id"] for e in created) == [t.id for t in playbook]
        assert {e["_id"] for e in created} == {e["_id"] for e in held}
        # Stored one document per entry (never a pack: a later move may group them
        # otherwise), their changes read as a list.
        assert not any(is_pack(e) for e in created)
        for entry in created:
            fields = {change["field"]: change["after"] for change in stored_changes(entry)}
            assert fields["title"] == f'"t{entry["record_id"][-1]}"', fields
        # A third delivery (after the list was written) adds nothing to the log, nor does
        # a fourth that holds one of the entries alone (a batch grouped otherwise).
        again = {"d7": [make_task(n, deal_id="d7") for n in (1, 2)]}
        assert len(await w1.add_playbook_tasks(again))
        await relay.publish_pending()
        assert len(await w1.add_playbook_tasks({"d7": [make_task(2, deal_id="d7")]}))
        await relay.publish_pending()
        assert await db[AUDIT_LOG].count_documents({}) == 2
        found = await w1.find_tasks(TaskFilter(deal_ids=["d7"]), NOW)
        assert sorted(t.title for t in found) == ["t1", "t2"]
    finally:
        await nc.close()
        await client.close()


async def test_a_batchs_deal_lists_reach_the_relay_together_and_each_event_goes_once(
    infra: Any, db_name: str, js: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The deal lists a batch of playbooks writes side by side are journalled together
    (one slot insert) and handed to the relay when the last is written: one pass
    publishes them all (one audit insert, one clearing statement), and every task's
    event reaches the stream once, its list cleared."""
    from pymongo.asynchronous.collection import AsyncCollection

    from crm_kit.audit import AUDIT as AUDIT_LOG
    from crm_kit.outbox import OUTBOX, OutboxRelay
    from crm_tasks.config import AUDIT

    from .conftest import count_on

    client: AsyncMongoClient[Any] = AsyncMongoClient(infra.mongodb_uri, tz_aware=True)
    try:
        db = client[db_name]
        await ensure_indexes(db)
        relay = OutboxRelay(db, OUTBOX_COLLECTIONS, js)
        passes: list[set[Any]] = []
        publish_documents = relay.publish_documents

        async def counted(targets: Any) -> int:
            passes.append({doc_id for name, doc_id in targets if name == "deal_tasks"})
            return await publish_documents(targets)

        relay.publish_documents = counted  # type: ignore[method-assign]
        writer = DocumentWriter(
            db,
            profile=DatabaseProfile.named("ferretdb"),
            outbox_collections=OUTBOX_COLLECTIONS,
            encode=encode,
            audit=AUDIT,
            wake=relay.notify,
        )
        w1 = mongo_store(writer).for_workspace("w1")
        slot_inserts: list[int] = []
        insert_many, insert_one = AsyncCollection.insert_many, AsyncCollection.insert_one

        async def many(self: Any, docs: Any, *args: Any, **options: Any) -> Any:
            if self.name == "changes_deal_tasks":
                slot_inserts.append(len(docs))
            return await insert_many(self, docs, *args, **options)

        async def one(self: Any, doc: Any, *args: Any, **options: Any) -> Any:
            if self.name == "changes_deal_tasks":
                slot_inserts.append(1)
            return await insert_one(self, doc, *args, **options)

        monkeypatch.setattr(AsyncCollection, "insert_many", many)
        monkeypatch.setattr(AsyncCollection, "insert_one", one)
        running = asyncio.create_task(relay.run())
        try:
            by_deal = {
                f"d{d}": [make_task(d * 10 + n, deal_id=f"d{d}") for n in (1, 2)] for d in (1, 2, 3)
            }
            assert len(await w1.add_playbook_tasks(by_deal)) == 0  # none refused
            assert slot_inserts == [3]  # the three lists journalled in one insert
            lists = {f"w1:d{d}" for d in (1, 2, 3)}
            deadline = asyncio.get_running_loop().time() + 30
            while await count_on(js, contract.TASK_CREATED) < 6:
                assert asyncio.get_running_loop().time() < deadline, passes
                await asyncio.sleep(0.05)
            while any([d.get(OUTBOX) async for d in db["deal_tasks"].find({})]):
                assert asyncio.get_running_loop().time() < deadline, "lists not cleared"
                await asyncio.sleep(0.05)
        finally:
            running.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await running
        assert [p for p in passes if p] == [lists]  # one pass for the batch's lists
        assert await count_on(js, contract.TASK_CREATED) == 6
        assert await db[AUDIT_LOG].count_documents({"action": "create"}) == 6
    finally:
        await client.close()


async def test_a_pass_stores_its_firings_together_and_a_crash_after_them_fires_none_twice(
    env: Env,
) -> None:
    """The firings of a pass go in one insert; a pass that died after it (firings stored,
    flags not set, entries still there) is followed by one that fires none of them again
    and flags and drops them all."""
    from crm_kit.records import MongoSource
    from crm_tasks.domain.reminders import OVERDUE, fire
    from crm_tasks.store.documents import FIRING

    w1 = env.store.for_workspace("w1")
    due = [make_task(n, due_at=NOW, overdue_sent=False) for n in range(20, 25)]
    await w1.add_tasks(due)
    # The pass that died: two firings stored, nothing else.
    firings = MongoSource(env.writer).records(FIRING, "w1")
    for task in due[:2]:
        made = fire(make_task(int(task.id, 16), due_at=NOW, overdue_sent=False), OVERDUE, NOW)
        assert made is not None
        await firings.insert(made)
    inserts = CommandsSent("insert")

    # The next process's scheduler, on a client whose statements are counted.
    client: AsyncMongoClient[Any] = AsyncMongoClient(
        env.uri, tz_aware=True, event_listeners=[inserts]
    )
    env.clients.append(client)
    restarted = mongo_store(_writer(client[env.db_name], env.writer.profile))
    fired = await restarted.fire_due(NOW, 50)
    assert sorted(f.task_id for f in fired) == sorted(t.id for t in due[2:])
    assert inserts.of("insert").count("scheduled_fires") == 1
    assert all(t.overdue_sent for t in await w1.get_tasks([t.id for t in due]))
    assert await env.writer.db["schedule"].count_documents({}) == 0
    assert await env.writer.db["scheduled_fires"].count_documents({}) == len(due)
    assert await restarted.fire_due(NOW, 50) == []


async def test_a_pass_flags_and_drops_its_firings_in_a_few_statements(env: Env) -> None:
    """Tasks already due when imported fire in one pass: their flags in one update
    statement per 90 tasks and their entries dropped likewise (two statements each
    before)."""
    w1 = env.store.for_workspace("w1")
    due = [make_task(n, due_at=NOW, overdue_sent=False) for n in range(100, 220)]
    await w1.add_tasks(due)
    writes = CommandsSent("update", "delete")

    client: AsyncMongoClient[Any] = AsyncMongoClient(
        env.uri, tz_aware=True, event_listeners=[writes]
    )
    env.clients.append(client)
    counted = mongo_store(_writer(client[env.db_name], env.writer.profile))
    fired = await counted.fire_due(NOW, 500)
    assert sorted(f.task_id for f in fired) == sorted(t.id for t in due)
    sent = writes.sent
    assert sent.count(("update", "tasks")) == 2 and sent.count(("delete", "schedule")) == 2
    assert all(t.overdue_sent for t in await w1.get_tasks([t.id for t in due]))
    assert await env.writer.db["schedule"].count_documents({}) == 0
    assert await counted.fire_due(NOW, 500) == []


async def test_a_playbooks_deal_list_is_held_as_written_without_reading_it(
    infra: Any, db_name: str
) -> None:
    """With the deal lists held (change logs), a playbook's list write gets the document
    back (it carries the tasks' events): the index installs it, so the deal's tasks are
    served at once with no read of that document; another replica's list write still
    reaches this one through the log."""
    async with _two_replicas_recording_finds(infra, db_name) as (one, two, reads):
        w1, replica = one.for_workspace("w1"), two.for_workspace("w1")
        assert await w1.find_tasks(TaskFilter(), NOW) == []  # the task index loaded
        assert await w1.find_tasks(TaskFilter(deal_ids=["d9"]), NOW) == []  # and the lists
        reads.clear()
        await w1.add_playbook_tasks({"d9": [make_task(n, deal_id="d9") for n in (1, 2)]})
        found = await w1.find_tasks(TaskFilter(deal_ids=["d9"]), NOW)
        assert sorted(t.title for t in found) == ["t1", "t2"]
        assert "deal_tasks" not in reads and "tasks" not in reads, reads
        await replica.add_playbook_tasks({"d9": [make_task(3, deal_id="d9")]})
        found = await w1.find_tasks(TaskFilter(deal_ids=["d9"]), NOW)
        assert sorted(t.title for t in found) == ["t1", "t2", "t3"]


async def test_duplicate_keys_on_two_replicas_leave_no_turn_empty(env: Env) -> None:
    """Two replicas handling the same events (a redelivery, a duplicate) at once: every key
    gets one turn, the same on both, and the turns taken are 1..n with none left empty
    (an empty turn is a member skipped in the rotation)."""
    team = Team("d" * 24, "w1", "SDR", ["x"])
    await env.store.for_workspace("w1").add_team(team)
    one, two = env.store.for_workspace("w1"), env.replica().for_workspace("w1")
    keys = [f"k{n}" for n in range(48)]
    # The other replica meets the same keys a little later, some of them only.
    shuffled = [key for n, key in enumerate(keys) if n % 3 != 1]
    shuffled = shuffled[2:] + shuffled[:2]

    async def paced(store: Any, order: list[str]) -> list[int]:
        # Arriving a few at a time, as a consumer's fetches do, so that the two
        # replicas' batches interleave.
        picks: list[int] = []
        for start in range(0, len(order), 6):
            picks += await asyncio.gather(
                *(store.take_turn(team, key) for key in order[start : start + 6])
            )
        return picks

    picks_one, picks_two = await asyncio.gather(paced(one, keys), paced(two, shuffled))
    turn_of = dict(zip(keys, picks_one, strict=True))
    assert {key: turn_of[key] for key in shuffled} == dict(zip(shuffled, picks_two, strict=True))
    slots = env.writer.db["round_robin_slots"]
    taken = sorted(
        [
            int(doc["_id"].rsplit(":", 1)[1])
            async for doc in slots.find({"_id": {"$regex": f"^slot:w1:{team.id}:"}})
        ]
    )
    assert taken == list(range(1, len(keys) + 1))


async def test_deal_outcomes_are_held_and_another_replicas_close_is_seen_at_once(
    infra: Any, db_name: str
) -> None:
    """With the change logs, a deal's outcome (absent, most often) is read once and then
    held: a batch of stage changes asks twice per deal and reads nothing more. A close by
    another replica, or by this one, is seen at the next ask (its log slot, or the write's
    own hook); a close and a reopen still keep the newer fact."""
    from crm_tasks.domain.outcome import REOPENED, DealOutcome

    async with _two_replicas_recording_finds(infra, db_name) as (one, two, reads):
        w1, replica = one.for_workspace("w1"), two.for_workspace("w1")
        assert await w1.deal_outcome("d1") is None
        reads.clear()
        assert [await w1.deal_outcome("d1") for _ in range(3)] == [None, None, None]
        assert "deal_outcomes" not in reads, reads
        won = DealOutcome("d1", "won", NOW, "w1", sequence=3)
        assert await replica.keep_deal_outcome(won)
        held = await w1.deal_outcome("d1")
        assert held is not None and (held.outcome, held.sequence) == ("won", 3)
        reopened = DealOutcome("d1", REOPENED, NOW + timedelta(hours=1), "w1", sequence=4)
        assert await w1.keep_deal_outcome(reopened)
        assert not await replica.keep_deal_outcome(won)  # older: not kept
        for store in (w1, replica):
            found = await store.deal_outcome("d1")
            assert found is not None and (found.outcome, found.sequence) == (REOPENED, 4)
        # Another workspace's deal of the same id has no outcome of w1's.
        assert await one.for_workspace("w2").deal_outcome("d1") is None


async def test_outcomes_as_known_skip_the_logs_probe_and_current_ones_see_another_replica(
    infra: Any, db_name: str
) -> None:
    """`outcomes_of(current=False)` (the playbooks' check before storing) answers from the
    held outcomes without probing their log, reading only the deals not held yet; a close
    by another replica since is then missing until an ask with `current=True` (the check
    after storing) probes the log and sees it."""
    from crm_tasks.domain.outcome import DealOutcome

    async with _two_replicas_recording_finds(infra, db_name) as (one, two, reads):
        w1, replica = one.for_workspace("w1"), two.for_workspace("w1")
        assert await w1.outcomes_of(["d1"]) == {}  # the workspace held, d1 absent
        reads.clear()
        assert await w1.outcomes_of(["d1"], current=False) == {}
        assert reads == [], reads  # no probe, no read
        assert await w1.outcomes_of(["d2"], current=False) == {}
        assert reads == ["deal_outcomes"], reads  # d2 not held yet: read, no probe
        assert await replica.keep_deal_outcome(DealOutcome("d1", "won", NOW, "w1", sequence=3))
        reads.clear()
        assert await w1.outcomes_of(["d1"], current=False) == {}  # not probed: not seen
        found = await w1.outcomes_of(["d1"])
        assert {deal: o.outcome for deal, o in found.items()} == {"d1": "won"}
        assert "changes_deal_outcomes" in reads, reads
        known = await w1.outcomes_of(["d1"], current=False)
        assert {deal: o.outcome for deal, o in known.items()} == {"d1": "won"}


async def test_the_rules_are_held_and_another_replicas_change_is_seen_at_the_next_ask(
    infra: Any, db_name: str
) -> None:
    """With the change logs, a workspace's automation rules are read once and then held:
    the rules durables ask for a trigger's enabled rules once per fetch and read no
    `automation_rules` again. A rule added, changed (disabled) or deleted by another
    replica, or by this one, is seen at the next ask; another workspace's rules are not
    this workspace's; the answer is the store's (by id, filtered as asked)."""

    def rule(rule_id: str, workspace: str, trigger: str, enabled: bool = True) -> Rule:
        return Rule(rule_id, workspace, "r", trigger, [], [], enabled=enabled)

    async with _two_replicas_recording_finds(infra, db_name) as (one, two, reads):
        w1, replica = one.for_workspace("w1"), two.for_workspace("w1")
        await replica.add_rule(rule("b" * 24, "w1", "deal_won"))
        await two.for_workspace("w2").add_rule(rule("c" * 24, "w2", "deal_won"))
        assert [r.id for r in await w1.list_rules("deal_won", True)] == ["b" * 24]
        reads.clear()
        for _ in range(3):
            assert [r.id for r in await w1.list_rules("deal_won", True)] == ["b" * 24]
        assert "automation_rules" not in reads, reads
        # Another replica's new rule, then this replica's own: each seen at the next ask.
        await replica.add_rule(rule("a" * 24, "w1", "deal_won"))
        assert [r.id for r in await w1.list_rules("deal_won", True)] == ["a" * 24, "b" * 24]
        await w1.add_rule(rule("d" * 24, "w1", "deal_lost"))
        assert [r.id for r in await w1.list_rules("deal_lost")] == ["d" * 24]

        async def disable(held: Rule) -> bool:
            held.enabled = False
            return True

        assert await replica.change_rule("a" * 24, disable) is not None
        assert [r.id for r in await w1.list_rules("deal_won", True)] == ["b" * 24]
        assert [r.id for r in await w1.list_rules("deal_won", False)] == ["a" * 24]
        assert await replica.delete_rule("b" * 24)
        assert await w1.list_rules("deal_won", True) == []
        # What one replica holds answers as the other's (and the store's) reads.
        assert [r.id for r in await w1.list_rules()] == [r.id for r in await replica.list_rules()]
        # A rule handed out is a copy: changing it changes nothing held.
        mine = (await w1.list_rules("deal_lost"))[0]
        mine.enabled = False
        assert (await w1.list_rules("deal_lost"))[0].enabled
        assert [r.id for r in await one.for_workspace("w2").list_rules()] == ["c" * 24]


async def test_the_outcomes_of_a_batchs_deals_are_read_together_and_then_held(
    infra: Any, db_name: str
) -> None:
    """A consumer's batch of stage changes asks for its deals' outcomes at once
    (`outcomes_of`): those not held yet are read together (one query on the platform's
    build of FerretDB, one `_id` look-up each as published), then held; a close by another
    replica is seen at the next ask, and another workspace's deal of the same id is not
    this workspace's."""
    from crm_tasks.domain.outcome import DealOutcome

    async with _two_replicas_recording_finds(infra, db_name, detected=True) as (one, two, reads):
        w1, replica = one.for_workspace("w1"), two.for_workspace("w1")
        lost = DealOutcome("d2", "lost", NOW, "w1", sequence=2)
        assert await replica.keep_deal_outcome(lost)
        assert await two.for_workspace("w2").keep_deal_outcome(
            DealOutcome("d3", "won", NOW, "w2", sequence=1)
        )
        await w1.outcomes_of(["warm"])  # the index's first ask of the workspace
        reads.clear()
        deals = ["d1", "d2", "d3", "d1"]
        found = await w1.outcomes_of(deals)
        assert {deal: (o.outcome, o.sequence) for deal, o in found.items()} == {"d2": ("lost", 2)}
        asked = reads.count("deal_outcomes")
        probe: AsyncMongoClient[Any] = AsyncMongoClient(infra.mongodb_uri)
        try:
            pushdown = await pushes_filters_down(probe[db_name])
        finally:
            await probe.close()
        assert asked == (1 if pushdown else 3), reads
        reads.clear()
        assert (await w1.outcomes_of(deals)).keys() == {"d2"}
        assert "deal_outcomes" not in reads, reads  # held, absent ones too
        won = DealOutcome("d1", "won", NOW, "w1", sequence=3)
        assert await replica.keep_deal_outcome(won)
        again = await w1.outcomes_of(deals)
        assert {deal: o.outcome for deal, o in again.items()} == {"d1": "won", "d2": "lost"}
        # What one replica holds answers as the store reads it (the fallback's answer).
        assert {d: o.outcome for d, o in (await replica.outcomes_of(deals)).items()} == {
            "d1": "won",
            "d2": "lost",
        }
