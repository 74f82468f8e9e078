"""Fault points for the failure tests, in development mode only: with
`CRM_FAULT_KILL=<point>:<key>` the process kills itself (SIGKILL, as `kill -9` does) when a
request with the idempotency key <key> reaches <point>. So a test can stop a service at a
moment no outside signal could hit reliably, such as between a mutation's commit and the
storing of its result. Production ignores the variable."""

from __future__ import annotations

import logging
import os
import signal

from .auth import development_mode

log = logging.getLogger(__name__)

# After a keyed mutation ran (its writes committed), before its result is stored.
BEFORE_STORING_RESULT = "idempotency.before_store"


def kill_point(point: str, key: str) -> None:
    wanted = os.environ.get("CRM_FAULT_KILL")
    if wanted != f"{point}:{key}" or not development_mode():
        return
    log.error("fault point %s reached: killing the process", point)
    os.kill(os.getpid(), signal.SIGKILL)
