"""One operation over a streaming transport (WebSocket or SSE): a subscription federated
across subgraphs, or a query or mutation answered once.

For a subscription: the operation passes the gateway's checks (`Gateway.admit`: limits,
cost, plan), its plan is split (`plan.split`), the root field's stream is opened at its
subgraph (`source.ResumingSource`, signed for the caller), and each event is completed
with the rest of the plan (entity fetches, batched per subgraph) and shaped for the client,
one event at a time, in order.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from typing import Any

import jwt
from graphql import OperationType

from crm_gateway.executor import ExecutionState, subgraph_error
from crm_gateway.gateway import Admitted, Gateway, GatewayRequest, GatewayResponse
from crm_gateway.identity import CALLER
from crm_gateway.planning.errors import PlanningError
from crm_gateway.subscriptions.plan import LivePlan, split
from crm_gateway.subscriptions.registry import LiveRegistry
from crm_gateway.subscriptions.source import ResumingSource, SourceEnded, SourceSettings
from crm_kit.context import RequestContext

Result = dict[str, Any]


def token_expiry(token: str) -> float | None:
    """The `exp` of a token the verifier has already accepted (None if it has none)."""
    try:
        claims = jwt.decode(token, options={"verify_signature": False})
    except jwt.PyJWTError:
        return None
    exp = claims.get("exp")
    return float(exp) if isinstance(exp, (int, float)) else None


def caller_key(caller: RequestContext | None) -> str:
    return f"{caller.workspace_id}\x00{caller.subject}" if caller is not None else "anonymous"


class Operation:
    """What a streaming transport runs: `results()` yields the client's payloads."""

    subscription = False

    async def results(self) -> AsyncIterator[Result]:
        raise NotImplementedError
        yield {}


class Answered(Operation):
    """A query or mutation: its one response."""

    def __init__(self, gateway: Gateway, req: GatewayRequest) -> None:
        self._gateway = gateway
        self._req = req

    async def results(self) -> AsyncIterator[Result]:
        response = await self._gateway.execute(self._req)
        yield response.body


class Subscription(Operation):
    subscription = True

    def __init__(
        self,
        gateway: Gateway,
        req: GatewayRequest,
        admitted: Admitted,
        live: LivePlan,
        registry: LiveRegistry,
    ) -> None:
        self._gateway = gateway
        self._req = req
        self._admitted = admitted
        self._live = live
        self._registry = registry
        self.source: ResumingSource | None = None

    def _sign(self, subgraph: str, body: bytes) -> dict[str, str]:
        signer = self._gateway.client.signer
        caller = self._req.caller
        if signer is None or caller is None:
            return {}
        ttl = self._registry.settings.subscription_assertion_seconds
        return signer.for_subscription(subgraph, body, caller, ttl)

    async def results(self) -> AsyncIterator[Result]:
        fetch = self._live.source
        settings = self._registry.settings
        variables = self._admitted.send_vars
        self.source = ResumingSource(
            url=self._gateway.client.urls[fetch.service],
            service=fetch.service_name,
            operation=fetch.operation,
            variables={v: variables[v] for v in fetch.variable_names if v in variables},
            headers={k: v for k, v in self._req.headers.items() if k != "idempotency-key"},
            sign=lambda body: self._sign(fetch.service_name, body),
            settings=SourceSettings(
                connect_timeout=self._gateway.client.connect_timeout,
                resume_seconds=settings.subscription_resume_seconds,
                idle_timeout=settings.subscription_upstream_idle_seconds,
            ),
            on_open=self._registry.upstream,
        )
        try:
            async for payload in self.source.results():
                yield await self._complete(payload)
        except SourceEnded as ended:
            yield {"errors": ended.errors}

    async def _complete(self, payload: dict[str, Any]) -> Result:
        """One event: the rest of the plan over what the subgraph sent, then shaped."""
        service = self._live.source.service_name
        errors = [subgraph_error(e, service, None) for e in payload.get("errors") or ()]
        data = payload.get("data")
        if not isinstance(data, dict):
            return {"data": None, "errors": errors}
        state = ExecutionState(
            self._admitted.send_vars, self._req.headers, data=data, errors=errors
        )
        if self._live.rest is not None:
            bound = CALLER.set(self._req.caller)
            try:
                await self._gateway.executor.run(self._live.rest, state)
            finally:
                CALLER.reset(bound)
        shaped = self._admitted.shape(state.data, state.errors)
        result: Result = {"data": shaped}
        if state.errors:
            result["errors"] = state.errors
        return result


def prepare(
    gateway: Gateway, req: GatewayRequest, registry: LiveRegistry
) -> Operation | GatewayResponse:
    """The operation to run, or the response refusing it (its checks failed)."""
    admitted = gateway.admit(req)
    if isinstance(admitted, GatewayResponse):
        return admitted
    if admitted.op.operation.operation != OperationType.SUBSCRIPTION:
        return Answered(gateway, req)
    try:
        live = split(admitted.plan)
    except PlanningError as error:
        body = {"errors": [_planning_error(str(error))]}
        return GatewayResponse(body, 200, admitted.op_type)
    return Subscription(gateway, req, admitted, live, registry)


def _planning_error(message: str) -> dict[str, Any]:
    return {
        "message": f"Cannot plan subscription: {message}",
        "extensions": {"code": "QUERY_PLANNING_FAILED"},
    }


def seconds_left(expires_at: float | None) -> float | None:
    return None if expires_at is None else expires_at - time.time()


async def until_expiry(
    results: AsyncIterator[Result], expires_at: float | None
) -> AsyncIterator[Result]:
    """`results` until the caller's token expires, then the UNAUTHENTICATED error (last)."""
    iterator = aiter(results)
    try:
        while True:
            left = seconds_left(expires_at)
            try:
                if left is None:
                    result = await anext(iterator)
                elif left <= 0:
                    raise TimeoutError
                else:
                    result = await asyncio.wait_for(anext(iterator), left)
            except StopAsyncIteration:
                return
            except TimeoutError:
                yield {"errors": [expired_error()]}
                return
            yield result
    finally:
        closer = getattr(iterator, "aclose", None)
        if closer is not None:
            await closer()


def expired_error() -> dict[str, Any]:
    return {
        "message": "The token expired; subscribe again with a fresh one.",
        "extensions": {"code": "UNAUTHENTICATED"},
    }
