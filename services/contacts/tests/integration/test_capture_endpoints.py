"""The request/reply endpoints the capture service uses, on the real app (both database
profiles): contacts by addresses, companies by domains (on FerretDB through the domain
claims, companies written before them claimed once), and creating a contact as the
caller (who must be allowed to write)."""

from __future__ import annotations

from typing import Any

import pytest
from nats.aio.client import Client

from crm_contracts import contacts as contract
from crm_kit.assertions import KeyRing
from crm_kit.context import RequestContext
from crm_kit.rpc import RpcError, rpc_call, service_context

pytestmark = pytest.mark.integration


async def call(nc: Client, subject: str, workspace: str, body: dict, *roles: str) -> Any:
    caller = RequestContext(workspace, "rita", frozenset(roles or ("viewer",)))
    return await rpc_call(nc, subject, caller, body, keys=KeyRing.from_env("capture"))


async def test_find_by_emails_and_domains(running: Any, nc: Client) -> None:
    admin = running.client("w1")
    acme = await admin.data(
        'mutation { createCompany(input: {name: "Acme", domain: "acme.example"}) { id } }'
    )
    await admin.data(
        """mutation($c: ID!) { createContact(input: {firstName: "Ann", email: "ann@acme.example",
             emails: ["a.archer@acme.example"], companyId: $c}) { id } }""",
        {"c": acme["createCompany"]["id"]},
    )
    found = await call(
        nc, contract.RPC_CONTACT_FIND_BY_EMAILS, "w1",
        {"emails": ["A.Archer@acme.example", "nobody@acme.example"]},
    )  # fmt: skip
    assert list(found) == ["A.Archer@acme.example"]
    assert found["A.Archer@acme.example"]["email"] == "ann@acme.example"
    domains = await call(
        nc, contract.RPC_COMPANY_FIND_BY_DOMAINS, "w1", {"domains": ["acme.example", "x.example"]}
    )
    assert list(domains) == ["acme.example"] and domains["acme.example"]["name"] == "Acme"
    assert (
        await call(nc, contract.RPC_COMPANY_FIND_BY_DOMAINS, "w2", {"domains": ["acme.example"]})
        == {}
    )
    with pytest.raises(RpcError) as bad:
        await call(nc, contract.RPC_CONTACT_FIND_BY_EMAILS, "w1", {"emails": ["not an address"]})
    assert bad.value.code == "BAD_REQUEST"
    with pytest.raises(RpcError) as many:
        await call(nc, contract.RPC_COMPANY_FIND_BY_DOMAINS, "w1", {"domains": ["a.example"] * 101})
    assert many.value.code == "BAD_REQUEST"


async def test_create_a_contact_as_the_caller(running: Any, nc: Client) -> None:
    body = {"firstName": "Frank", "lastName": "Fuller", "email": "frank@hooli.example"}
    with pytest.raises(RpcError) as viewer:
        await call(nc, contract.RPC_CONTACT_CREATE, "w1", body)
    assert viewer.value.code == "FORBIDDEN"
    made = await call(nc, contract.RPC_CONTACT_CREATE, "w1", body, "rep")
    assert made["email"] == "frank@hooli.example" and made["firstName"] == "Frank"
    with pytest.raises(RpcError) as taken:
        await call(nc, contract.RPC_CONTACT_CREATE, "w1", body, "rep")
    assert taken.value.code == "CONFLICT"
    by_service = service_context("capture", "w1", "viewer")
    with pytest.raises(RpcError) as read_only:
        await rpc_call(
            nc, contract.RPC_CONTACT_CREATE, by_service, {**body, "email": "x@hooli.example"},
            keys=KeyRing.from_env("capture"),
        )  # fmt: skip
    assert read_only.value.code == "FORBIDDEN"
    created = await running.client("w1").data(
        "query($id: ID!) { contact(id: $id) { createdBy source } }", {"id": made["id"]}
    )
    assert created["contact"] == {"createdBy": "rita", "source": None}
