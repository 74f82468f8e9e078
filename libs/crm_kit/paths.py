"""Where the checkout and its local data live (all local state goes under ./.data)."""

from __future__ import annotations

import os
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]


def data_dir() -> Path:
    return Path(os.environ.get("CRM_DATA_DIR", REPO_ROOT / ".data"))
