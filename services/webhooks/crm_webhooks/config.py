"""Service constants and settings."""

from __future__ import annotations

import os
from dataclasses import dataclass

from crm_kit.audit import Audited, AuditPolicy
from crm_kit.settings import Settings

SERVICE = "webhooks"
SOURCE = "crm/webhooks"
VERSION = "1.0.0"

ENDPOINTS = "endpoints"
DELIVERIES = "deliveries"
# One queue per (endpoint, record): deliveries about one record go out in order.
LANES = "lanes"
WORKSPACE_SETTINGS = "workspace_settings"
# The settings hold no events; they are here for their audit entries, which the relay
# moves to the audit log (crm_kit.audit).
OUTBOX_COLLECTIONS = (ENDPOINTS, LANES, WORKSPACE_SETTINGS)
# The webhook subscriptions (endpoints) are audited (crm_kit.audit): who created, changed,
# disabled or deleted one, and the dispatcher's automatic disabling. Left out of the
# diffs: the signing secrets (no log should hold them), stamps and the failure clock.
# So is the workspace's setting that lets deliveries reach private networks: who opened
# the workspace's webhooks to internal addresses, and when, is a security question.
AUDIT = AuditPolicy(
    SERVICE,
    {
        ENDPOINTS: Audited(
            "webhook_endpoint",
            frozenset({"secrets", "created_at", "updated_at", "failing_since", "version"}),
            deleted_field=None,
        ),
        WORKSPACE_SETTINGS: Audited("webhook_settings", deleted_field=None),
    },
)

# Standard Webhooks' suggested schedule: at once, then after 5 s, 5 min, 30 min, 2 h, 5 h,
# 10 h and 10 h again (about 27.6 h in all), each with up to 20 % jitter.
DEFAULT_SCHEDULE = (5.0, 300.0, 1800.0, 7200.0, 18000.0, 36000.0, 36000.0)


@dataclass(frozen=True)
class DeliverySettings:
    schedule: tuple[float, ...] = DEFAULT_SCHEDULE  # seconds before each retry
    timeout_seconds: float = 10.0  # one attempt, connect to last byte
    max_in_flight_per_endpoint: int = 4  # per process
    # A delivery that exhausted its schedule disables its endpoint when nothing reached
    # the endpoint for at least this long.
    disable_after_seconds: float = 24 * 3600.0
    # The workspace setting allowPrivateNetworks may be turned on (always in development).
    private_networks_allowed: bool = False

    @classmethod
    def from_env(cls, development: bool) -> DeliverySettings:
        env = os.environ
        raw = env.get("WEBHOOK_RETRY_SCHEDULE")
        schedule = tuple(float(x) for x in raw.split(",") if x.strip()) if raw else DEFAULT_SCHEDULE
        return cls(
            schedule=schedule,
            timeout_seconds=float(env.get("WEBHOOK_TIMEOUT_SECONDS") or 10.0),
            max_in_flight_per_endpoint=int(env.get("WEBHOOK_MAX_IN_FLIGHT_PER_ENDPOINT") or 4),
            disable_after_seconds=float(env.get("WEBHOOK_DISABLE_AFTER_SECONDS") or 86400.0),
            private_networks_allowed=development
            or env.get("WEBHOOK_PRIVATE_NETWORKS", "").lower() == "allow",
        )


def load_settings() -> Settings:
    return Settings.from_env(SERVICE)
