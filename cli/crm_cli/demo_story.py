"""The demo's story, told through the gateway's GraphQL API like any client would: the demo
reps move a few prospects into qualification (their playbooks create discovery calls),
open deals in proposal and negotiation (deal-desk approvals, legal reviews, commit-stage
money in the forecast), and everyone signing in finds open and overdue tasks.

Idempotent: what exists already (a deal or task of the same title) is not made again, and
each mutation carries an idempotency key, so one repeated after a lost answer is made once.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

import httpx

from crm_kit.auth import issue_token
from crm_kit.demo_users import demo_user

from .api import post_graphql

REPS = ("darcel-schlecht", "gladys-colclough")
MANAGER = "melvin-marxen"
ADMIN = "admin"

DEALS_OF = """query($f: DealFilter) { deals(filter: $f, orderBy: {field: AMOUNT, direction: DESC},
  first: 12) { totalCount edges { node { id title product amount company { id name } } } } }"""
CONTACT_AT = """query($c: ID) { contacts(filter: {companyId: $c}, first: 1) {
  edges { node { id } } } }"""
MOVE = "mutation($id: ID!, $s: String!) { moveDeal(id: $id, stageKey: $s) { id } }"
CREATE_DEAL = "mutation($i: CreateDealInput!) { createDeal(input: $i) { id } }"
CREATE_TASK = "mutation($i: CreateTaskInput!) { createTask(input: $i) { id } }"
TASKS_OF = """query($f: TaskFilterInput) { tasks(filter: $f, first: 100) {
  edges { node { title } } } }"""


class StoryError(Exception):
    pass


@dataclass
class Api:
    url: str
    workspace: str
    http: httpx.Client

    def call(self, user_id: str, query: str, variables: dict[str, Any] | None = None) -> Any:
        user = demo_user(user_id)
        roles = list(user.roles) if user else ["rep"]
        token = issue_token(self.workspace, user_id, roles, ttl_seconds=600)
        # Mutations with an idempotency key, repeated when safe (crm_cli.api).
        body = post_graphql(self.http, self.url, token, query, variables)
        if body.get("errors"):
            raise StoryError(f"{user_id}: {body['errors'][0].get('message')}")
        return body["data"]


def _day(offset: int) -> str:
    return (date.today() + timedelta(days=offset)).isoformat()


def _at(offset_days: int, hour: int = 15) -> str:
    moment = datetime.now(UTC).replace(hour=hour, minute=0, second=0, microsecond=0)
    return (moment + timedelta(days=offset_days)).isoformat()


def _task_titles(api: Api, assignee: str) -> set[str]:
    data = api.call(ADMIN, TASKS_OF, {"f": {"assigneeId": assignee, "source": "MANUAL"}})
    return {edge["node"]["title"] for edge in data["tasks"]["edges"]}


def _rep_story(api: Api, rep: str) -> int:
    done = 0

    def deals_in(stage: str) -> tuple[int, list[dict[str, Any]]]:
        found = api.call(rep, DEALS_OF, {"f": {"ownerId": rep, "stageKey": stage}})["deals"]
        return found["totalCount"], [e["node"] for e in found["edges"] if e["node"]["company"]]

    # Two prospects qualify: the qualification playbook books a discovery call for the rep.
    qualifying, _ = deals_in("qualification")
    if qualifying == 0:
        for deal in deals_in("prospecting")[1][:2]:
            api.call(rep, MOVE, {"id": deal["id"], "s": "qualification"})
            done += 1
    deals = deals_in("engaging")[1]
    # A proposal out and a contract in negotiation, each on a company the rep works with.
    titles = {d["title"] for stage in ("proposal", "negotiation") for d in deals_in(stage)[1]}
    companies = list({d["company"]["id"]: d for d in deals}.values())[:2]
    for stage, deal, close_in, step in zip(
        ("proposal", "negotiation"),
        companies,
        (40, 21),
        ("Walk procurement through the proposal", "Agree the payment terms"),
        strict=False,
    ):
        title = f"{deal['product'] or 'Hardware'} expansion for {deal['company']['name']}"
        if title in titles:
            continue
        contact = api.call(rep, CONTACT_AT, {"c": deal["company"]["id"]})["contacts"]["edges"]
        # The expansion starts past stages the demo never played out (their playbook tasks
        # do not exist): the demo admin places it there with an audited override.
        api.call(
            ADMIN,
            CREATE_DEAL,
            {
                "i": {
                    "override": True,
                    "ownerId": rep,
                    "title": title,
                    "amount": str(round(float(deal["amount"]) * 3, 2)),
                    "stageKey": stage,
                    "companyId": deal["company"]["id"],
                    "primaryContactId": contact[0]["node"]["id"] if contact else None,
                    "expectedCloseDate": _day(close_in),
                    "nextStep": step,
                    "nextStepDate": _day(3),
                    "product": deal["product"],
                    "source": "expansion",
                }
            },
        )
        done += 1
    # Something already late: a follow-up the rep promised.
    if deals:
        late = f"Send {deals[0]['company']['name']} the customer references"
        if late not in _task_titles(api, rep):
            task = {"title": late, "type": "EMAIL", "priority": "HIGH", "dueAt": _at(-2)}
            task.update(assigneeId=rep, dealId=deals[0]["id"])
            api.call(ADMIN, CREATE_TASK, {"i": task})
            done += 1
    return done


MANAGEMENT_TASKS = (
    (MANAGER, "Review the team's stale deals", "TODO", "HIGH", -1),
    (MANAGER, "Prepare the quarterly forecast call", "MEETING", "NORMAL", 2),
    (ADMIN, "Approve the new discount policy", "TODO", "URGENT", -3),
    (ADMIN, "Add the new solutions engineer to the workspace", "TODO", "NORMAL", 5),
)


def tell_story(url: str, workspace: str, timeout: float = 30.0) -> int:
    """Runs the story; returns how many things it made (0 when it had been told before)."""
    with httpx.Client(timeout=timeout) as http:
        api = Api(url, workspace, http)
        made = sum(_rep_story(api, rep) for rep in REPS)
        existing: dict[str, set[str]] = {}
        for assignee, title, kind, priority, due_in in MANAGEMENT_TASKS:
            titles = existing.setdefault(assignee, _task_titles(api, assignee))
            if title in titles:
                continue
            task = {"title": title, "type": kind, "priority": priority, "dueAt": _at(due_in)}
            api.call(ADMIN, CREATE_TASK, {"i": {**task, "assigneeId": assignee}})
            made += 1
        return made
