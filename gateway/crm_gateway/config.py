"""Gateway settings, read from the environment once at start-up."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from crm_gateway.limits import Limits

_SUBGRAPH_URL_PREFIX = "SUBGRAPH_"
_SUBGRAPH_URL_SUFFIX = "_URL"


def _int(env: dict[str, str], name: str, default: int) -> int:
    raw = env.get(name)
    return int(raw) if raw else default


@dataclass(frozen=True)
class GatewaySettings:
    supergraph_path: Path = Path("gateway/supergraph.graphql")
    host: str = "127.0.0.1"
    port: int = 4000
    auth_enabled: bool = True
    subgraph_urls: dict[str, str] = field(default_factory=dict)  # by subgraph name
    subgraph_timeout: float = 10.0
    limits: Limits = field(default_factory=Limits)
    document_cache_size: int = 1000
    plan_cache_size: int = 1000
    apq_cache_size: int = 10_000
    graphiql: bool = True
    log_level: str = "INFO"

    @classmethod
    def from_env(cls, env: dict[str, str] | None = None) -> GatewaySettings:
        env = dict(os.environ if env is None else env)
        urls = {
            k[len(_SUBGRAPH_URL_PREFIX) : -len(_SUBGRAPH_URL_SUFFIX)].lower(): v
            for k, v in env.items()
            if k.startswith(_SUBGRAPH_URL_PREFIX) and k.endswith(_SUBGRAPH_URL_SUFFIX) and v
        }
        d = Limits()
        limits = Limits(
            max_document_bytes=_int(env, "GATEWAY_MAX_DOCUMENT_BYTES", d.max_document_bytes),
            max_depth=_int(env, "GATEWAY_MAX_DEPTH", d.max_depth),
            max_aliases=_int(env, "GATEWAY_MAX_ALIASES", d.max_aliases),
            max_root_fields=_int(env, "GATEWAY_MAX_ROOT_FIELDS", d.max_root_fields),
            max_cost=_int(env, "GATEWAY_MAX_COST", d.max_cost),
        )
        return cls(
            supergraph_path=Path(env.get("SUPERGRAPH_PATH", "gateway/supergraph.graphql")),
            host=env.get("GATEWAY_HOST", "127.0.0.1"),
            port=_int(env, "GATEWAY_PORT", 4000),
            auth_enabled=env.get("GATEWAY_AUTH", "on").lower() not in ("off", "0", "false", "no"),
            subgraph_urls=urls,
            subgraph_timeout=float(env.get("GATEWAY_SUBGRAPH_TIMEOUT", "10")),
            limits=limits,
            document_cache_size=_int(env, "GATEWAY_DOCUMENT_CACHE_SIZE", 1000),
            plan_cache_size=_int(env, "GATEWAY_PLAN_CACHE_SIZE", 1000),
            apq_cache_size=_int(env, "GATEWAY_APQ_CACHE_SIZE", 10_000),
            graphiql=env.get("GATEWAY_GRAPHIQL", "on").lower() not in ("off", "0", "false"),
            log_level=env.get("GATEWAY_LOG_LEVEL", "INFO").upper(),
        )
