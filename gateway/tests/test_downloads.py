"""Export downloads (crm_gateway/downloads.py): the file is asked of the import service
signed for the caller and bound to the export's id, streamed back with the service's
content type, length and file name; the service's refusals pass through, an id that is
no id never leaves the gateway."""

from __future__ import annotations

from pathlib import Path

import httpx
import orjson
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from crm_contracts import imports as contract
from crm_contracts.streams import RPC_HEADER_ASSERTION
from crm_gateway.downloads import Downloads
from crm_kit.assertions import KeyRing
from crm_kit.context import RequestContext

ANN = RequestContext("w1", "ann", frozenset({"rep"}))
EXPORT = "6751f0c2a1b2c3d4e5f60719"
FILE = b"\xef\xbb\xbfexternal_id,title\r\nD-1,Acme\r\n" * 1000


class FakeImports:
    """The import service's download door: checks what the gateway signed, serves ann's."""

    def __init__(self, gateway: KeyRing, trusts: Path) -> None:
        public = serialization.load_pem_public_key(gateway.public_key_pem())
        assert isinstance(public, Ed25519PublicKey)
        self.keys = KeyRing("imports", Ed25519PrivateKey.generate(), trusts, {"gateway": public})
        self.asked: list[tuple[str, RequestContext]] = []

    def handle(self, request: httpx.Request) -> httpx.Response:
        export_id = request.url.path.split("/")[2]
        verified = self.keys.verify(
            request.headers[RPC_HEADER_ASSERTION],
            audience=contract.DOWNLOAD_AUDIENCE,
            issuers=("gateway",),
            body=export_id.encode(),
        )
        self.asked.append((export_id, verified.context))
        if export_id != EXPORT or verified.context.subject != "ann":
            body = {"error": {"code": "NOT_FOUND", "message": "no such export"}}
            return httpx.Response(404, content=orjson.dumps(body))
        headers = {
            "content-type": "text/csv; charset=utf-8",
            "content-disposition": 'attachment; filename="deals-20260302-140500.csv"',
            "content-length": str(len(FILE)),
            "x-internal": "not passed on",
        }
        return httpx.Response(200, content=FILE, headers=headers)


@pytest.fixture
def door(tmp_path: Path) -> tuple[FakeImports, Downloads]:
    gateway = KeyRing("gateway", Ed25519PrivateKey.generate(), tmp_path)
    fake = FakeImports(gateway, tmp_path / "imports-trusts")
    transport = httpx.MockTransport(fake.handle)
    return fake, Downloads("http://imports.test", lambda: gateway, transport=transport)


async def body_of(response: object) -> bytes:
    parts = [part async for part in response.body_iterator]  # type: ignore[attr-defined]
    return b"".join(p if isinstance(p, bytes) else p.encode() for p in parts)


async def test_the_file_is_fetched_for_the_caller_and_streamed_back(
    door: tuple[FakeImports, Downloads],
) -> None:
    fake, downloads = door
    answer = await downloads.fetch(EXPORT, ANN)
    assert answer.status_code == 200
    assert answer.headers["content-type"] == "text/csv; charset=utf-8"
    assert answer.headers["content-disposition"] == (
        'attachment; filename="deals-20260302-140500.csv"'
    )
    assert "x-internal" not in answer.headers
    assert await body_of(answer) == FILE
    assert fake.asked == [(EXPORT, ANN)]
    await downloads.aclose()


async def test_refusals_pass_through_and_a_bad_id_goes_nowhere(
    door: tuple[FakeImports, Downloads],
) -> None:
    fake, downloads = door
    otto = RequestContext("w1", "otto", frozenset({"rep"}))
    refused = await downloads.fetch(EXPORT, otto)
    assert refused.status_code == 404
    assert orjson.loads(refused.body)["error"] == {"code": "NOT_FOUND", "message": "no such export"}
    for bad in ("..", "not-an-id", "6751f0c2a1b2c3d4e5f6071g"):
        assert (await downloads.fetch(bad, ANN)).status_code == 404
    assert [asked for asked, _ in fake.asked] == [EXPORT]
    await downloads.aclose()
