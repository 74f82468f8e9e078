"""`crm_kit.wave_acks` against a real NATS server with JetStream: a wave is stored once
each message, sent again it is acked as duplicates (`Nats-Msg-Id`), and a subject no
stream stores fails the wave."""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from crm_contracts.streams import StreamSpec
from crm_kit.nats_io import ensure_stream
from crm_kit.wave_acks import ACKED, DUPLICATE, AckRefused, Outgoing, WaveAcks

pytestmark = pytest.mark.integration


async def test_a_wave_is_stored_once_and_sent_again_is_acked_as_duplicates(infra: Any) -> None:
    nc = await infra.connect_nats()
    js = nc.jetstream()
    name = f"w{uuid.uuid4().hex[:10]}"
    stream = StreamSpec(name=f"W_{name.upper()}", subjects=(f"crm.{name}.>",))
    await ensure_stream(js, stream)
    try:
        acks = WaveAcks(nc)
        wave = [
            Outgoing(
                f"crm.{name}.thing.created.v1", b'{"n":%d}' % n, {"Nats-Msg-Id": f"{name}-{n}"}
            )
            for n in range(300)
        ]
        assert await acks.publish(wave) == bytes([ACKED] * 300)
        assert await acks.publish(wave[:50]) == bytes([DUPLICATE] * 50)
        info = await js.stream_info(stream.name)
        assert info.state.messages == 300
        with pytest.raises(AckRefused, match="no stream"):
            await acks.publish([Outgoing(f"nostream.{name}", b"{}", {"Nats-Msg-Id": "x"})])
        assert not acks._waves
    finally:
        await js.delete_stream(stream.name)
        await nc.close()
