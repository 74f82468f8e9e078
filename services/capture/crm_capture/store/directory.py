"""The directory port over NATS request/reply: the contacts service answers for contacts
and companies, the deals service for open deals. Each request is signed as the capture
party for the caller it is given (`crm_kit.rpc`): the user a capture acts for, or
`service:capture` with only the roles the call needs. Capture never reads those services'
databases."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any

from crm_contracts import contacts, deals
from crm_kit.context import RequestContext
from crm_kit.errors import BadUserInput, Forbidden, NotFound
from crm_kit.rpc import RpcError
from crm_kit.rpc_client import PeerUnavailable, RpcClient

from ..domain.matching import DealLink, KnownCompany, KnownContact
from .port import ContactExists, DirectoryUnavailable

# Keys per request (the contacts endpoints accept 100).
CHUNK = 100
# Contacts whose deals are asked for one capture (each is a request).
MAX_DEAL_LOOKUPS = 10


def _contact(email: str, snapshot: dict[str, Any]) -> KnownContact:
    return KnownContact(
        id=snapshot["id"],
        email=email,
        company_id=snapshot.get("companyId"),
        owner_id=snapshot.get("ownerId"),
    )


def _deal(snapshot: dict[str, Any]) -> DealLink:
    return DealLink(
        id=snapshot["id"],
        title=snapshot.get("title"),
        stage_key=snapshot.get("stageKey"),
        status=snapshot.get("status"),
        owner_id=snapshot.get("ownerId"),
        pipeline_id=snapshot.get("pipelineId"),
    )


def _unavailable(subject: str, why: str) -> str:
    return f"the {subject.split('.')[1]} service did not answer ({why}); try again"


class NatsDirectory:
    def __init__(self, rpc: RpcClient) -> None:
        self._rpc = rpc

    async def _call(self, subject: str, caller: RequestContext, body: dict[str, Any]) -> Any:
        try:
            return await self._rpc.call(subject, caller, body)
        except RpcError as error:
            if error.code == "CONFLICT":
                raise ContactExists(error.message) from None
            if error.code == "FORBIDDEN":
                raise Forbidden(error.message) from None
            if error.code == "BAD_REQUEST":
                raise BadUserInput(error.message) from None
            if error.code == "NOT_FOUND":
                raise NotFound(error.message) from None
            raise DirectoryUnavailable(_unavailable(subject, error.code)) from None
        except PeerUnavailable as error:
            raise DirectoryUnavailable(_unavailable(subject, error.why)) from None

    async def contacts_by_emails(
        self, caller: RequestContext, emails: Sequence[str]
    ) -> dict[str, KnownContact]:
        found: dict[str, KnownContact] = {}
        wanted = list(dict.fromkeys(emails))
        for start in range(0, len(wanted), CHUNK):
            body = {"emails": wanted[start : start + CHUNK]}
            data = await self._call(contacts.RPC_CONTACT_FIND_BY_EMAILS, caller, body)
            found.update({email: _contact(email, snap) for email, snap in (data or {}).items()})
        return found

    async def companies_by_domains(
        self, caller: RequestContext, domains: Sequence[str]
    ) -> dict[str, KnownCompany]:
        found: dict[str, KnownCompany] = {}
        wanted = list(dict.fromkeys(domains))
        for start in range(0, len(wanted), CHUNK):
            body = {"domains": wanted[start : start + CHUNK]}
            data = await self._call(contacts.RPC_COMPANY_FIND_BY_DOMAINS, caller, body)
            for domain, snap in (data or {}).items():
                found[domain] = KnownCompany(snap["id"], domain, snap.get("name"))
        return found

    async def create_contact(
        self,
        caller: RequestContext,
        *,
        email: str,
        first_name: str,
        last_name: str | None,
        company_id: str | None,
    ) -> KnownContact:
        body = {
            "firstName": first_name,
            "lastName": last_name,
            "email": email,
            "companyId": company_id,
            "source": "capture",
        }
        snapshot = await self._call(contacts.RPC_CONTACT_CREATE, caller, body)
        return _contact(email, snapshot)

    async def open_deals(
        self, caller: RequestContext, contact_ids: Sequence[str], company_id: str | None
    ) -> list[DealLink]:
        asks = [
            (deals.RPC_DEALS_BY_CONTACT, {"contactId": contact_id, "status": "open"})
            for contact_id in list(dict.fromkeys(contact_ids))[:MAX_DEAL_LOOKUPS]
        ]
        if company_id:
            asks.append((deals.RPC_DEALS_BY_COMPANY, {"companyId": company_id, "status": "open"}))
        replies = await asyncio.gather(
            *(self._call(subject, caller, body) for subject, body in asks),
            return_exceptions=True,
        )
        found: dict[str, DealLink] = {}
        for reply in replies:
            if isinstance(reply, BaseException):
                if isinstance(reply, DirectoryUnavailable | NotFound | BadUserInput):
                    continue  # no deal link then; the capture goes on
                raise reply
            for snapshot in (reply or {}).get("deals", []):
                if snapshot.get("status") == "open":
                    found.setdefault(snapshot["id"], _deal(snapshot))
        return list(found.values())
