"""Traces with OpenTelemetry: one trace from the gateway through the services, the outbox,
NATS and the consumers, exported by OTLP as the standard `OTEL_*` variables say.

Tracing is on in a process when `configure_tracing` (the entry points call it) finds an
exporter configured: `OTEL_TRACES_EXPORTER` (`otlp` or `console`) or an OTLP endpoint
(`OTEL_EXPORTER_OTLP_ENDPOINT` / `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`), and
`OTEL_SDK_DISABLED` is not true. The SDK reads the rest itself (`OTEL_SERVICE_NAME`,
`OTEL_RESOURCE_ATTRIBUTES`, `OTEL_TRACES_SAMPLER[_ARG]`, `OTEL_BSP_*`,
`OTEL_EXPORTER_OTLP_*`). Then the HTTP servers (ASGI), the gateway's subgraph client (httpx)
and MongoDB commands (PyMongo) are traced by the maintained instrumentations, and the kit
adds what has none: GraphQL operations, outbox writes, NATS publish/consume and
request/reply.

Tracing off (the default of `make run`): nothing is instrumented and the kit's spans come
from the API's no-op tracer, which only carries the current context on. The context still
travels (W3C `traceparent` in HTTP and NATS headers and in the outbox), so the JSON logs of
every service that took part in one request name the same trace id; the gateway starts one
when the client sent none.
"""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Iterable, Iterator, Mapping, MutableMapping
from contextlib import contextmanager
from typing import Any

from opentelemetry import context as otel_context
from opentelemetry import propagate, trace
from opentelemetry.context import Context
from opentelemetry.sdk.resources import SERVICE_NAME, Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, ConsoleSpanExporter, SpanExporter
from opentelemetry.sdk.trace.id_generator import RandomIdGenerator
from opentelemetry.trace import (
    NonRecordingSpan,
    SpanContext,
    SpanKind,
    Status,
    StatusCode,
    TraceFlags,
    Tracer,
)

log = logging.getLogger(__name__)

TRACER_NAME = "crm_kit"
_NO_OP = trace.NoOpTracer()
_IDS = RandomIdGenerator()
_TRUE = ("1", "true", "yes", "on")
# Paths probed every few seconds: a trace each would bury the ones worth reading.
UNTRACED_PATHS = "/health,/ready,/metrics"


class _State:
    provider: TracerProvider | None = None
    tracer: Tracer = _NO_OP


def tracing_requested(env: Mapping[str, str] | None = None) -> bool:
    """Whether the `OTEL_*` variables ask for traces to be exported."""
    env = os.environ if env is None else env
    if env.get("OTEL_SDK_DISABLED", "").strip().lower() in _TRUE:
        return False
    exporter = env.get("OTEL_TRACES_EXPORTER", "").strip().lower()
    if exporter:
        return exporter != "none"
    return bool(
        env.get("OTEL_EXPORTER_OTLP_ENDPOINT") or env.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")
    )


def _exporters(env: Mapping[str, str]) -> list[SpanExporter]:
    names = [n.strip().lower() for n in (env.get("OTEL_TRACES_EXPORTER") or "otlp").split(",")]
    exporters: list[SpanExporter] = []
    for name in names:
        if name == "console":
            exporters.append(ConsoleSpanExporter())
        elif name == "otlp":
            protocol = (
                env.get("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL")
                or env.get("OTEL_EXPORTER_OTLP_PROTOCOL")
                or "http/protobuf"
            )
            if protocol != "http/protobuf":
                raise ValueError(
                    f"OTLP protocol {protocol!r} is not installed; use http/protobuf "
                    "(a collector's port 4318)"
                )
            from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

            exporters.append(OTLPSpanExporter())
        elif name != "none":
            raise ValueError(f"OTEL_TRACES_EXPORTER: unknown exporter {name!r} (otlp, console)")
    return exporters


def configure_tracing(service: str, env: Mapping[str, str] | None = None) -> bool:
    """At a process's start (`python -m crm_<svc>`, the gateway): export traces if the
    environment asks for it. Returns whether tracing is on."""
    env = os.environ if env is None else env
    if not tracing_requested(env):
        return False
    attributes = {} if env.get("OTEL_SERVICE_NAME") else {SERVICE_NAME: f"crm-{service}"}
    provider = TracerProvider(resource=Resource.create(attributes))
    for exporter in _exporters(env):
        provider.add_span_processor(BatchSpanProcessor(exporter))
    trace.set_tracer_provider(provider)
    activate(provider)
    log.info("tracing on", extra={"fields": {"exporter": env.get("OTEL_TRACES_EXPORTER", "otlp")}})
    return True


def activate(provider: TracerProvider) -> None:
    """Trace with `provider` from now on: apps and clients built after this are
    instrumented (tests pass one with an in-memory exporter)."""
    from opentelemetry.instrumentation.pymongo import PymongoInstrumentor

    # The gateway's readiness probes of the subgraphs are not worth a trace each.
    os.environ.setdefault("OTEL_PYTHON_HTTPX_EXCLUDED_URLS", "/ready$")
    _State.provider = provider
    _State.tracer = provider.get_tracer(TRACER_NAME)
    # A global command listener: MongoDB clients created from now on report to it.
    PymongoInstrumentor().instrument(tracer_provider=provider)


def deactivate() -> None:
    from opentelemetry.instrumentation.pymongo import PymongoInstrumentor

    if _State.provider is not None:
        PymongoInstrumentor().uninstrument()
    _State.provider = None
    _State.tracer = _NO_OP


def active() -> bool:
    return _State.provider is not None


def tracer() -> Tracer:
    """The kit's tracer: the SDK's when tracing is on, else the no-op one (which carries
    the current context on and records nothing)."""
    return _State.tracer


# --- HTTP ---------------------------------------------------------------------------------


def instrument_app(app: Any, routes: Iterable[str] = ()) -> None:
    """Trace every request to a Starlette `app` (server spans named `METHOD /route`), when
    tracing is on. Call before the app serves."""
    if _State.provider is None or getattr(app, "_crm_traced", False):
        return
    from opentelemetry.instrumentation.asgi import OpenTelemetryMiddleware

    known = frozenset(routes)

    def span_details(scope: dict[str, Any]) -> tuple[str, dict[str, Any]]:
        method = scope.get("method", "")
        path = scope.get("path", "")
        # Unknown paths are named by method alone: span names must stay a small set.
        if path in known:
            return f"{method} {path}", {"http.route": path}
        return method, {}

    app.add_middleware(
        OpenTelemetryMiddleware,
        excluded_urls=UNTRACED_PATHS,
        default_span_details=span_details,
        tracer_provider=_State.provider,
        # One span per request, not three (the ASGI receive/send events are noise here).
        exclude_spans=["receive", "send"],
    )
    app._crm_traced = True


def instrument_http_client(client: Any) -> None:
    """Trace the requests of an `httpx.AsyncClient` (client spans; `traceparent` injected)
    when tracing is on."""
    if _State.provider is None:
        return
    from opentelemetry.instrumentation.httpx import HTTPXClientInstrumentor

    transport = getattr(client, "_transport", None)
    if getattr(transport, "_crm_traced", False):
        return  # a transport shared by several clients (tests): wrap it once
    HTTPXClientInstrumentor.instrument_client(client, tracer_provider=_State.provider)
    if transport is not None:
        transport._crm_traced = True


def edge_context(headers: Mapping[str, str]) -> Context:
    """The context of a request arriving at the platform's edge: the caller's trace if it
    sent one, else a new trace id (not sampled) so the logs of everything the request
    causes still share one id when tracing is off."""
    incoming = propagate.extract(headers)
    if trace.get_current_span(incoming).get_span_context().is_valid:
        return incoming
    root = SpanContext(
        trace_id=_IDS.generate_trace_id(),
        span_id=_IDS.generate_span_id(),
        is_remote=False,
        trace_flags=TraceFlags(TraceFlags.DEFAULT),
    )
    return trace.set_span_in_context(NonRecordingSpan(root), incoming)


@contextmanager
def continued(headers: Mapping[str, str], *, edge: bool = False) -> Iterator[None]:
    """Run inside the caller's trace when no server span is current yet (tracing off: the
    ASGI middleware, which would have started one, is not installed)."""
    if trace.get_current_span().get_span_context().is_valid:
        yield
        return
    ctx = edge_context(headers) if edge else propagate.extract(headers)
    token = otel_context.attach(ctx)
    try:
        yield
    finally:
        otel_context.detach(token)


def inject(headers: MutableMapping[str, str], ctx: Context | None = None) -> None:
    """Write the current (or `ctx`'s) trace context into outgoing headers."""
    propagate.inject(headers, context=ctx)


def current_ids() -> tuple[str, str] | None:
    """(trace id, span id) in hex of the current span, for log lines."""
    span_context = trace.get_current_span().get_span_context()
    if not span_context.is_valid:
        return None
    return trace.format_trace_id(span_context.trace_id), trace.format_span_id(span_context.span_id)


# --- GraphQL ------------------------------------------------------------------------------


@contextmanager
def graphql_span(operation_type: str, operation_name: str | None) -> Iterator[trace.Span]:
    """A span per GraphQL operation, named `<type> <name>` as the semantic conventions
    say (no resolver spans: a list of 200 deals would make thousands)."""
    if _State.provider is None:
        # Tracing off: the no-op tracer would record nothing and carry the current context
        # on unchanged, so the current span stands in (at a tenth of the CPU).
        yield trace.get_current_span()
        return
    name = f"{operation_type} {operation_name}" if operation_name else operation_type
    attributes = {"graphql.operation.type": operation_type}
    if operation_name:
        attributes["graphql.operation.name"] = operation_name
    with _State.tracer.start_as_current_span(name, attributes=attributes) as span:
        yield span


def mark_failed(span: trace.Span, description: str) -> None:
    if span.is_recording():
        span.set_status(Status(StatusCode.ERROR, description))


# --- messaging ----------------------------------------------------------------------------

MESSAGING_SYSTEM = "nats"


def _messaging(subject: str, operation: str, **extra: Any) -> dict[str, Any]:
    attributes = {
        "messaging.system": MESSAGING_SYSTEM,
        "messaging.destination.name": subject,
        "messaging.operation.type": operation,
        "messaging.operation.name": operation,
    }
    attributes.update({k: v for k, v in extra.items() if v is not None})
    return attributes


def outbox_traceparent(subject: str, event_id: str) -> str:
    """At the write that stores an event in the outbox: a `create` span for it (within the
    request or handler that caused it), whose `traceparent` the outbox keeps so that the
    relay's publish, whenever it happens, continues the same trace. Off, no span is made:
    the caller's context passes on unchanged, as a no-op span's would, without the ~30 µs
    of one (an import's batch writes a thousand events)."""
    if not active():
        return _current_traceparent()
    attributes = _messaging(subject, "create", **{"messaging.message.id": event_id})
    with _State.tracer.start_as_current_span(
        f"create {subject}", kind=SpanKind.PRODUCER, attributes=attributes
    ):
        carrier: dict[str, str] = {}
        propagate.inject(carrier)
    return carrier.get("traceparent", "")


# A W3C `traceparent` a span could continue (version 00, ids not all zero).
_TRACEPARENT = re.compile(r"00-(?!0{32})[0-9a-f]{32}-(?!0{16})[0-9a-f]{16}-[0-9a-f]{2}")


def _current_traceparent() -> str:
    """The current span's context as a W3C `traceparent` ("" when there is none)."""
    context = trace.get_current_span().get_span_context()
    if not context.is_valid:
        return ""
    return f"00-{context.trace_id:032x}-{context.span_id:016x}-{int(context.trace_flags):02x}"


@contextmanager
def publish_span(subject: str, event_id: str, traceparent: str) -> Iterator[dict[str, str]]:
    """The relay's publish of a stored event, a child of its `create` span; yields the
    headers carrying this span's context to the consumers. Off, no span is made: the
    stored context passes on as it is, as a no-op span's would, without the ~40 µs of one
    (a 100,000-deal import publishes twice that many events)."""
    if not active():
        yield {"traceparent": traceparent} if _TRACEPARENT.fullmatch(traceparent) else {}
        return
    parent = propagate.extract({"traceparent": traceparent}) if traceparent else Context()
    attributes = _messaging(subject, "publish", **{"messaging.message.id": event_id})
    with _State.tracer.start_as_current_span(
        f"publish {subject}", context=parent, kind=SpanKind.PRODUCER, attributes=attributes
    ):
        headers: dict[str, str] = {}
        propagate.inject(headers)
        yield headers


@contextmanager
def process_span(
    subject: str, headers: Mapping[str, str], *, consumer: str, event_id: str, delivery: int
) -> Iterator[trace.Span]:
    """A consumer's handling of one delivery, a child of the publish that sent it."""
    attributes = _messaging(
        subject,
        "process",
        **{
            "messaging.consumer.group.name": consumer,
            "messaging.message.id": event_id,
            "messaging.nats.delivery_count": delivery,
        },
    )
    with _remote_child(f"process {subject}", headers, SpanKind.CONSUMER, attributes) as span:
        yield span


@contextmanager
def batch_process_span(
    subject: str, headers: list[Mapping[str, str]], *, consumer: str, event_ids: list[str]
) -> Iterator[trace.Span]:
    """A consumer's handling of several deliveries together (`headers`: each one's, in
    order): a child of the first one's publish (a batch of one continues its trace as
    `process_span` does), linked to every one's."""
    attributes = _messaging(
        subject,
        "process",
        **{
            "messaging.consumer.group.name": consumer,
            "messaging.message.id": event_ids[0] if len(event_ids) == 1 else None,
            "messaging.batch.message_count": len(event_ids),
        },
    )
    links = [
        trace.Link(found)
        for carried in headers
        if (found := trace.get_current_span(propagate.extract(carried)).get_span_context()).is_valid
    ]
    with _State.tracer.start_as_current_span(
        f"process {subject}",
        context=propagate.extract(headers[0]),
        kind=SpanKind.CONSUMER,
        attributes=attributes,
        links=links,
    ) as span:
        yield span


@contextmanager
def _remote_child(
    name: str, headers: Mapping[str, str], kind: SpanKind, attributes: dict[str, Any]
) -> Iterator[trace.Span]:
    """A span continuing the trace whose context arrived in `headers`."""
    with _State.tracer.start_as_current_span(
        name, context=propagate.extract(headers), kind=kind, attributes=attributes
    ) as span:
        yield span


@contextmanager
def request_span(subject: str, headers: MutableMapping[str, str]) -> Iterator[trace.Span]:
    """The client side of a NATS request; the context goes out in `headers`."""
    attributes = _messaging(subject, "send")
    with _State.tracer.start_as_current_span(
        f"send {subject}", kind=SpanKind.CLIENT, attributes=attributes
    ) as span:
        propagate.inject(headers)
        yield span


@contextmanager
def reply_span(subject: str, headers: Mapping[str, str]) -> Iterator[trace.Span]:
    """The server side of a NATS request, a child of the caller's span."""
    attributes = _messaging(subject, "process")
    with _remote_child(f"process {subject}", headers, SpanKind.SERVER, attributes) as span:
        yield span
