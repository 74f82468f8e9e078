"""A loaded database kept for later runs (`run.py --keep-data DIR` / `--reuse DIR`).

Loading 100,000 deals takes about an hour on the shared machine, so a run can keep the
directory it loaded into (`DIR/<deals>`: FerretDB's SQLite files and credentials, NATS's
JetStream store, the stack's keys) and a later run can start from it, skipping the
generation and the import. The marker `loaded.json` is written only once the load is
complete and every import batch's events are published: a directory without it is an
interrupted load, which `--reuse` refuses. It records what the data was generated with
(the seed, the anchor date the dates hang on, the proportions) and the import's figures,
so the reused run measures the same workspace and prints the same table.

The bulk path writes behind the services' change logs, so the snapshots written before it
miss its documents: a load's indexes must be warmed once by scans (the snapshots dropped)
before a start from snapshots can be trusted. The marker says whether that happened
(`scanned`); until it has, every start from the directory scans.

The bench's JWT secret is kept beside it (mode 0600): the stack's processes of a reused
run then accept the tokens the same way the loading run's did."""

from __future__ import annotations

import json
import os
from dataclasses import asdict
from datetime import date
from pathlib import Path
from typing import Any

from load import KindResult

MARKER = "loaded.json"
SECRET = "jwt_secret"
# Options that change the data: a reused directory must have been loaded with the same.
DATA_OPTIONS = (
    "seed",
    "small_workspaces",
    "small_deals",
    "interactions_per_deal",
    "tasks_per_deal",
    "contacts_per_deal",
)


def directory(base: str, size: int) -> Path:
    return Path(base).resolve() / str(size)


def prepare_new(root: Path) -> None:
    """A directory to load into: it must not hold an earlier load (complete or not)."""
    if root.exists() and any(root.iterdir()):
        raise SystemExit(f"{root} is not empty: --reuse it, or remove it to load again")
    root.mkdir(parents=True, exist_ok=True)
    secret = os.environ.get("JWT_SECRET")
    if secret:
        _write_secret(root, secret)


def _write_secret(root: Path, secret: str) -> None:
    path = root / SECRET
    path.write_text(secret)
    path.chmod(0o600)


def save_secret(root: Path) -> None:
    """After the stack set its secret (`Stack.start_infra`), keep it."""
    if not (root / SECRET).exists():
        _write_secret(root, os.environ["JWT_SECRET"])


def mark_loaded(
    root: Path, options: dict[str, Any], anchor: date, imported: dict[str, KindResult]
) -> None:
    marker = {
        "options": {k: options[k] for k in DATA_OPTIONS},
        "anchor": anchor.isoformat(),
        "import": {kind: asdict(result) for kind, result in imported.items()},
        "scanned": False,
    }
    (root / MARKER).write_text(json.dumps(marker, indent=1))


def scanned(root: Path) -> bool:
    """Whether the kept indexes were warmed by scans since the load (their snapshots,
    written at a clean stop since, then hold every document)."""
    path = root / MARKER
    return path.exists() and bool(json.loads(path.read_text()).get("scanned"))


def mark_scanned(root: Path) -> None:
    path = root / MARKER
    marker = json.loads(path.read_text())
    marker["scanned"] = True
    path.write_text(json.dumps(marker, indent=1))


def open_loaded(root: Path, options: dict[str, Any]) -> tuple[date, dict[str, KindResult]]:
    """The anchor and import figures of a complete load in `root`; the process's JWT
    secret set to the one it was loaded with. Refuses a load of other proportions."""
    path = root / MARKER
    if not path.exists():
        raise SystemExit(f"{root} holds no complete load ({MARKER} missing)")
    marker = json.loads(path.read_text())
    differs = {
        k: (marker["options"][k], options[k])
        for k in DATA_OPTIONS
        if marker["options"][k] != options[k]
    }
    if differs:
        raise SystemExit(f"{root} was loaded with other options (kept, asked): {differs}")
    os.environ["JWT_SECRET"] = (root / SECRET).read_text().strip()
    imported = {kind: KindResult(**fields) for kind, fields in marker["import"].items()}
    return date.fromisoformat(marker["anchor"]), imported
