"""Integration fixtures: the tasks app on a real FerretDB and NATS (the session `infra`).
Every test runs twice on the real FerretDB: with the embedded database's workarounds (the
profile `auto` detects: `ferretdb`: deal lists, the read index) and as on MongoDB (the
`mongodb` profile: conditional filters, the queries themselves), so both paths meet a
real server."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from typing import Any

import pytest
from nats.js import JetStreamContext
from nats.js.errors import NotFoundError

from crm_contracts.envelope import HEADER_MSG_ID, HEADER_WORKSPACE, CloudEvent
from crm_contracts.streams import stream_for
from crm_kit.nats_io import ensure_stream
from crm_kit.settings import Settings
from crm_kit.testing import reference_standins

STREAMS = [stream_for(s) for s in ("deals", "contacts", "tasks")]


@pytest.fixture(params=["auto", "mongodb"])
def settings(request: pytest.FixtureRequest, infra: Any, db_name: str) -> Settings:
    return Settings(
        service="tasks",
        mongodb_uri=infra.mongodb_uri,
        database=db_name,
        nats_url=infra.nats_url,
        outbox_sweep_seconds=0.5,
        max_deliveries=5,
        database_profile=request.param,
    )


@pytest.fixture(autouse=True)
async def referenced_records(infra: Any) -> AsyncIterator[set[str]]:
    """Stand-ins for the deals and contacts services' answers on the ids a task names:
    every id exists except those the test adds to the set this yields."""
    nc = await infra.connect_nats()
    async with reference_standins(nc, set()) as missing:
        yield missing
    await nc.close()


@pytest.fixture
async def js(infra: Any) -> AsyncIterator[JetStreamContext]:
    """A JetStream client; the CRM streams start empty (and without consumers) per test."""
    nc = await infra.connect_nats()
    jetstream = nc.jetstream()
    for spec in STREAMS:
        with contextlib.suppress(NotFoundError):
            await jetstream.delete_stream(spec.name)
        await ensure_stream(jetstream, spec)
    yield jetstream
    await nc.close()


async def publish(js: JetStreamContext, event: CloudEvent, msg_id: str | None = None) -> None:
    headers = {HEADER_MSG_ID: msg_id or event.id, HEADER_WORKSPACE: event.workspace}
    await js.publish(event.type, event.to_json(), headers=headers)


async def count_on(js: JetStreamContext, subject: str) -> int:
    """Messages stored on one subject of its service's stream."""
    stream = stream_for(subject.split(".")[1]).name
    info = await js.stream_info(stream, subjects_filter=subject)
    return int((info.state.subjects or {}).get(subject, 0))
