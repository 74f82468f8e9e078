"""`run.py --service-cprofile PATH`: the deals service started through this module, which
runs `python -m crm_deals` as usual with a CPU-time profiler (cProfile over
`time.process_time`: a wait for the core on a loaded machine is not counted) switched on
by SIGUSR1 and written to `$SERVICE_CPROFILE` and switched off by SIGUSR2, so the profile
covers the phase the bench brackets (the moves) and not the start-up scan. Nothing of the
service's code changes.
"""

from __future__ import annotations

import cProfile
import os
import runpy
import signal
import sys
import time
from pathlib import Path
from types import FrameType

ROOT = Path(__file__).resolve().parents[2]
for sub in ("libs", "services/deals"):
    sys.path.insert(0, str(ROOT / sub))

_profiler = cProfile.Profile(time.process_time)


def _start(signum: int, frame: FrameType | None) -> None:
    _profiler.enable()


def _stop(signum: int, frame: FrameType | None) -> None:
    _profiler.disable()
    _profiler.dump_stats(os.environ["SERVICE_CPROFILE"])


def main() -> None:
    signal.signal(signal.SIGUSR1, _start)
    signal.signal(signal.SIGUSR2, _stop)
    runpy.run_module("crm_deals", run_name="__main__", alter_sys=True)


if __name__ == "__main__":
    main()
