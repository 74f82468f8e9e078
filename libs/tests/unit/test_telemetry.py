"""Traces: which settings turn them on, what travels when they are off (log correlation at
no cost), and the spans the kit makes when they are on (in-memory exporter)."""

from __future__ import annotations

import logging
from collections.abc import Iterator

import orjson
import pytest
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind

from crm_contracts.envelope import new_event
from crm_kit import telemetry
from crm_kit.logs import JsonFormatter
from crm_kit.outbox import outbox_fields

INCOMING = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"


@pytest.mark.parametrize(
    ("env", "wanted"),
    [
        ({}, False),
        ({"OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:4318"}, True),
        ({"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "http://127.0.0.1:4318/v1/traces"}, True),
        ({"OTEL_TRACES_EXPORTER": "console"}, True),
        ({"OTEL_TRACES_EXPORTER": "none", "OTEL_EXPORTER_OTLP_ENDPOINT": "http://x"}, False),
        ({"OTEL_SDK_DISABLED": "true", "OTEL_TRACES_EXPORTER": "otlp"}, False),
    ],
)
def test_the_standard_variables_turn_tracing_on(env: dict[str, str], wanted: bool) -> None:
    assert telemetry.tracing_requested(env) is wanted


def test_an_unavailable_exporter_is_refused_with_the_reason() -> None:
    with pytest.raises(ValueError, match="grpc"):
        telemetry._exporters({"OTEL_EXPORTER_OTLP_PROTOCOL": "grpc"})
    with pytest.raises(ValueError, match="zipkin"):
        telemetry._exporters({"OTEL_TRACES_EXPORTER": "zipkin"})


def _log_line() -> dict[str, object]:
    record = logging.makeLogRecord({"name": "t", "levelno": 20, "levelname": "INFO", "msg": "m"})
    return orjson.loads(JsonFormatter().format(record))


def test_off_the_callers_trace_reaches_the_logs_and_the_outbox() -> None:
    assert not telemetry.active()
    with telemetry.continued({"traceparent": INCOMING}):
        assert _log_line()["trace_id"] == TRACE_ID
        stored = outbox_fields([_event()])["_outbox"][0]
        with telemetry.graphql_span("mutation", "MoveDeal"):
            headers: dict[str, str] = {}
            telemetry.inject(headers)
    # Nothing is recorded, so the context passes on unchanged.
    assert stored["traceparent"] == INCOMING
    assert headers["traceparent"] == INCOMING
    assert "trace_id" not in _log_line()


def test_off_the_edge_starts_an_unsampled_trace_when_the_caller_sent_none() -> None:
    with telemetry.continued({"traceparent": "garbage"}, edge=True):
        headers: dict[str, str] = {}
        telemetry.inject(headers)
        logged = _log_line()["trace_id"]
    version, trace_id, _span, flags = headers["traceparent"].split("-")
    assert (version, flags) == ("00", "00") and trace_id == logged and trace_id != "0" * 32


def test_off_a_relayed_event_carries_the_stored_trace_on() -> None:
    with telemetry.publish_span("crm.deals.deal.created.v1", "e1", INCOMING) as headers:
        pass
    assert headers["traceparent"] == INCOMING
    with telemetry.publish_span("crm.deals.deal.created.v1", "e1", "") as headers:
        pass
    assert "traceparent" not in headers
    # A stored context no span could continue is dropped, as the propagator drops it.
    for broken in ("garbage", f"00-{'0' * 32}-00f067aa0ba902b7-01", INCOMING.upper()):
        with telemetry.publish_span("crm.deals.deal.created.v1", "e1", broken) as headers:
            pass
        assert "traceparent" not in headers


@pytest.fixture
def spans() -> Iterator[InMemorySpanExporter]:
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    telemetry.activate(provider)
    try:
        yield exporter
    finally:
        telemetry.deactivate()


def test_on_an_event_is_created_published_and_processed_in_one_trace(spans) -> None:
    with telemetry.continued({"traceparent": INCOMING}):
        stored = outbox_fields([_event()])["_outbox"][0]
    with telemetry.publish_span(stored["subject"], stored["id"], stored["traceparent"]) as sent:
        pass
    with telemetry.process_span(
        stored["subject"], sent, consumer="tasks-playbooks", event_id=stored["id"], delivery=1
    ):
        assert _log_line()["trace_id"] == TRACE_ID
    create, publish, process = spans.get_finished_spans()
    assert {s.context.trace_id for s in (create, publish, process)} == {int(TRACE_ID, 16)}
    assert create.parent.span_id == 0x00F067AA0BA902B7
    assert publish.parent.span_id == create.context.span_id
    assert process.parent.span_id == publish.context.span_id
    assert (create.kind, publish.kind, process.kind) == (
        SpanKind.PRODUCER,
        SpanKind.PRODUCER,
        SpanKind.CONSUMER,
    )
    assert process.name == "process crm.deals.deal.created.v1"
    assert process.attributes["messaging.consumer.group.name"] == "tasks-playbooks"
    assert publish.attributes["messaging.message.id"] == stored["id"]


def _event():  # type: ignore[no-untyped-def]
    return new_event(
        event_type="crm.deals.deal.created.v1", source="crm/deals", workspace="w1", data={}
    )


def test_off_the_outbox_stores_what_a_no_op_span_would_pass_on() -> None:
    # The shortcut taken when tracing is off, against the propagator it stands in for.
    def injected() -> str:
        with telemetry._State.tracer.start_as_current_span("create x"):
            carrier: dict[str, str] = {}
            telemetry.inject(carrier)
        return carrier.get("traceparent", "")

    assert telemetry.outbox_traceparent("crm.x.y.created.v1", "e1") == injected() == ""
    for edge in (False, True):
        with telemetry.continued({"traceparent": INCOMING}, edge=edge):
            stored = telemetry.outbox_traceparent("crm.x.y.created.v1", "e1")
            assert stored == injected() and stored.split("-")[1] == TRACE_ID
    with telemetry.continued({}, edge=True):  # an unsampled trace started here
        stored = telemetry.outbox_traceparent("crm.x.y.created.v1", "e1")
        assert stored == injected() and stored.endswith("-00")
