"""Request/reply endpoints in the NATS micro-services protocol.

Discoverable with `$SRV.PING`, `$SRV.INFO` and `$SRV.STATS`. Every request names its
workspace in the `crm-workspace` header; a reply is JSON `{"data": ...}` or, on failure,
the protocol's error headers plus `{"error": {"code", "message"}}` in the body.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import orjson
from nats.aio.client import Client
from nats.micro import add_service
from nats.micro.request import Request
from nats.micro.service import Service

from crm_contracts.streams import RPC_HEADER_WORKSPACE

from .context import RequestContext, bind_request

log = logging.getLogger(__name__)

RpcHandler = Callable[[str, dict[str, Any]], Awaitable[Any]]


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


def _wrap(endpoint: Endpoint, service: str) -> Callable[[Request], Awaitable[None]]:
    async def handle(request: Request) -> None:
        workspace = (request.headers or {}).get(RPC_HEADER_WORKSPACE, "")
        try:
            if not workspace:
                raise RpcError("BAD_REQUEST", f"missing header {RPC_HEADER_WORKSPACE}")
            try:
                payload = orjson.loads(request.data) if request.data else {}
            except orjson.JSONDecodeError as error:
                raise RpcError("BAD_REQUEST", f"body is not JSON: {error}") from None
            if not isinstance(payload, dict):
                raise RpcError("BAD_REQUEST", "body must be a JSON object")
            bind_request(RequestContext(workspace, f"service:{service}", frozenset({"admin"})))
            data = await endpoint.handler(workspace, payload)
        except RpcError as error:
            body = orjson.dumps({"error": {"code": error.code, "message": error.message}})
            await request.respond_error(error.code, error.message, body)
            return
        except Exception:
            log.exception("rpc handler failed", extra={"fields": {"endpoint": endpoint.name}})
            body = orjson.dumps({"error": {"code": "INTERNAL", "message": "internal error"}})
            await request.respond_error("INTERNAL", "internal error", body)
            return
        finally:
            bind_request(None)
        await request.respond(orjson.dumps({"data": data}, default=str))

    return handle


async def start_rpc_service(
    nc: Client, *, service: str, version: str, description: str, endpoints: list[Endpoint]
) -> Service:
    micro = await add_service(
        nc,
        name=f"crm-{service}",
        version=version,
        description=description,
        queue_group=f"crm-{service}",
    )
    for endpoint in endpoints:
        await micro.add_endpoint(
            name=endpoint.name,
            subject=endpoint.subject,
            handler=_wrap(endpoint, service),
            metadata={"description": endpoint.description},
        )
    return micro


async def rpc_call(
    nc: Client, subject: str, workspace: str, payload: dict[str, Any], timeout: float = 2.0
) -> Any:
    """Client side: returns `data`, raises RpcError with the service's code on failure."""
    reply = await nc.request(
        subject, orjson.dumps(payload), timeout=timeout, headers={RPC_HEADER_WORKSPACE: workspace}
    )
    body = orjson.loads(reply.data) if reply.data else {}
    headers = reply.headers or {}
    if "Nats-Service-Error-Code" in headers or "error" in body:
        error = body.get("error") or {}
        raise RpcError(
            error.get("code") or headers.get("Nats-Service-Error-Code", "ERROR"),
            error.get("message") or headers.get("Nats-Service-Error", ""),
        )
    return body.get("data")
