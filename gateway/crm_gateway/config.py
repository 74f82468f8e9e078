"""Gateway settings, read from the environment once at start-up (every one is in the
README's table with its default)."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from crm_gateway.limits import Limits
from crm_gateway.subscriptions.registry import LiveSettings
from crm_kit.auth import development_mode
from crm_kit.settings import from_env

_SUBGRAPH_URL_PREFIX = "SUBGRAPH_"
_SUBGRAPH_URL_SUFFIX = "_URL"
_OFF = ("off", "0", "false", "no")


def _int(env: dict[str, str], name: str, default: int) -> int:
    raw = env.get(name)
    return int(raw) if raw else default


def _gateway_names(cls: type) -> dict[str, str]:
    """`GATEWAY_<FIELD>` for every field of a settings dataclass (the README lists them)."""
    return {name: f"GATEWAY_{name.upper()}" for name in cls.__annotations__}


def _float(env: dict[str, str], name: str, default: float) -> float:
    raw = env.get(name)
    return float(raw) if raw else default


def _switch(env: dict[str, str], name: str, default: bool) -> bool:
    raw = env.get(name)
    return default if not raw else raw.strip().lower() not in _OFF


@dataclass(frozen=True)
class Admission:
    """Rate, concurrency and bad-token limits (crm_gateway.admission); 0 turns one off."""

    max_body_bytes: int = 1_000_000
    # Sized for 200 concurrent users behind one address (an office's NAT) at a couple of
    # requests a second each, with bursts of a page load; one user gets 20/s, bursts of 60.
    rate_per_ip: float = 400.0
    burst_per_ip: int = 800
    rate_per_token: float = 20.0
    burst_per_token: int = 60
    # The public tracking door (`/t/s.js`, `/t/c`) per browser address, before anything is
    # signed or forwarded: a page view sends a few reports, and visitors behind one NAT
    # share the bucket. The capture service limits per site and per site and address too.
    tracking_rate_per_ip: float = 20.0
    tracking_burst_per_ip: int = 100
    max_in_flight: int = 400
    auth_slow_after: int = 5
    auth_lock_after: int = 20
    auth_forgive_per_second: float = 0.2

    @classmethod
    def unlimited(cls) -> Admission:
        return cls(
            max_body_bytes=1 << 40,
            rate_per_ip=0,
            burst_per_ip=1,
            rate_per_token=0,
            burst_per_token=1,
            tracking_rate_per_ip=0,
            tracking_burst_per_ip=1,
            max_in_flight=0,
            auth_slow_after=0,
            auth_lock_after=0,
        )


@dataclass(frozen=True)
class GatewaySettings:
    supergraph_path: Path = Path("gateway/supergraph.graphql")
    host: str = "127.0.0.1"
    port: int = 4000
    auth_enabled: bool = True
    subgraph_urls: dict[str, str] = field(default_factory=dict)  # by subgraph name
    subgraph_timeout: float = 10.0
    subgraph_connect_timeout: float = 1.0
    # The longest a fetch waits for one of a subgraph's in-flight slots before it is shed
    # (SERVICE_UNAVAILABLE, retryable: nothing was sent).
    subgraph_queue_timeout: float = 5.0
    ready_cache_seconds: float = 2.0
    limits: Limits = field(default_factory=Limits)
    admission: Admission = field(default_factory=Admission)
    live: LiveSettings = field(default_factory=LiveSettings)
    document_cache_size: int = 1000
    plan_cache_size: int = 1000
    apq_cache_size: int = 10_000
    # Assertions reused for the same caller, subgraph and body (crm_gateway.identity).
    assertion_cache_size: int = 1024
    # Verified bearer tokens remembered until they expire (crm_gateway.verified_tokens).
    token_cache_size: int = 10_000
    graphiql: bool = True
    # Addresses of reverse proxies whose X-Forwarded-For names the client (else the peer
    # address is the client: nobody else can choose the address their limits apply to).
    trusted_proxies: tuple[str, ...] = ()
    log_level: str = "INFO"

    @classmethod
    def from_env(cls, env: dict[str, str] | None = None) -> GatewaySettings:
        env = dict(os.environ if env is None else env)
        urls = {
            k[len(_SUBGRAPH_URL_PREFIX) : -len(_SUBGRAPH_URL_SUFFIX)].lower(): v
            for k, v in env.items()
            if k.startswith(_SUBGRAPH_URL_PREFIX) and k.endswith(_SUBGRAPH_URL_SUFFIX) and v
        }
        limits = from_env(Limits, _gateway_names(Limits), env)
        admission = from_env(Admission, _gateway_names(Admission), env)
        live = from_env(LiveSettings, _gateway_names(LiveSettings), env)
        dev = development_mode()
        auth_enabled = _switch(env, "GATEWAY_AUTH", True)
        if not auth_enabled and not dev:
            raise ValueError("GATEWAY_AUTH=off is a development convenience: not in production")
        proxies = tuple(p.strip() for p in env.get("GATEWAY_TRUSTED_PROXIES", "").split(","))
        return cls(
            supergraph_path=Path(env.get("SUPERGRAPH_PATH", "gateway/supergraph.graphql")),
            host=env.get("GATEWAY_HOST", "127.0.0.1"),
            port=_int(env, "GATEWAY_PORT", 4000),
            auth_enabled=auth_enabled,
            subgraph_urls=urls,
            subgraph_timeout=_float(env, "GATEWAY_SUBGRAPH_TIMEOUT", 10.0),
            subgraph_connect_timeout=_float(env, "GATEWAY_SUBGRAPH_CONNECT_TIMEOUT", 1.0),
            subgraph_queue_timeout=_float(env, "GATEWAY_SUBGRAPH_QUEUE_TIMEOUT", 5.0),
            ready_cache_seconds=_float(env, "GATEWAY_READY_CACHE_SECONDS", 2.0),
            limits=limits,
            admission=admission,
            live=live,
            document_cache_size=_int(env, "GATEWAY_DOCUMENT_CACHE_SIZE", 1000),
            plan_cache_size=_int(env, "GATEWAY_PLAN_CACHE_SIZE", 1000),
            apq_cache_size=_int(env, "GATEWAY_APQ_CACHE_SIZE", 10_000),
            assertion_cache_size=_int(env, "GATEWAY_ASSERTION_CACHE_SIZE", 1024),
            token_cache_size=_int(env, "GATEWAY_TOKEN_CACHE_SIZE", 10_000),
            graphiql=_switch(env, "GATEWAY_GRAPHIQL", dev),
            trusted_proxies=tuple(p for p in proxies if p),
            log_level=env.get("GATEWAY_LOG_LEVEL", "INFO").upper(),
        )
