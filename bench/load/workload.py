"""What a virtual user does: the screens a sales team lives in (reads) and the changes it
makes (writes), about 80/20 by weight, each sent as the web app sends it (`documents.py`).

The pools of ids (deals per stage, contacts, companies, each user's open tasks) come from
the gateway before the load starts (`Pools.load`) and change as the writes change things,
so a move finds a deal where it expects it and a completion an open task.
"""

from __future__ import annotations

import random
import secrets
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

from documents import document

# Moves go back and forth between these stages of the default pipeline: leaving
# prospecting needs a company (the pool keeps only deals that have one), moving back needs
# nothing. Later stages' exit criteria need work a load cannot fake, and a move they
# refuse would count as an error.
MOVABLE = ("prospecting", "qualification")
SEARCH_TERMS = ("an", "son", "ma", "li", "er", "co", "ri", "ed", "th", "jo")

Send = Callable[[str, str, dict[str, Any]], Awaitable[dict[str, Any] | None]]


@dataclass
class Pools:
    pipeline_id: str
    # Per owner, per movable stage: reps move their own deals.
    deals_by_stage: dict[str, dict[str, list[str]]]
    all_deals: list[str]
    contacts: list[str]
    companies: list[str]
    owners: list[str]
    open_tasks: dict[str, list[str]] = field(default_factory=dict)
    # Tasks a virtual user has taken to complete (sent or answered): several virtual users
    # act as one rep, and a rep completes a task once, so a list read while another
    # completion is in flight must not hand that task out again. (Two people completing one
    # task is a real conflict, answered PRECONDITION_FAILED, not what a day's load does.)
    claimed_tasks: set[str] = field(default_factory=set)

    def take_open_task(self, subject: str) -> str | None:
        mine = self.open_tasks.get(subject) or []
        while mine:
            task_id = mine.pop()
            if task_id not in self.claimed_tasks:
                self.claimed_tasks.add(task_id)
                return task_id
        return None

    @classmethod
    async def load(cls, send: Send) -> Pools:
        """Ids the operations pick from, read once as an admin."""
        board = await send("prep", document("Board"), {"first": 50})
        assert board is not None, "the board did not load"
        columns = board["pipelineBoard"]["columns"]
        by_stage = {
            c["stage"]["key"]: [
                e["node"]["id"] for e in c["deals"]["edges"] if e["node"]["company"]
            ]
            for c in columns
        }
        contacts = await send(
            "prep", document("ContactsList"), {"first": 100, "orderBy": {"field": "LAST_NAME"}}
        )
        companies = await send("prep", document("CompaniesList"), {"first": 100})
        cards = await send("prep", document("Scorecards"), {})
        assert contacts and companies and cards, "the contacts, companies or owners did not load"
        owners = [c["ownerId"] for c in cards["ownerScorecards"] if c["ownerId"]]
        pipeline_id = board["pipelineBoard"]["pipeline"]["id"]
        owned: dict[str, dict[str, list[str]]] = {}
        for owner in owners:
            mine = await send("prep", document("Board"), {"ownerId": owner, "first": 10})
            assert mine is not None, f"the board of {owner} did not load"
            columns = {c["stage"]["key"]: c for c in mine["pipelineBoard"]["columns"]}
            owned[owner] = {s: _with_company(columns[s]["deals"]["edges"]) for s in MOVABLE}
        return cls(
            pipeline_id=pipeline_id,
            deals_by_stage=owned,
            all_deals=[d for ids in by_stage.values() for d in ids],
            contacts=[e["node"]["id"] for e in contacts["contacts"]["edges"]],
            companies=[e["node"]["id"] for e in companies["companies"]["edges"]],
            owners=owners,
        )


def _with_company(edges: list[dict[str, Any]]) -> list[str]:
    return [e["node"]["id"] for e in edges if e["node"]["company"]]


@dataclass(frozen=True)
class Operation:
    name: str
    weight: int
    run: Callable[[User], Awaitable[None]]


@dataclass
class User:
    """One virtual user: a rep (or, one in ten, a manager) of the demo workspace."""

    subject: str
    role: str
    send: Send
    pools: Pools
    rng: random.Random

    async def call(self, name: str, operation: str, variables: dict[str, Any]) -> Any:
        return await self.send(name, document(operation), variables)


async def board(u: User) -> None:
    await u.call("board", "Board", {"pipelineId": u.pools.pipeline_id, "first": 20})


async def board_column_page(u: User) -> None:
    stage = u.rng.choice(MOVABLE)
    where = {"pipelineId": u.pools.pipeline_id, "stageKey": stage}
    await u.call("board column page", "BoardColumnPage", {"filter": where, "first": 20})


async def deal_page(u: User) -> None:
    await u.call("deal page", "DealPage", {"id": u.rng.choice(u.pools.all_deals)})


async def contact_search(u: User) -> None:
    variables = {
        "filter": {"text": u.rng.choice(SEARCH_TERMS)},
        "orderBy": {"field": "LAST_NAME", "direction": "ASC"},
        "first": 25,
    }
    await u.call("contact search", "ContactsList", variables)


async def contacts_list(u: User) -> None:
    await u.call("contacts list", "ContactsList", {"first": 25})


async def contact_page(u: User) -> None:
    """The contact with its timeline, deals and tasks."""
    await u.call("contact + timeline", "ContactPage", {"id": u.rng.choice(u.pools.contacts)})


async def my_tasks(u: User) -> None:
    found = await u.call("my tasks", "MyTasks", {})
    if found is not None:
        ids = [t["id"] for t in found["myTasks"] if t["status"] in ("OPEN", "IN_PROGRESS")]
        u.pools.open_tasks[u.subject] = [i for i in ids if i not in u.pools.claimed_tasks]


async def dashboard(u: User) -> None:
    today = datetime.now(UTC).date()
    which = u.rng.randrange(3)
    if which == 0:
        await u.call("dashboard", "Funnel", {"pipelineId": u.pools.pipeline_id})
    elif which == 1:
        window = {"from": str(today.replace(day=1)), "to": str(today + timedelta(days=180))}
        await u.call("dashboard", "Forecast", {"pipelineId": u.pools.pipeline_id, **window})
    else:
        await u.call("dashboard", "Scorecards", {"pipelineId": u.pools.pipeline_id})


async def move_deal(u: User) -> None:
    pools = u.pools.deals_by_stage.get(u.subject)
    if not pools or not any(pools.values()):
        return  # a manager (or an owner without open deals here) moves nothing
    here = u.rng.choice([s for s in MOVABLE if pools[s]])
    deal_id = pools[here].pop(u.rng.randrange(len(pools[here])))
    there = MOVABLE[1 - MOVABLE.index(here)]
    moved = await u.call("moveDeal", "MoveDeal", {"id": deal_id, "stageKey": there})
    pools[there if moved is not None else here].append(deal_id)


async def create_deal(u: User) -> None:
    created = await u.call(
        "createDeal",
        "CreateDealFromBoard",
        {
            "input": {
                "title": f"Load {secrets.token_hex(4)}",
                "amount": str(u.rng.randrange(1_000, 50_000)),
                "pipelineId": u.pools.pipeline_id,
                "stageKey": "prospecting",
                "companyId": u.rng.choice(u.pools.companies),
                "expectedCloseDate": str(date.today() + timedelta(days=60)),
            }
        },
    )
    if created is not None and u.subject in u.pools.deals_by_stage:
        u.pools.deals_by_stage[u.subject]["prospecting"].append(created["createDeal"]["id"])


async def log_interaction(u: User) -> None:
    interaction = {
        "kind": u.rng.choice(["CALL", "NOTE", "MEETING"]),
        "contactId": u.rng.choice(u.pools.contacts),
        "subject": "Load check-in",
        "summary": "Talked about next steps.",
    }
    await u.call("logInteraction", "LogInteraction", {"input": interaction})


async def complete_task(u: User) -> None:
    task_id = u.pools.take_open_task(u.subject)
    if task_id is None:
        # Nothing open that this user has seen: open their list, as the screen would.
        await my_tasks(u)
        task_id = u.pools.take_open_task(u.subject)
        if task_id is None:
            return
    await u.call("completeTask", "CompleteTaskRow", {"id": task_id})


OPERATIONS: tuple[Operation, ...] = (
    Operation("board", 18, board),
    Operation("board column page", 7, board_column_page),
    Operation("deal page", 15, deal_page),
    Operation("contact search", 10, contact_search),
    Operation("contacts list", 5, contacts_list),
    Operation("contact + timeline", 8, contact_page),
    Operation("my tasks", 10, my_tasks),
    Operation("dashboard", 7, dashboard),
    Operation("moveDeal", 7, move_deal),
    Operation("createDeal", 3, create_deal),
    Operation("logInteraction", 5, log_interaction),
    Operation("completeTask", 5, complete_task),
)
