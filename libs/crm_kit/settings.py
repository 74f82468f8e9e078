"""Service settings, read once from the environment."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any, TypeVar

from .profile import SETTINGS as PROFILE_SETTINGS

T = TypeVar("T")

DEFAULT_PORTS = {
    "gateway": 4000,
    "contacts": 4001,
    "deals": 4002,
    "tasks": 4003,
    "capture": 4004,
    "webhooks": 4005,
    "imports": 4006,
}


def from_env(cls: type[T], names: Mapping[str, str], env: Mapping[str, str] | None = None) -> T:
    """An instance of the dataclass `cls` (every field defaulted) whose fields named in
    `names` come from the environment variables they map to, converted to the type of the
    field's default; unset or empty variables keep the default."""
    env = os.environ if env is None else env
    defaults = cls()
    values: dict[str, Any] = {}
    for name, variable in names.items():
        raw = env.get(variable)
        if raw:
            values[name] = type(getattr(defaults, name))(raw)
    return replace(defaults, **values)  # type: ignore[type-var]


def _env(name: str, default: str) -> str:
    value = os.environ.get(name)
    return value if value not in (None, "") else default


@dataclass(frozen=True)
class Settings:
    service: str
    host: str = "127.0.0.1"
    port: int = 0
    mongodb_uri: str = "mongodb://127.0.0.1:27017/"
    database: str = ""
    nats_url: str = "nats://127.0.0.1:4222"
    log_level: str = "INFO"
    # How often the outbox relay sweeps for events a crash left behind (seconds). Each
    # sweep scans the outbox collections (FerretDB serves only `_id` filters from an
    # index), and live writers publish their own events at once, so it need not be often.
    outbox_sweep_seconds: float = 10.0
    # Past its start-up window (and an outage), the relay sweeps only this often: a sweep
    # reads whole collections, and live writers notify it (crm_kit.outbox.OutboxRelay).
    outbox_backstop_seconds: float = 120.0
    # Deliveries of one event before it goes to the dead-letter subject.
    max_deliveries: int = 5
    # Bookkeeping records (processed events, fired reminders, ...) older than this are
    # deleted, every `retention_interval_seconds` (crm_kit.retention).
    retention_days: float = 14.0
    retention_interval_seconds: float = 3600.0
    # The audit log's entries older than this are deleted (crm_kit.audit): platform-wide.
    audit_retention_days: float = 365.0
    # auto | mongodb | ferretdb: which database workarounds run (crm_kit.profile).
    database_profile: str = "auto"
    extra: dict[str, str] = field(default_factory=dict)

    @classmethod
    def from_env(cls, service: str) -> Settings:
        upper = service.upper()
        return cls(
            service=service,
            host=_env(f"{upper}_HOST", _env("CRM_HOST", "127.0.0.1")),
            port=int(_env(f"{upper}_PORT", str(DEFAULT_PORTS.get(service, 0)))),
            mongodb_uri=_env("MONGODB_URI", "mongodb://127.0.0.1:27017/"),
            database=_env(f"{upper}_DB", f"{_env('CRM_DB_PREFIX', 'crm')}_{service}"),
            nats_url=_env("NATS_URL", "nats://127.0.0.1:4222"),
            log_level=_env("LOG_LEVEL", "INFO"),
            outbox_sweep_seconds=float(_env("OUTBOX_SWEEP_SECONDS", "10.0")),
            outbox_backstop_seconds=float(_env("OUTBOX_BACKSTOP_SECONDS", "120")),
            max_deliveries=int(_env("MAX_DELIVERIES", "5")),
            retention_days=float(_env("RETENTION_DAYS", "14")),
            retention_interval_seconds=float(_env("RETENTION_INTERVAL_SECONDS", "3600")),
            audit_retention_days=float(_env("AUDIT_RETENTION_DAYS", "365")),
            database_profile=_database_profile(_env("DATABASE_PROFILE", "auto")),
        )


def _database_profile(value: str) -> str:
    setting = value.strip().lower()
    if setting not in PROFILE_SETTINGS:
        raise ValueError(f"DATABASE_PROFILE must be auto, mongodb or ferretdb, not {value!r}")
    return setting


# Values that turn a read index off (`<PREFIX>_INDEX`).
_OFF = ("0", "off", "false", "no")


@dataclass(frozen=True)
class IndexSettings:
    """A service's read index (`crm_kit.read_index`), configured through `Settings.extra`
    under the service's prefix: `<PREFIX>_INDEX` (off: every query the index serves goes to
    the database, as before the index), `<PREFIX>_INDEX_REBUILD_SECONDS` and
    `<PREFIX>_INDEX_CHANGE_LOG` (off: the index holds no whole documents and re-reads each
    row it returns by `_id`, as before the change logs, `crm_kit.change_log`) and
    `<PREFIX>_INDEX_SNAPSHOT_SECONDS` (how often a warm index writes its persisted
    snapshot, `crm_kit.index_snapshot`, from which the next start loads instead of
    scanning; 0: no snapshots, every start scans; needs the change log)."""

    enabled: bool = True
    # The safety-net full rebuild: a projected scan of the collection (every loaded
    # workspace from one, with `scan_all`; on FerretDB ~36 µs a document, holding up
    # writers meanwhile), so not too often.
    rebuild_seconds: float = 300.0
    change_log: bool = True
    snapshot_seconds: float = 120.0

    @staticmethod
    def env_names(prefix: str) -> tuple[str, ...]:
        return (
            f"{prefix}_INDEX",
            f"{prefix}_INDEX_REBUILD_SECONDS",
            f"{prefix}_INDEX_CHANGE_LOG",
            f"{prefix}_INDEX_SNAPSHOT_SECONDS",
        )

    @classmethod
    def of(cls, settings: Settings, prefix: str) -> IndexSettings:
        switch, rebuild_name, change_log, snapshot_name = cls.env_names(prefix)
        extra = settings.extra
        enabled = extra.get(switch, "on").strip().lower() not in _OFF
        rebuild = float(extra.get(rebuild_name) or cls.rebuild_seconds)
        logged = extra.get(change_log, "on").strip().lower() not in _OFF
        snapshot = float(extra.get(snapshot_name) or cls.snapshot_seconds)
        return cls(
            enabled=enabled,
            rebuild_seconds=max(rebuild, 1.0),
            change_log=logged,
            snapshot_seconds=max(snapshot, 0.0) if logged else 0.0,
        )


def with_index_env(settings: Settings, prefix: str) -> Settings:
    """`settings` with the read index's variables (`IndexSettings.env_names(prefix)`) that
    the environment sets copied into `extra`."""
    names = IndexSettings.env_names(prefix)
    index_env = {name: os.environ[name] for name in names if os.environ.get(name)}
    return replace(settings, extra={**settings.extra, **index_env})
