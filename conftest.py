"""Fixtures shared by every test layer: a throwaway FerretDB + NATS pair per test session.

Ports are chosen free at start and data lives in a temporary directory, so the tests pass
while a `make run` stack is up on the default ports. Credentials are generated per run into
that directory too (CRM_DATA_DIR): the FerretDB password, every party's NATS nkey seed and
internal signing key; the NATS server admits only those parties, each with its
permissions, plus the test-only `harness` user for the tests' own set-up.
TEST_MONGODB_URI / TEST_NATS_URL use already-running servers instead (as a test harness
that may do anything).
"""

from __future__ import annotations

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
for sub in (
    "libs",
    "services/contacts",
    "services/deals",
    "services/tasks",
    "services/capture",
    "services/webhooks",
    "services/imports",
    "gateway",
    "cli",
):
    path = str(ROOT / sub)
    if path not in sys.path:
        sys.path.insert(0, path)

# A fixed secret for tests so no file under ./.data is touched.
os.environ.setdefault("JWT_SECRET", "test-secret-" + "x" * 40)
# Everything generated (keys, seeds, server data) lives in a directory of this run, which
# the processes the tests start inherit.
TEST_DATA_DIR = Path(tempfile.mkdtemp(prefix="crm-test-"))
os.environ["CRM_DATA_DIR"] = str(TEST_DATA_DIR)
for inherited in ("NATS_NKEY_SEED_FILE", "NATS_CREDENTIALS_DIR", "INTERNAL_KEY_FILE"):
    os.environ.pop(inherited, None)

from crm_kit.devstack import InfraStack, free_port  # noqa: E402


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    # CRM_KEEP_TEST_DATA=1 keeps the servers' logs and data for a look after a failure.
    if not os.environ.get("CRM_KEEP_TEST_DATA"):
        shutil.rmtree(TEST_DATA_DIR, ignore_errors=True)


@pytest.fixture(scope="session")
def infra() -> Iterator[InfraStack]:
    external_mongo = os.environ.get("TEST_MONGODB_URI")
    external_nats = os.environ.get("TEST_NATS_URL")
    if external_mongo and external_nats:
        yield InfraStack(TEST_DATA_DIR, 0, 0, mongodb_uri=external_mongo, nats_url=external_nats)
        return
    stack = InfraStack(TEST_DATA_DIR / "servers", free_port(), free_port(), harness=True)
    try:
        yield stack.start()
    finally:
        stack.stop()


@pytest.fixture
def db_name() -> str:
    """A database of its own for each test: no test sees another's documents."""
    return f"t_{uuid4().hex[:12]}"
