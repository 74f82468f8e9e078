"""Prometheus metrics of a platform process (`prometheus_client`), served on a port of their
own (`METRICS_PORT`), never on the public one.

Two kinds:
- counted as things happen (requests, fetches, events handled, dead letters, rebuilds);
- read at scrape time from the live parts that know them (outbox backlog and the age of
  its oldest event, consumer lag, dead letters waiting, read-model sizes, readiness):
  those parts register with `track(...)` and a single collector asks each one.

Every name starts with `crm_`; label values are bounded sets (operation names a client
chooses are capped, see `OperationNames`).
"""

from __future__ import annotations

import logging
import os
import threading
import time
import weakref
from collections.abc import Iterable, Iterator, Mapping
from typing import Protocol

from prometheus_client import REGISTRY, Counter, Gauge, Histogram, start_http_server
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

log = logging.getLogger(__name__)

# Seconds: from a cached answer (~1 ms) to the subgraph timeout (10 s).
LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
# Seconds, for things that take longer: read-model scans, event delays, scheduler lag.
SLOW_BUCKETS = (0.01, 0.05, 0.1, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0, 900.0)

# --- GraphQL (the gateway and every subgraph) ---------------------------------------------

GRAPHQL_REQUESTS = Counter(
    "crm_graphql_requests_total",
    "GraphQL operations answered, by operation.",
    ["service", "operation_type", "operation_name"],
)
GRAPHQL_ERRORS = Counter(
    "crm_graphql_errors_total",
    "GraphQL errors returned, by operation and extensions.code.",
    ["service", "operation_type", "operation_name", "code"],
)
GRAPHQL_DURATION = Histogram(
    "crm_graphql_request_duration_seconds",
    "Time to answer a GraphQL operation.",
    ["service", "operation_type", "operation_name"],
    buckets=LATENCY_BUCKETS,
)

# Mutations with an Idempotency-Key at a subgraph (crm_kit.keyed_http).
IDEMPOTENT_MUTATIONS = Counter(
    "crm_idempotent_mutations_total",
    "Mutations sent with an Idempotency-Key, by outcome (stored: run and its result kept; "
    "released: run, failed, the next request of the key runs it again; replayed: answered "
    "from the stored result; refused: bad key, key reused, key in use, database away).",
    ["service", "outcome"],
)

# --- the gateway ---------------------------------------------------------------------------

SUBGRAPH_FETCHES = Counter(
    "crm_gateway_subgraph_fetches_total",
    "Fetches the gateway sent to each subgraph, by outcome (ok, error).",
    ["subgraph", "outcome"],
)
SUBGRAPH_FETCH_DURATION = Histogram(
    "crm_gateway_subgraph_fetch_duration_seconds",
    "Time of one subgraph fetch, as the gateway saw it.",
    ["subgraph"],
    buckets=LATENCY_BUCKETS,
)
REJECTIONS = Counter(
    "crm_gateway_rejections_total",
    "Requests refused before execution, by reason (rate_limited: a rate limit; "
    "locked_out: too many bad tokens; overloaded: the in-flight bound; unauthenticated).",
    ["reason", "policy"],
)

# --- events --------------------------------------------------------------------------------

OUTBOX_PUBLISHED = Counter(
    "crm_outbox_published_total", "Events the outbox relay published.", ["service"]
)
OUTBOX_FAILURES = Counter(
    "crm_outbox_publish_failures_total",
    "Relay passes that failed (NATS unreachable...); the events stay in the outbox.",
    ["service"],
)
CONSUMER_EVENTS = Counter(
    "crm_consumer_events_total",
    "Deliveries a durable consumer finished, by outcome (handled, duplicate, retried, "
    "dead_lettered).",
    ["service", "durable", "outcome"],
)
CONSUMER_REDELIVERIES = Counter(
    "crm_consumer_redeliveries_total",
    "Deliveries of an event that had been delivered before (a failure or an ack timeout).",
    ["service", "durable"],
)
CONSUMER_DURATION = Histogram(
    "crm_consumer_handle_duration_seconds",
    "Time a handler took for one event.",
    ["service", "durable"],
    buckets=LATENCY_BUCKETS,
)
EVENT_DELAY = Histogram(
    "crm_consumer_event_delay_seconds",
    "From an event's storage in JetStream to the end of its handling.",
    ["service", "durable"],
    buckets=SLOW_BUCKETS,
)
DEAD_LETTERS = Counter(
    "crm_dead_letters_total",
    "Events a consumer sent to its dead-letter subject.",
    ["service", "durable"],
)

# --- read models and schedulers ------------------------------------------------------------

READ_MODEL_BUILDS = Histogram(
    "crm_read_model_build_duration_seconds",
    "Time of one full scan of a workspace into a read index (first load or rebuild).",
    ["index"],
    buckets=SLOW_BUCKETS,
)
TEXT_POSTINGS_PENDING = Gauge(
    "crm_text_postings_pending",
    "Entries whose search postings (crm_kit.text_column) are still being built in steps.",
)
SCHEDULER_LAG = Histogram(
    "crm_scheduler_lag_seconds",
    "How late a scheduled item (a reminder, an overdue notice) fired after its time.",
    # `kind`, not `job`: Prometheus owns the `job` label (the scrape job) and would rename ours.
    ["service", "kind"],
    buckets=SLOW_BUCKETS,
)
SCHEDULER_LAST_LAG = Gauge(
    "crm_scheduler_last_lag_seconds",
    "How late the last item a scheduler fired was.",
    ["service", "kind"],
)


def observe_scheduler_lag(service: str, kind: str, seconds: float) -> None:
    """A scheduler fired an item of `kind` (e.g. a reminder) `seconds` after it was due."""
    lag = max(seconds, 0.0)
    SCHEDULER_LAG.labels(service, kind).observe(lag)
    SCHEDULER_LAST_LAG.labels(service, kind).set(lag)


# --- a service's own doors (beside GraphQL and NATS) ---------------------------------------

INBOUND = Counter(
    "crm_inbound_total",
    "What a service's own doors took in (capture: smtp, imap, tracking), by outcome: "
    "accepted, refused (the sender's fault: bad address, malformed, rate-limited) or "
    "failed (ours: a dependency down; the sender retries or the item is lost).",
    ["service", "door", "outcome"],
)
INBOUND_OUTCOMES = ("accepted", "refused", "failed")


def count_inbound(service: str, door: str, outcome: str) -> None:
    """One item at a door of `service` (the hook for its doors; `door` a fixed name)."""
    if outcome not in INBOUND_OUTCOMES:
        raise ValueError(f"inbound outcome {outcome!r}: one of {INBOUND_OUTCOMES}")
    INBOUND.labels(service, door, outcome).inc()


# --- operation names: bounded --------------------------------------------------------------

OTHER = "__other__"
ANONYMOUS = "__anonymous__"


class OperationNames:
    """Operation names are chosen by clients: the first `limit` distinct ones become label
    values, later ones count as `__other__`, so nobody can grow the registry without end."""

    def __init__(self, limit: int = 200, max_length: int = 64) -> None:
        self._limit = limit
        self._max_length = max_length
        self._known: set[str] = set()
        self._lock = threading.Lock()

    def label(self, name: str | None) -> str:
        if not name:
            return ANONYMOUS
        if name in self._known:
            return name
        if len(name) > self._max_length:
            return OTHER
        with self._lock:
            if len(self._known) >= self._limit:
                return OTHER
            self._known.add(name)
        return name


class GraphQLMetrics:
    """Per-operation request, error and latency series of one service (or the gateway)."""

    def __init__(self, service: str, names: OperationNames | None = None) -> None:
        self.service = service
        self.names = names or OperationNames()
        # The labelled series of each (type, name), looked up once: `labels()` takes a lock
        # and builds a key on every call, a measurable share of a small request's CPU.
        # Bounded: types are a handful and names are capped by `names`.
        self._series: dict[tuple[str, str], tuple[Counter, Histogram]] = {}

    def observe(
        self,
        operation_type: str,
        operation_name: str | None,
        seconds: float,
        error_codes: Iterable[str] = (),
    ) -> None:
        name = self.names.label(operation_name)
        series = self._series.get((operation_type, name))
        if series is None:
            series = (
                GRAPHQL_REQUESTS.labels(self.service, operation_type, name),
                GRAPHQL_DURATION.labels(self.service, operation_type, name),
            )
            self._series[(operation_type, name)] = series
        series[0].inc()
        series[1].observe(seconds)
        for code in error_codes:
            GRAPHQL_ERRORS.labels(self.service, operation_type, name, code).inc()


# --- values read at scrape time ------------------------------------------------------------


# What a tracked part reports: (metric name, help, labels, value), a gauge.
Reading = tuple[str, str, Mapping[str, str], float]


class Tracked(Protocol):
    def metric_readings(self) -> Iterable[Reading]: ...


_tracked: weakref.WeakSet[Tracked] = weakref.WeakSet()
_tracked_lock = threading.Lock()


def track(part: Tracked) -> None:
    """Report `part.metric_readings()` at every scrape while `part` lives."""
    with _tracked_lock:
        _tracked.add(part)


def untrack(part: Tracked) -> None:
    with _tracked_lock:
        _tracked.discard(part)


class _LiveCollector(Collector):
    def collect(self) -> Iterator[Metric]:
        with _tracked_lock:
            parts = list(_tracked)
        families: dict[str, GaugeMetricFamily] = {}
        label_names: dict[str, tuple[str, ...]] = {}
        for part in parts:
            try:
                readings = list(part.metric_readings())
            except Exception:  # a scrape must not fail because one part did
                log.warning("metrics of %r could not be read", part, exc_info=True)
                continue
            for name, help_text, labels, value in readings:
                keys = tuple(sorted(labels))
                family = families.get(name)
                if family is None:
                    family = families[name] = GaugeMetricFamily(name, help_text, labels=keys)
                    label_names[name] = keys
                if label_names[name] != keys:
                    continue  # a part reporting other labels under a known name: skip it
                family.add_metric([labels[k] for k in keys], value)
        yield from families.values()

    def describe(self) -> Iterator[Metric]:
        return iter(())  # names vary with what is tracked: no describe-time registration check


_collector_lock = threading.Lock()
_collector: _LiveCollector | None = None


def _install_collector() -> None:
    global _collector
    with _collector_lock:
        if _collector is None:
            _collector = _LiveCollector()
            REGISTRY.register(_collector)


_install_collector()


# --- readiness -----------------------------------------------------------------------------

READINESS_LEVELS = {"unavailable": 0, "degraded": 1, "ready": 2}


class ReadinessGauge:
    """The last `/ready` answer of a process: `crm_readiness` (2 ready, 1 degraded: serving
    without a dependency it can do without, e.g. NATS while the outbox holds the events;
    0 unavailable) and `crm_dependency_up{dependency}` per check."""

    def __init__(self, service: str) -> None:
        self.service = service
        self.status = "ready"
        self.checks: dict[str, bool] = {}
        self.checked_at = 0.0

    def record(self, status: str, checks: Mapping[str, bool]) -> None:
        self.status = status
        self.checks = dict(checks)
        self.checked_at = time.time()

    def metric_readings(self) -> Iterable[Reading]:
        if not self.checked_at:
            return
        yield (
            "crm_readiness",
            "Readiness at the last /ready probe: 2 ready, 1 degraded, 0 unavailable.",
            {"service": self.service},
            float(READINESS_LEVELS.get(self.status, 0)),
        )
        for name, up in self.checks.items():
            yield (
                "crm_dependency_up",
                "Whether a dependency answered at the last /ready probe (1) or not (0).",
                {"service": self.service, "dependency": name},
                1.0 if up else 0.0,
            )


_readiness: dict[str, ReadinessGauge] = {}


def readiness_gauge(service: str) -> ReadinessGauge:
    """The one readiness gauge of `service` in this process (the `/ready` handler and the
    runtime's poll both record into it)."""
    gauge = _readiness.get(service)
    if gauge is None:
        gauge = _readiness[service] = ReadinessGauge(service)
        track(gauge)
    return gauge


# --- the metrics endpoint ------------------------------------------------------------------

DEFAULT_METRICS_PORTS = {
    "gateway": 9400,
    "contacts": 9401,
    "deals": 9402,
    "tasks": 9403,
    "capture": 9404,
    "webhooks": 9405,
    "imports": 9406,
}


def serve_metrics(service: str, env: Mapping[str, str] | None = None) -> int | None:
    """Serve `/metrics` on `METRICS_HOST`:`METRICS_PORT` (default 127.0.0.1 and the part's
    own port, 9400-9405; 0 or `off` turns it off) from a thread of its own, so a scrape
    still answers while the event loop is busy. Returns the port, or None when off."""
    env = os.environ if env is None else env
    raw = (env.get("METRICS_PORT") or str(DEFAULT_METRICS_PORTS.get(service, 0))).strip()
    if raw.lower() in ("off", "0", ""):
        return None
    host = env.get("METRICS_HOST") or env.get("CRM_HOST") or "127.0.0.1"
    port = int(raw)
    try:
        start_http_server(port, addr=host)
    except OSError as error:
        # The part still serves its users; Prometheus sees the target down (`up == 0`).
        log.error("metrics not served on %s:%s: %s", host, port, error)
        return None
    log.info("metrics served", extra={"fields": {"host": host, "port": port}})
    return port
