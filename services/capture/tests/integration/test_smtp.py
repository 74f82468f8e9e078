"""Inbound SMTP on a real socket: a message BCC'd to the workspace's capture address is on
the contact's timeline (the capture service's event, turned into an interaction by the
contacts service's consumer); the door refuses what it must."""

from __future__ import annotations

import asyncio
import smtplib

import pytest

from crm_kit.testing import eventually

from .conftest import Stack

pytestmark = pytest.mark.integration

MESSAGE = """From: Rita Rep <rita@ourco.example>
To: Ann Archer <ann@acme.example>
Subject: Proposal
Message-ID: <smtp-it-1@ourco.example>
Date: Mon, 02 Mar 2026 09:00:00 +0000

Hi Ann, the proposal is attached.
"""


async def inbound_address(stack: Stack) -> str:
    data = await stack.capture.data("{ captureSettings { inboundAddress } }")
    return str(data["captureSettings"]["inboundAddress"])


async def send(stack: Stack, sender: str, recipients: list[str], message: str) -> None:
    """smtplib blocks: in a thread, so the server (on this event loop) can answer."""

    def deliver() -> None:
        with smtplib.SMTP("127.0.0.1", stack.smtp_port, timeout=10) as client:
            client.sendmail(sender, recipients, message)  # str: smtplib sends CRLF lines

    await asyncio.to_thread(deliver)


async def test_a_bcc_lands_on_the_contacts_timeline(stack: Stack) -> None:
    ann = await stack.contact("ann@acme.example")
    address = await inbound_address(stack)
    await send(stack, "rita@ourco.example", [address], MESSAGE)

    async def on_timeline() -> list[dict]:
        return [i for i in await stack.timeline(ann) if i["subject"] == "Proposal"]

    found = (await eventually(on_timeline, what="the email on the timeline"))[0]
    assert found["kind"] == "EMAIL" and found["direction"] == "OUTBOUND"
    assert found["source"] == "capture"
    assert "proposal is attached" in found["summary"]


def refused(port: int, address: str, domain: str) -> None:
    with smtplib.SMTP("127.0.0.1", port, timeout=10) as client:
        client.ehlo()
        client.mail("rita@ourco.example")
        code, _ = client.rcpt("someone@elsewhere.example")
        assert code == 550  # no relay
        code, _ = client.rcpt(f"nosuchkey@{domain}")
        assert code == 550
        client.rset()
        client.mail("stranger@evil.example")
        code, reply = client.rcpt(address)
        assert code == 550 and b"not an address of this workspace" in reply


async def test_the_door_refuses_other_recipients_and_senders(stack: Stack) -> None:
    address = await inbound_address(stack)
    await asyncio.to_thread(refused, stack.smtp_port, address, stack.config.domain)
