"""Fixtures shared by every test layer: a throwaway FerretDB + NATS pair per test session.

Ports are chosen free at start and data lives in a temporary directory, so the tests pass
while a `make run` stack is up on the default ports. TEST_MONGODB_URI / TEST_NATS_URL use
already-running servers instead.
"""

from __future__ import annotations

import atexit
import os
import shutil
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from uuid import uuid4

import pytest

ROOT = Path(__file__).resolve().parent
# Mirrors crm_kit.paths.SOURCE_DIRS (which cannot be imported before this runs).
for sub in ("libs", "services/contacts", "services/deals", "services/tasks", "gateway", "cli"):
    path = str(ROOT / sub)
    if path not in sys.path:
        sys.path.insert(0, path)

# A fixed secret for tests so no file under ./.data is touched.
os.environ.setdefault("JWT_SECRET", "test-secret-" + "x" * 40)
# Local state (the internal assertion keys every party of a test shares, in-process and in
# the processes the tests start) in a directory of the session's own, not ./.data.
if "CRM_DATA_DIR" not in os.environ:
    os.environ["CRM_DATA_DIR"] = tempfile.mkdtemp(prefix="crm-test-data-")
    atexit.register(shutil.rmtree, os.environ["CRM_DATA_DIR"], True)

from crm_kit.devstack import InfraStack, free_port  # noqa: E402


@pytest.fixture(scope="session")
def infra() -> Iterator[InfraStack]:
    external_mongo = os.environ.get("TEST_MONGODB_URI")
    external_nats = os.environ.get("TEST_NATS_URL")
    if external_mongo and external_nats:
        stack = InfraStack(Path(tempfile.mkdtemp()), 0, 0)
        stack.__dict__["mongodb_uri"] = external_mongo  # type: ignore[index]
        stack.__dict__["nats_url"] = external_nats  # type: ignore[index]
        yield stack
        return
    with tempfile.TemporaryDirectory(prefix="crm-test-") as tmp:
        stack = InfraStack(Path(tmp), free_port(), free_port()).start()
        try:
            yield stack
        finally:
            stack.stop()


@pytest.fixture
def db_name() -> str:
    """A database of its own for each test: no test sees another's documents."""
    return f"t_{uuid4().hex[:12]}"
