"""A request whose connection breaks fails at once with `ReplyLost` instead of waiting out
its timeout (nats-py would wait it out: a JetStream publish sent to a server that then
died waited 5 s, which held the outbox relay up after every NATS restart); requests after
the reconnect are answered as usual. On a NATS server of the test's own, which it kills."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import pytest
from nats.aio.msg import Msg

from crm_kit import nats_auth
from crm_kit.devstack import ManagedServer, free_port, start_nats
from crm_kit.nats_io import ReplyLost, connect

pytestmark = pytest.mark.integration

SILENT = "kittest.silent"  # taken, never answered
ECHO = "kittest.echo"
# Far beyond anything here: a request that waited it out would fail the test's own bound.
PATIENT_SECONDS = 120.0


@pytest.fixture
def own_nats(tmp_path: Path) -> Iterator[tuple[Path, int, list[ManagedServer]]]:
    port = free_port()
    servers = [start_nats(tmp_path, port, harness=True)]
    try:
        yield tmp_path, port, servers
    finally:
        for server in servers:
            server.stop()


async def test_a_request_in_flight_fails_when_its_connection_breaks(
    own_nats: tuple[Path, int, list[ManagedServer]],
) -> None:
    data_dir, port, servers = own_nats
    nc = await connect(f"nats://127.0.0.1:{port}", user=nats_auth.HARNESS)
    taken = asyncio.Event()

    async def take(_: Msg) -> None:
        taken.set()

    async def echo(msg: Msg) -> None:
        await msg.respond(msg.data)

    try:
        await nc.subscribe(SILENT, cb=take)
        await nc.subscribe(ECHO, cb=echo)
        await nc.flush()
        waiting = asyncio.create_task(nc.request(SILENT, b"?", timeout=PATIENT_SECONDS))
        async with asyncio.timeout(10):
            await taken.wait()
        servers.pop().kill()
        async with asyncio.timeout(30):
            with pytest.raises(ReplyLost):
                await waiting
        servers.append(start_nats(data_dir, port, harness=True))
        # Sent while the client reconnects: it goes out once the client is back.
        async with asyncio.timeout(30):
            reply = await nc.request(ECHO, b"back", timeout=25)
        assert reply.data == b"back"
    finally:
        await nc.close()
