"""Prometheus text exposition, written by hand: four metric families need no library."""

from __future__ import annotations

import bisect
import threading

LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


class Histogram:
    def __init__(self, buckets: tuple[float, ...] = LATENCY_BUCKETS) -> None:
        self.buckets = buckets
        self.counts = [0] * (len(buckets) + 1)
        self.sum = 0.0
        self.count = 0

    def observe(self, value: float) -> None:
        self.counts[bisect.bisect_left(self.buckets, value)] += 1
        self.sum += value
        self.count += 1

    def lines(self, name: str, labels: str = "") -> list[str]:
        out = []
        cumulative = 0
        sep = "," if labels else ""
        for bound, c in zip(self.buckets, self.counts, strict=False):
            cumulative += c
            out.append(f'{name}_bucket{{{labels}{sep}le="{bound}"}} {cumulative}')
        out.append(f'{name}_bucket{{{labels}{sep}le="+Inf"}} {self.count}')
        lbl = f"{{{labels}}}" if labels else ""
        out.append(f"{name}_sum{lbl} {self.sum:.6f}")
        out.append(f"{name}_count{lbl} {self.count}")
        return out


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


class Metrics:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.requests: dict[str, int] = {}  # by operation type
        self.errors: dict[str, int] = {}  # by error code
        self.latency = Histogram()
        self.fetches: dict[tuple[str, str], int] = {}  # (subgraph, outcome)
        self.fetch_latency: dict[str, Histogram] = {}

    def observe_request(self, operation_type: str, seconds: float, error_codes: list[str]) -> None:
        with self._lock:
            self.requests[operation_type] = self.requests.get(operation_type, 0) + 1
            self.latency.observe(seconds)
            for code in error_codes:
                self.errors[code] = self.errors.get(code, 0) + 1

    def observe_fetch(self, subgraph: str, seconds: float, ok: bool) -> None:
        with self._lock:
            k = (subgraph, "ok" if ok else "error")
            self.fetches[k] = self.fetches.get(k, 0) + 1
            h = self.fetch_latency.get(subgraph)
            if h is None:
                h = self.fetch_latency[subgraph] = Histogram()
            h.observe(seconds)

    def render(self) -> str:
        with self._lock:
            lines = [
                "# HELP gateway_requests_total GraphQL requests handled.",
                "# TYPE gateway_requests_total counter",
            ]
            for op, n in sorted(self.requests.items()):
                lines.append(f'gateway_requests_total{{operation_type="{_escape(op)}"}} {n}')
            lines += [
                "# HELP gateway_errors_total GraphQL errors returned, by code.",
                "# TYPE gateway_errors_total counter",
            ]
            for code, n in sorted(self.errors.items()):
                lines.append(f'gateway_errors_total{{code="{_escape(code)}"}} {n}')
            lines += [
                "# HELP gateway_request_duration_seconds Time to answer a GraphQL request.",
                "# TYPE gateway_request_duration_seconds histogram",
                *self.latency.lines("gateway_request_duration_seconds"),
                "# HELP gateway_subgraph_fetches_total Fetches sent to each subgraph.",
                "# TYPE gateway_subgraph_fetches_total counter",
            ]
            for (sg, outcome), n in sorted(self.fetches.items()):
                lines.append(
                    f'gateway_subgraph_fetches_total{{subgraph="{_escape(sg)}",'
                    f'outcome="{outcome}"}} {n}'
                )
            lines += [
                "# HELP gateway_subgraph_fetch_duration_seconds Time per subgraph fetch.",
                "# TYPE gateway_subgraph_fetch_duration_seconds histogram",
            ]
            for sg, h in sorted(self.fetch_latency.items()):
                lines += h.lines(
                    "gateway_subgraph_fetch_duration_seconds", f'subgraph="{_escape(sg)}"'
                )
            return "\n".join(lines) + "\n"
