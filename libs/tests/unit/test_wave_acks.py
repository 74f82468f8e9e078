"""`crm_kit.wave_acks`: a wave's publishes acked on one inbox subscription, counted per
wave; an error ack, a no-responders status, or an ack that never comes fails the wave, and
what is not an ack of a waiting message changes nothing."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from types import SimpleNamespace
from typing import Any

import pytest

from crm_kit.wave_acks import ACKED, DUPLICATE, AckRefused, Outgoing, WaveAcks

STORED = b'{"stream":"CRM","seq":7}'


class Client:
    """A NATS client whose stream acks each publish (`answer(n, reply)` decides how)
    after the whole wave went out."""

    def __init__(self, answer: Callable[[int], tuple[bytes, dict[str, str] | None] | None]):
        self.answer = answer
        self.subscribed: list[str] = []
        self.sent: list[tuple[str, str, dict[str, str]]] = []
        self._cb: Callable[[Any], Awaitable[None]] | None = None
        self._acks: set[asyncio.Future[None]] = set()

    def new_inbox(self) -> str:
        return "_INBOX.abc"

    async def subscribe(self, subject: str, *, cb: Callable[[Any], Awaitable[None]]) -> None:
        self.subscribed.append(subject)
        self._cb = cb

    async def publish(
        self, subject: str, payload: bytes = b"", reply: str = "", headers: Any = None
    ) -> None:
        n = len(self.sent)
        self.sent.append((subject, reply, dict(headers)))
        answered = self.answer(n)
        if answered is not None:
            asyncio.get_running_loop().call_soon(self._deliver, reply, *answered)

    def _deliver(self, reply: str, data: bytes, headers: dict[str, str] | None) -> None:
        assert self._cb is not None
        ack = SimpleNamespace(subject=reply, data=data, headers=headers)
        self._acks.add(asyncio.ensure_future(self._cb(ack)))


def _wave(size: int, prefix: str = "m") -> list[Outgoing]:
    return [
        Outgoing("crm.x.thing.created.v1", b"{}", {"Nats-Msg-Id": f"{prefix}{n}"})
        for n in range(size)
    ]


async def test_a_wave_is_done_when_each_message_is_acked_and_says_which_were_duplicates() -> None:
    client = Client(
        lambda n: (b'{"stream":"CRM","seq":3,"duplicate": true}' if n == 1 else STORED, None)
    )
    acks = WaveAcks(client)
    assert await acks.publish(_wave(3)) == bytes([ACKED, DUPLICATE, ACKED])
    # One subscription for every wave; each message's reply names its wave and place.
    assert await acks.publish(_wave(2, "n")) == bytes([ACKED, ACKED])
    assert client.subscribed == ["_INBOX.abc.*"]
    assert [reply for _, reply, _ in client.sent] == [
        "_INBOX.abc.1-0",
        "_INBOX.abc.1-1",
        "_INBOX.abc.1-2",
        "_INBOX.abc.2-0",
        "_INBOX.abc.2-1",
    ]
    assert [h["Nats-Msg-Id"] for _, _, h in client.sent] == ["m0", "m1", "m2", "n0", "n1"]
    assert not acks._waves
    assert await acks.publish([]) == b""


@pytest.mark.parametrize(
    ("answer", "reason"),
    [
        ((b'{"error":{"code":503,"description":"stream offline"}}', None), "stream offline"),
        ((b"", {"Status": "503"}), "status 503"),
    ],
)
async def test_a_refused_publish_fails_the_wave(
    answer: tuple[bytes, dict[str, str] | None], reason: str
) -> None:
    client = Client(lambda n: answer if n == 2 else (STORED, None))
    acks = WaveAcks(client)
    with pytest.raises(AckRefused, match=reason):
        await acks.publish(_wave(4))
    assert not acks._waves


async def test_error_inside_a_value_is_no_refusal() -> None:
    client = Client(lambda n: (b'{"stream":"error","seq":1}', None))
    assert await WaveAcks(client).publish(_wave(2)) == bytes([ACKED, ACKED])


async def test_a_wave_whose_acks_never_come_waits_for_them_until_the_callers_deadline() -> None:
    client = Client(lambda n: (STORED, None) if n != 1 else None)
    acks = WaveAcks(client)
    with pytest.raises(TimeoutError):
        async with asyncio.timeout(0.05):
            await acks.publish(_wave(3))
    # Given up and forgotten: a late ack, a repeated one, or a stranger change nothing.
    assert not acks._waves
    for subject in ("_INBOX.abc.1-1", "_INBOX.abc.9-0", "_INBOX.abc.x", "_INBOX.abc.1-x"):
        await acks._on_ack(SimpleNamespace(subject=subject, data=STORED, headers=None))
    assert not acks._waves


async def test_an_ack_counted_twice_does_not_finish_the_wave_early() -> None:
    delivered: list[str] = []

    def answer(n: int) -> tuple[bytes, dict[str, str] | None] | None:
        delivered.append(str(n))
        return (STORED, None) if n == 0 else None

    client = Client(answer)
    acks = WaveAcks(client)
    task = asyncio.create_task(acks.publish(_wave(2)))
    for _ in range(10):  # both sent, the first acked
        await asyncio.sleep(0)
    assert len(client.sent) == 2 and not task.done()
    # The first message's ack again (a redelivery by the server): the second still waits.
    await acks._on_ack(SimpleNamespace(subject="_INBOX.abc.1-0", data=STORED, headers=None))
    await asyncio.sleep(0)
    assert not task.done()
    await acks._on_ack(SimpleNamespace(subject="_INBOX.abc.1-1", data=STORED, headers=None))
    assert await task == bytes([ACKED, ACKED])
