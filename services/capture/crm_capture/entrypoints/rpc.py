"""NATS request/reply endpoints (micro protocol) for other services and the operators'
tools. Every request carries the caller's signed assertion (`crm_kit.rpc`) and acts as
the caller it names, in its workspace. Errors: UNAUTHENTICATED, FORBIDDEN, BAD_REQUEST,
INTERNAL."""

from __future__ import annotations

from typing import Any

from crm_contracts import capture as contract
from crm_kit.audit_rpc import admins_only, trail_endpoint
from crm_kit.context import RequestContext
from crm_kit.errors import BadUserInput, Forbidden
from crm_kit.rpc import WRITE, Endpoint, RpcError

from ..domain.matching import DirectoryUnavailable
from ..usecases import emails
from ..usecases.scope import Scopes


def endpoints(scopes: Scopes) -> list[Endpoint]:
    async def email_capture(caller: RequestContext, payload: dict[str, Any]) -> dict[str, Any]:
        raw = payload.get("raw")
        if not isinstance(raw, str) or not raw.strip():
            raise RpcError("BAD_REQUEST", "'raw' must be a message (RFC 5322 text)")
        try:
            outcome = await emails.capture_email(
                scopes(caller), raw.encode("utf-8", "surrogateescape"), "upload"
            )
        except BadUserInput as error:
            raise RpcError("BAD_REQUEST", f"{error.field}: {error.message}") from None
        except Forbidden as error:
            raise RpcError("FORBIDDEN", error.message) from None
        except DirectoryUnavailable:
            raise RpcError("INTERNAL", "the contacts service did not answer; retry") from None
        email = outcome.email
        return {
            "status": email.status.value,
            "duplicate": outcome.duplicate,
            "messageId": email.message_id,
            "interactionId": email.interaction_id,
            "contactIds": list(email.contact_ids),
            "companyId": email.company_id,
            "dealId": email.deal.id if email.deal else None,
            "suggestionIds": list(email.suggestion_ids),
        }

    return [
        trail_endpoint(contract.RPC_AUDIT_TRAIL, scopes, admins_only),
        Endpoint(
            "email-capture",
            contract.RPC_EMAIL_CAPTURE,
            email_capture,
            "Capture a message as the caller: {raw} -> {status, duplicate, messageId, "
            "interactionId, contactIds, companyId, dealId, suggestionIds}",
            roles=WRITE,
        ),
    ]
