"""What the database does for us, and so which workarounds a service runs.

MongoDB isolates each single-document update and serves any indexed filter from its
index. FerretDB v1 on SQLite (the embedded database of local runs) does neither: only a
filter of exactly `{_id: value}` is served from an index (any other filter is evaluated
over the whole collection; the platform's build pushes equalities down too, but only
unique indexes and the outbox sweep's are made there), and an update is a read, modify,
write back that a concurrent update of the same document can undo. On it the platform
runs workarounds:

- writes filter on `_id` alone and check any other condition in Python, under the
  per-document lock that every writer of the process holds (`crm_kit.writer`);
- reads by id are `_id` look-ups, one per id (`crm_kit.records`), or one `_id` `$in`
  query on the platform's build of FerretDB, which serves it from the `_id` index
  (`pushdown`: scripts/install-ferretdb.sh);
- read models (per-process indexes, look-up tables) answer what would otherwise scan.

`DATABASE_PROFILE` chooses: `mongodb` (none of the workarounds), `ferretdb` (all of them)
or `auto` (the default: `ferretdb` when the server says it is FerretDB). Everything that
exists only for the embedded database asks `profile.workarounds`, so dropping FerretDB
later is deleting what that flag guards.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from pymongo.asynchronous.database import AsyncDatabase

from .mongo import isolates_updates, pushes_filters_down

ProfileName = Literal["mongodb", "ferretdb"]
SETTINGS = ("auto", "mongodb", "ferretdb")


@dataclass(frozen=True)
class DatabaseProfile:
    name: ProfileName
    # The embedded database hands equality filters to SQLite (the platform's build of
    # FerretDB): reads by id go as one `_id` `$in` query instead of a look-up per id.
    pushdown: bool = False

    @property
    def ids_one_by_one(self) -> bool:
        """Reads by id as one `_id` look-up each: FerretDB as published serves no `$in`
        from the `_id` index (the platform's build does, `pushdown`)."""
        return self.workarounds and not self.pushdown

    @property
    def workarounds(self) -> bool:
        """`_id`-only filters, per-id reads and read models: the embedded database's needs."""
        return self.name == "ferretdb"

    @classmethod
    def named(cls, setting: str) -> DatabaseProfile:
        if setting not in ("mongodb", "ferretdb"):
            raise ValueError(f"database profile must be mongodb or ferretdb, not {setting!r}")
        return cls("mongodb" if setting == "mongodb" else "ferretdb")

    @classmethod
    async def detect(cls, db: AsyncDatabase[Any], setting: str = "auto") -> DatabaseProfile:
        """The profile a `DATABASE_PROFILE` setting asks for; `auto` asks the server."""
        profile = cls.named(setting) if setting != "auto" else None
        if profile is None:
            profile = cls("mongodb" if await isolates_updates(db) else "ferretdb")
        if profile.workarounds and await pushes_filters_down(db):
            return cls(profile.name, pushdown=True)
        return profile


MONGODB = DatabaseProfile("mongodb")
FERRETDB = DatabaseProfile("ferretdb")
