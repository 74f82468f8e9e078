"""The gateway's metrics, through `prometheus_client` (`crm_kit.metrics`): GraphQL
operations by name and type with their errors and latency, each subgraph fetch, and the
requests refused before execution. Served on the metrics port (`METRICS_PORT`, 9400), never
on the public one."""

from __future__ import annotations

from prometheus_client import Counter, Histogram

from crm_kit.metrics import REJECTIONS, SUBGRAPH_FETCH_DURATION, SUBGRAPH_FETCHES, GraphQLMetrics


class Metrics:
    def __init__(self) -> None:
        self.graphql = GraphQLMetrics("gateway")
        # Each subgraph's labelled series, looked up once (`labels()` locks and builds a
        # key per call; a board load makes three fetches). Subgraphs are a fixed few.
        self._fetch_series: dict[tuple[str, bool], tuple[Counter, Histogram]] = {}

    def observe_request(
        self,
        operation_type: str,
        seconds: float,
        error_codes: list[str],
        operation_name: str | None = None,
    ) -> None:
        self.graphql.observe(operation_type, operation_name, seconds, error_codes)

    def observe_fetch(self, subgraph: str, seconds: float, ok: bool) -> None:
        series = self._fetch_series.get((subgraph, ok))
        if series is None:
            series = (
                SUBGRAPH_FETCHES.labels(subgraph, "ok" if ok else "error"),
                SUBGRAPH_FETCH_DURATION.labels(subgraph),
            )
            self._fetch_series[(subgraph, ok)] = series
        series[0].inc()
        series[1].observe(seconds)

    @staticmethod
    def rejected(reason: str, policy: str = "") -> None:
        """A request refused before execution: `rate_limited` (with the limiter's policy),
        `locked_out`, `overloaded` or `unauthenticated`."""
        REJECTIONS.labels(reason, policy).inc()
