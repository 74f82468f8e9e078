"""GraphQL multipart requests (crm_gateway/uploads.py): each file goes to the import
service signed for the caller and bound to its size and SHA-256, its upload id takes the
file's place in the variables, and what breaks the spec or the limit is refused before
anything is forwarded."""

from __future__ import annotations

import base64
import hashlib
from pathlib import Path

import httpx
import orjson
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from crm_contracts import imports as contract
from crm_contracts.streams import RPC_HEADER_ASSERTION
from crm_gateway.uploads import MAX_BODY_BYTES, Uploads
from crm_kit.assertions import KeyRing
from crm_kit.context import RequestContext
from crm_kit.graphql_request import RequestError

CALLER = RequestContext("w1", "ann", frozenset({"admin"}))


class FakeImports:
    """The import service's upload door: checks what the gateway signed, keeps the body."""

    def __init__(self, gateway: KeyRing, trusts: Path) -> None:
        public = serialization.load_pem_public_key(gateway.public_key_pem())
        assert isinstance(public, Ed25519PublicKey)
        self.keys = KeyRing("imports", Ed25519PrivateKey.generate(), trusts, {"gateway": public})
        self.stored: list[tuple[RequestContext, contract.UploadManifest, bytes]] = []

    def handle(self, request: httpx.Request) -> httpx.Response:
        raw = request.headers[contract.UPLOAD_MANIFEST_HEADER]
        signed = base64.urlsafe_b64decode(raw + "=" * (-len(raw) % 4))
        verified = self.keys.verify(
            request.headers[RPC_HEADER_ASSERTION],
            audience=contract.UPLOAD_AUDIENCE,
            issuers=("gateway",),
            body=signed,
        )
        manifest = contract.UploadManifest.model_validate_json(signed)
        body = request.read()
        assert len(body) == manifest.size and hashlib.sha256(body).hexdigest() == manifest.sha256
        self.stored.append((verified.context, manifest, body))
        return httpx.Response(201, json={"uploadId": f"up{len(self.stored)}"})


@pytest.fixture
def imports(tmp_path: Path) -> tuple[FakeImports, Uploads]:
    gateway = KeyRing("gateway", Ed25519PrivateKey.generate(), tmp_path)
    fake = FakeImports(gateway, tmp_path / "imports-trusts")
    uploads = Uploads(
        "http://imports.test", lambda: gateway, transport=httpx.MockTransport(fake.handle)
    )
    return fake, uploads


def app_for(uploads: Uploads) -> Starlette:
    async def graphql(request: Request) -> JSONResponse:
        try:
            gql = await uploads.read(request, CALLER)
        except RequestError as error:
            return JSONResponse({"errors": [error.error()]}, status_code=error.status)
        return JSONResponse({"query": gql.query, "variables": gql.variables})

    return Starlette(routes=[Route("/graphql", graphql, methods=["POST"])])


def client(uploads: Uploads) -> httpx.AsyncClient:
    return httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app_for(uploads)), base_url="http://gateway.test"
    )


QUERY = "mutation($f: Upload!, $more: [Upload]) { createImport(file: $f) { id } }"


def parts(variables: dict[str, object], mapping: dict[str, list[str]]) -> dict[str, str]:
    return {
        "operations": orjson.dumps({"query": QUERY, "variables": variables}).decode(),
        "map": orjson.dumps(mapping).decode(),
    }


async def test_files_are_stored_and_their_ids_put_in_the_variables(
    imports: tuple[FakeImports, Uploads],
) -> None:
    fake, uploads = imports
    big = b"Name;Domain\r\n" + b"Acme;acme.example\r\n" * 200_000  # spooled to disk
    async with client(uploads) as http:
        answer = await http.post(
            "/graphql",
            data=parts(
                {"f": None, "more": [None, None]},
                {"0": ["variables.f"], "1": ["variables.more.0", "variables.more.1"]},
            ),
            files={"0": ("big.csv", big, "text/csv"), "1": ("b.xlsx", b"PK\x03\x04", None)},
        )
    assert answer.status_code == 200, answer.text
    assert answer.json()["variables"] == {"f": "up1", "more": ["up2", "up2"]}
    (who, manifest, body), second = fake.stored[0], fake.stored[1]
    assert who == CALLER and body == big and manifest.file_name == "big.csv"
    assert second[1].file_name == "b.xlsx" and second[2] == b"PK\x03\x04"


@pytest.mark.parametrize(
    ("variables", "mapping", "field"),
    [
        ({"f": None}, {"0": ["query"]}, "map"),
        ({"f": None}, {"0": ["variables.g"]}, "map"),
        ({"f": "already"}, {"0": ["variables.f"]}, "map"),
        ({"f": None}, {"9": ["variables.f"]}, "map"),
        ({"f": None}, {"0": "variables.f"}, "map"),
    ],
)
async def test_requests_outside_the_spec_are_refused_before_forwarding(
    imports: tuple[FakeImports, Uploads],
    variables: dict[str, object],
    mapping: dict[str, object],
    field: str,
) -> None:
    fake, uploads = imports
    async with client(uploads) as http:
        answer = await http.post(
            "/graphql",
            data=parts(variables, mapping),  # type: ignore[arg-type]
            files={"0": ("a.csv", b"Name\nAcme\n", "text/csv")},
        )
    assert answer.status_code == 400
    assert answer.json()["errors"][0]["extensions"]["field"] == field
    assert fake.stored == []


async def test_missing_parts_and_the_size_limit(imports: tuple[FakeImports, Uploads]) -> None:
    fake, uploads = imports
    async with client(uploads) as http:
        no_operations = await http.post(
            "/graphql", data={"map": "{}"}, files={"0": ("a.csv", b"x", "text/csv")}
        )
        assert no_operations.json()["errors"][0]["extensions"]["field"] == "operations"
        too_large = await http.post(
            "/graphql",
            content=b"--x--\r\n",
            headers={
                "content-type": "multipart/form-data; boundary=x",
                "content-length": str(MAX_BODY_BYTES + 1),
            },
        )
        assert too_large.status_code == 413
    assert fake.stored == []


async def test_without_an_imports_subgraph_no_file_is_taken() -> None:
    uploads = Uploads.for_gateway({"contacts": "http://c.test/graphql"}, lambda: None)  # type: ignore[arg-type,return-value]
    async with client(uploads) as http:
        answer = await http.post(
            "/graphql",
            data=parts({"f": None}, {"0": ["variables.f"]}),
            files={"0": ("a.csv", b"x", "text/csv")},
        )
    assert answer.status_code == 400
