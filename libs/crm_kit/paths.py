"""Where the checkout and its local data live (all local state goes under ./.data)."""

from __future__ import annotations

import os
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]

# Folders holding the platform's Python packages (the Makefile's PYTHONPATH says the same).
SOURCE_DIRS = (
    "libs",
    "services/contacts",
    "services/deals",
    "services/tasks",
    "services/capture",
    "services/webhooks",
    "services/imports",
    "gateway",
    "cli",
)


def python_path() -> str:
    """PYTHONPATH for a child process running any part of the platform."""
    return os.pathsep.join(str(REPO_ROOT / sub) for sub in SOURCE_DIRS)


def data_dir() -> Path:
    return Path(os.environ.get("CRM_DATA_DIR", REPO_ROOT / ".data"))


def demo_dataset_dir() -> Path:
    """The public CRM dataset used for demo data and import tests (`../shared/data/...`
    beside the checkout, or CRM_DEMO_DATA_DIR)."""
    configured = os.environ.get("CRM_DEMO_DATA_DIR")
    if configured:
        return Path(configured)
    return REPO_ROOT.parent / "shared" / "data" / "maven-crm-sales-opportunities"


def write_once(path: Path, content: str) -> str:
    """Write `content` to `path` (mode 0600) unless the file exists, and return what the
    file holds: of several processes starting at once exactly one writes it (O_EXCL)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return path.read_text().strip()
    with os.fdopen(fd, "w") as handle:
        handle.write(content)
    return content.strip()
