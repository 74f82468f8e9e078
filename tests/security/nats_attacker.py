"""An attacker on NATS: a client with stolen (or no) credentials, and how a refusal shows.

A permission violation does not close the connection: the server answers the offending
publish or subscription with `-ERR 'Permissions Violation …'` and drops it. Once that
answer has arrived the message has gone nowhere, so waiting for it is both the proof of
refusal and the point after which nothing can change any more.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any

import nats
from nats.aio.client import Client

from crm_contracts.envelope import HEADER_MSG_ID, HEADER_WORKSPACE, CloudEvent
from crm_kit.devstack import InfraStack

# Refusals come back in milliseconds; this only bounds a test that would otherwise hang.
REFUSAL_DEADLINE = 1.0


@dataclass
class Attacker:
    nc: Client
    errors: list[str] = field(default_factory=list)

    async def refused(self, subject: str) -> str:
        """Wait for the server's permission violation naming `subject`."""

        async def violation() -> str:
            while True:
                for error in self.errors:
                    if "permissions violation" in error and subject.lower() in error.lower():
                        return error
                await asyncio.sleep(0.01)

        return await asyncio.wait_for(violation(), REFUSAL_DEADLINE)

    async def forge(self, event: CloudEvent) -> str:
        """Publish `event` on its subject as a service would, and wait for the refusal."""
        headers = {HEADER_MSG_ID: event.id, HEADER_WORKSPACE: event.workspace}
        await self.nc.publish(event.type, event.to_json(), headers=headers)
        await self.nc.flush()
        return await self.refused(event.type)

    async def close(self) -> None:
        await self.nc.close()


async def attacker_as(infra: InfraStack, party: str) -> Attacker:
    """A client holding `party`'s credentials (a compromised service or tool)."""
    errors: list[str] = []

    async def record(error: Exception) -> None:
        errors.append(str(error))

    nc = await infra.connect_nats(party, error_cb=record, max_reconnect_attempts=0)
    return Attacker(nc, errors)


async def connect_without(infra: InfraStack, **credentials: Any) -> Client:
    """A connection attempt with no or foreign credentials; raises the server's refusal."""

    async def quiet(_: Exception) -> None:
        pass

    return await nats.connect(
        infra.nats_url,
        allow_reconnect=False,
        max_reconnect_attempts=0,
        connect_timeout=REFUSAL_DEADLINE,
        error_cb=quiet,
        **credentials,
    )
