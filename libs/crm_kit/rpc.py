"""Request/reply endpoints in the NATS micro-services protocol.

Discoverable with `$SRV.PING`, `$SRV.INFO` and `$SRV.STATS` (by the parties the NATS
permissions let ask). Every request carries an internal assertion (`crm_kit.assertions`)
in the `crm-assertion` header: signed by the calling party, for the audience
`rpc:<service>`, bound to the exact request body, naming the user (or the
`service:<name>` identity) the call acts for, its workspace and roles. The endpoint
accepts it only from the parties it lists (`callers`) and only for the roles it requires
(`roles`, GraphQL's rules: any role reads, rep/manager/admin write, admin administers), and
binds that context for the handler. A bare workspace header proves nothing and is refused.

A reply is JSON `{"data": ...}` or, on failure, the protocol's error headers plus
`{"error": {"code", "message"}}` in the body; codes: UNAUTHENTICATED, FORBIDDEN,
BAD_REQUEST, NOT_FOUND, CONFLICT, PRECONDITION_FAILED, STAGE_CHANGED (a deal no longer
where a move expected it), INTERNAL.
"""

from __future__ import annotations

import asyncio
import logging
import weakref
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import orjson
from nats.aio.client import Client
from nats.micro import add_service
from nats.micro.request import Request
from nats.micro.service import Service

from crm_contracts.access import PARTY_NAMES
from crm_contracts.streams import RPC_HEADER_ASSERTION

from . import telemetry
from .assertions import AssertionError_, KeyRing, VerifiedAssertion
from .audit import bind_channel
from .context import ROLES, WRITE_ROLES, RequestContext, bind_request

log = logging.getLogger(__name__)

RpcHandler = Callable[[RequestContext, dict[str, Any]], Awaitable[Any]]

# Who may call an endpoint, by role (the same rules as the GraphQL API).
READ = frozenset(ROLES)
WRITE = WRITE_ROLES
ADMIN = frozenset({"admin"})
# Parties whose assertions an endpoint accepts unless it says otherwise: the services and
# the operators' tools. (The gateway speaks GraphQL to the subgraphs, never NATS.)
INTERNAL_CALLERS = frozenset(name for name in PARTY_NAMES if name != "provisioner")


class RpcError(Exception):
    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


@dataclass(frozen=True)
class Endpoint:
    name: str
    subject: str
    handler: RpcHandler
    description: str
    # Any of these roles may call it (READ, WRITE or ADMIN).
    roles: frozenset[str] = field(kw_only=True)
    callers: frozenset[str] = field(default=INTERNAL_CALLERS, kw_only=True)
    # Requests this process answers at once. NATS hands a subscription's messages to its
    # handler one after another; a handler that waits on the database most of the time
    # (an import batch) leaves the process idle meanwhile, so an endpoint may take the
    # next request while one is under way. Its handler must be safe side by side (it is
    # anyway: replicas in the queue group answer requests at the same moment).
    concurrency: int = field(default=1, kw_only=True)


def rpc_audience(subject: str) -> str:
    """The audience of a request on `rpc.<service>.…`: `rpc:<service>`."""
    parts = subject.split(".")
    if len(parts) < 3 or parts[0] != "rpc":
        raise ValueError(f"not a request/reply subject: {subject!r}")
    return f"rpc:{parts[1]}"


def service_context(party: str, workspace: str, *roles: str) -> RequestContext:
    """The identity a party uses when it calls on its own behalf (a consumer, a scheduler,
    an importer): `service:<party>` with only the roles the call needs."""
    return RequestContext(workspace, f"service:{party}", frozenset(roles))


def authorise(keys: KeyRing, endpoint: Endpoint, token: str | None, body: bytes) -> RequestContext:
    """The caller's verified context, or RpcError (UNAUTHENTICATED / FORBIDDEN)."""
    return _verified(keys, endpoint, token, body).context


def _verified(
    keys: KeyRing, endpoint: Endpoint, token: str | None, body: bytes
) -> VerifiedAssertion:
    try:
        verified = keys.verify(
            token,
            audience=rpc_audience(endpoint.subject),
            issuers=endpoint.callers,
            body=body,
        )
    except AssertionError_ as error:
        raise RpcError("UNAUTHENTICATED", error.message) from None
    context = verified.context
    if not context.workspace_id:
        raise RpcError("UNAUTHENTICATED", "the assertion names no workspace")
    if not context.has_role(*endpoint.roles):
        raise RpcError(
            "FORBIDDEN", f"{endpoint.name} needs one of the roles {sorted(endpoint.roles)}"
        )
    return verified


# Requests answered beside the subscription's callback (`Endpoint.concurrency`), by the
# service they came through: its stop waits for them (`stop_rpc_service`).
_in_flight: weakref.WeakKeyDictionary[Service, set[asyncio.Task[None]]] = (
    weakref.WeakKeyDictionary()
)


def _wrap(
    endpoint: Endpoint, keys: KeyRing, in_flight: set[asyncio.Task[None]]
) -> Callable[[Request], Awaitable[None]]:
    async def handle(request: Request) -> None:
        # In the caller's trace (its `traceparent` header), as a server span.
        with telemetry.reply_span(endpoint.subject, request.headers or {}) as span:
            failed = await answer(request)
            if failed:
                telemetry.mark_failed(span, failed)

    async def answer(request: Request) -> str | None:
        """Answers the request; returns the error code it answered with, if any."""
        try:
            token = (request.headers or {}).get(RPC_HEADER_ASSERTION)
            verified = _verified(keys, endpoint, token, request.data or b"")
            context = verified.context
            try:
                payload = orjson.loads(request.data) if request.data else {}
            except orjson.JSONDecodeError as error:
                raise RpcError("BAD_REQUEST", f"body is not JSON: {error}") from None
            if not isinstance(payload, dict):
                raise RpcError("BAD_REQUEST", "body must be a JSON object")
            bind_request(context)
            # The changes it makes came by request/reply, from the calling party.
            bind_channel("nats", verified.issuer)
            data = await endpoint.handler(context, payload)
        except RpcError as error:
            body = orjson.dumps({"error": {"code": error.code, "message": error.message}})
            await request.respond_error(error.code, error.message, body)
            return error.code
        except Exception:
            log.exception("rpc handler failed", extra={"fields": {"endpoint": endpoint.name}})
            body = orjson.dumps({"error": {"code": "INTERNAL", "message": "internal error"}})
            await request.respond_error("INTERNAL", "internal error", body)
            return "INTERNAL"
        finally:
            bind_request(None)
            bind_channel(None)
        await request.respond(orjson.dumps({"data": data}, default=str))
        return None

    if endpoint.concurrency > 1:
        room = asyncio.Semaphore(endpoint.concurrency)

        async def handle_beside(request: Request) -> None:
            # The callback returns once the request is under way; with every place taken
            # it waits, so the subscription's next message waits too (NATS keeps it).
            await room.acquire()
            task = asyncio.create_task(handle(request), name=f"rpc-{endpoint.name}")
            in_flight.add(task)

            def done(finished: asyncio.Task[None]) -> None:
                in_flight.discard(finished)
                room.release()
                if not finished.cancelled() and finished.exception() is not None:
                    log.error("rpc handler crashed", exc_info=finished.exception())

            task.add_done_callback(done)

        return handle_beside

    return handle


async def start_rpc_service(
    nc: Client,
    *,
    service: str,
    version: str,
    description: str,
    endpoints: list[Endpoint],
    keys: KeyRing,
) -> Service:
    micro = await add_service(
        nc,
        name=f"crm-{service}",
        version=version,
        description=description,
        queue_group=f"crm-{service}",
    )
    in_flight: set[asyncio.Task[None]] = set()
    _in_flight[micro] = in_flight
    for endpoint in endpoints:
        await micro.add_endpoint(
            name=endpoint.name,
            subject=endpoint.subject,
            handler=_wrap(endpoint, keys, in_flight),
            metadata={
                "description": endpoint.description,
                "roles": ",".join(sorted(endpoint.roles)),
            },
        )
    return micro


async def stop_rpc_service(micro: Service, timeout: float = 30.0) -> None:
    """Stop taking requests, then let those under way beside their callbacks answer
    (bounded: past `timeout` they are cancelled, and their callers send them again)."""
    await micro.stop()
    pending = set(_in_flight.get(micro, ()))
    if pending:
        _, late = await asyncio.wait(pending, timeout=timeout)
        for task in late:
            task.cancel()
        if late:
            await asyncio.wait(late, timeout=5.0)


async def rpc_call(
    nc: Client,
    subject: str,
    context: RequestContext,
    payload: dict[str, Any],
    *,
    keys: KeyRing,
    timeout: float = 2.0,
) -> Any:
    """Client side: call `subject` as the party `keys` names, for `context` (the user the
    call acts for, or `service_context(...)`). Returns `data`; raises RpcError with the
    service's code on failure."""
    body = orjson.dumps(payload)
    token = keys.mint(audience=rpc_audience(subject), context=context, body=body)
    headers = {RPC_HEADER_ASSERTION: token}
    with telemetry.request_span(subject, headers):
        reply = await nc.request(subject, body, timeout=timeout, headers=headers)
    return _data(reply.data, reply.headers or {})


def _data(raw: bytes, headers: dict[str, str]) -> Any:
    body = orjson.loads(raw) if raw else {}
    if "Nats-Service-Error-Code" in headers or "error" in body:
        error = body.get("error") or {}
        raise RpcError(
            error.get("code") or headers.get("Nats-Service-Error-Code", "ERROR"),
            error.get("message") or headers.get("Nats-Service-Error", ""),
        )
    return body.get("data")
