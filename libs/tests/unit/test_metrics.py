"""The metrics kit: bounded operation labels, values read at scrape time, the endpoint on a
port of its own (and a busy port does not stop the part)."""

from __future__ import annotations

import socket
import urllib.request
from collections.abc import Iterable

import pytest
from prometheus_client import REGISTRY

from crm_kit import metrics
from crm_kit.devstack import free_port


def test_operation_names_are_capped_and_bounded_in_length() -> None:
    names = metrics.OperationNames(limit=2, max_length=10)
    assert [names.label(n) for n in ("A", "B", "C", "A", None, "x" * 11)] == [
        "A",
        "B",
        metrics.OTHER,
        "A",
        metrics.ANONYMOUS,
        metrics.OTHER,
    ]


class Part:
    def __init__(self, value: float) -> None:
        self.value = value

    def metric_readings(self) -> Iterable[metrics.Reading]:
        yield ("crm_test_reading", "A test reading.", {"part": "p1"}, self.value)


class Broken:
    def metric_readings(self) -> Iterable[metrics.Reading]:
        raise RuntimeError("cannot tell")


def test_tracked_parts_are_read_at_each_scrape_and_forgotten_when_gone() -> None:
    part, broken = Part(3.0), Broken()
    metrics.track(part)
    metrics.track(broken)  # a failing part does not fail the scrape
    assert REGISTRY.get_sample_value("crm_test_reading", {"part": "p1"}) == 3.0
    part.value = 5.0
    assert REGISTRY.get_sample_value("crm_test_reading", {"part": "p1"}) == 5.0
    metrics.untrack(part)
    assert REGISTRY.get_sample_value("crm_test_reading", {"part": "p1"}) is None


def test_readiness_reports_degraded_without_nats() -> None:
    gauge = metrics.readiness_gauge("unit")
    assert metrics.readiness_gauge("unit") is gauge
    gauge.record("degraded", {"mongo": True, "nats": False})
    assert REGISTRY.get_sample_value("crm_readiness", {"service": "unit"}) == 1
    labels = {"service": "unit", "dependency": "nats"}
    assert REGISTRY.get_sample_value("crm_dependency_up", labels) == 0


def test_metrics_are_served_on_their_own_port_and_a_busy_port_is_survived() -> None:
    port = free_port()
    env = {"METRICS_PORT": str(port), "METRICS_HOST": "127.0.0.1"}
    assert metrics.serve_metrics("unit", env) == port
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as answer:
        text = answer.read().decode()
    assert "# HELP crm_graphql_requests_total" in text
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        busy = {"METRICS_PORT": str(taken.getsockname()[1]), "METRICS_HOST": "127.0.0.1"}
        assert metrics.serve_metrics("unit", busy) is None
    assert metrics.serve_metrics("unit", {"METRICS_PORT": "off"}) is None


def test_a_services_doors_count_only_known_outcomes() -> None:
    labels = {"service": "unit", "door": "smtp", "outcome": "failed"}
    before = REGISTRY.get_sample_value("crm_inbound_total", labels) or 0.0
    metrics.count_inbound("unit", "smtp", "failed")
    assert REGISTRY.get_sample_value("crm_inbound_total", labels) == before + 1
    with pytest.raises(ValueError, match="outcome"):
        metrics.count_inbound("unit", "smtp", "whatever")  # a label set that could grow
