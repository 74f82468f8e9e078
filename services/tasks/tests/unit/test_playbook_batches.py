"""Stage changes one fetch took, handled together (`apply_playbooks` through the playbooks'
batch handler): every change gets its tasks once (a change re-sent in the same fetch too),
a closed deal gets none, another workspace's stay there, and the batch delivered again adds
nothing."""

from __future__ import annotations

from datetime import timedelta

from crm_contracts import tasks as contract
from crm_tasks.domain.queries import TaskFilter
from crm_tasks.events import examples
from crm_tasks.usecases.inputs import TeamInput
from crm_tasks.usecases.scope import Scope
from crm_tasks.usecases.teams import create_team

from .conftest import T0, FakeStore, Inbound

PLAYBOOK = [{"key": "a", "title": "Call"}, {"key": "b", "title": "Deck"}]
LATER = [{"key": "c", "title": "Proposal"}]


async def titles(store: FakeStore, workspace: str, deal_id: str) -> list[str]:
    found = await store.for_workspace(workspace).find_tasks(TaskFilter(deal_ids=[deal_id]), T0)
    return sorted(task.title for task in found)


async def test_a_fetch_of_stage_changes_is_stored_together_once(
    inbound: Inbound, store: FakeStore
) -> None:
    await inbound.deliver(examples.deal_closed(deal_id="d3", won=False, at=T0 + timedelta(hours=1)))
    first = examples.stage_changed(deal_id="d1", changed_at=T0, playbook=PLAYBOOK)
    fetch = [
        first,
        examples.stage_changed(deal_id="d2", workspace="w2", changed_at=T0, playbook=PLAYBOOK),
        examples.stage_changed(
            deal_id="d1", changed_at=T0 + timedelta(minutes=5), playbook=LATER, to_stage="propose"
        ),
        examples.stage_changed(deal_id="d3", changed_at=T0, playbook=PLAYBOOK),
        # The first change re-sent under a new event id, in the same fetch.
        examples.stage_changed(
            deal_id="d1",
            changed_at=T0,
            playbook=PLAYBOOK,
            stage_change_id=first.data["stageChangeId"],
        ),
    ]
    await inbound.deliver_together("tasks-playbooks", fetch)
    assert await titles(store, "w1", "d1") == ["Call", "Deck", "Proposal"]
    assert await titles(store, "w2", "d2") == ["Call", "Deck"]
    assert await titles(store, "w1", "d3") == []
    assert await titles(store, "w1", "d2") == []  # w2's deal: not in w1
    created = store.events_of(contract.TASK_CREATED)
    assert len({event.id for event in created}) == 5

    await inbound.deliver_together("tasks-playbooks", fetch)  # redelivered
    assert await titles(store, "w1", "d1") == ["Call", "Deck", "Proposal"]
    assert await titles(store, "w2", "d2") == ["Call", "Deck"]
    # Written again at most under the same ids, which the stream keeps once.
    assert len({event.id for event in store.events_of(contract.TASK_CREATED)}) == 5


async def test_a_stage_change_alone_and_in_a_batch_make_the_same_tasks(
    inbound: Inbound, store: FakeStore
) -> None:
    change = examples.stage_changed(deal_id="d1", changed_at=T0, playbook=PLAYBOOK)
    await inbound.deliver(change)
    alone = await store.for_workspace("w1").find_tasks(TaskFilter(deal_ids=["d1"]), T0)
    await inbound.deliver_together("tasks-playbooks", [change])
    again = await store.for_workspace("w1").find_tasks(TaskFilter(deal_ids=["d1"]), T0)
    assert sorted(task.id for task in alone) == sorted(task.id for task in again)
    assert len(alone) == 2


async def test_a_batch_takes_its_team_turns_in_rotation_once_each(
    inbound: Inbound, store: FakeStore, scope: Scope
) -> None:
    team = await create_team(scope, TeamInput(name="SDR", member_ids=["s1", "s2", "s3"]))
    playbook = [{"key": "r", "title": "Research", "assignee": {"rule": "team", "teamId": team.id}}]
    fetch = [
        examples.stage_changed(deal_id=f"d{n}", changed_at=T0, playbook=playbook) for n in range(6)
    ]
    await inbound.deliver_together("tasks-playbooks", fetch)
    await inbound.deliver_together("tasks-playbooks", fetch)  # redelivered: no new turns
    found = await store.for_workspace("w1").find_tasks(TaskFilter(source_kind="playbook"), T0)
    assignees = sorted(task.assignee_id or "" for task in found)
    assert assignees == ["s1", "s1", "s2", "s2", "s3", "s3"]
    nxt = examples.stage_changed(deal_id="d6", changed_at=T0, playbook=playbook)
    await inbound.deliver(nxt)
    [last] = await store.for_workspace("w1").find_tasks(TaskFilter(deal_ids=["d6"]), T0)
    assert last.assignee_id == "s1"  # the seventh turn: the rotation went on from six
