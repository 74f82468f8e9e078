"""Run a service module under cProfile that SIGUSR2 switches on and off (`serve.py
--cprofile NAMES`): the first signal starts a profile of the process's CPU time, the next
stops it and writes `OUT.<n>.prof` (for `pstats`), and so on. A profile of the whole
process life would mostly show the start and the warm-up; this one covers only the
requests sent between two signals.

    python bench/scale/profiled.py crm_contacts /tmp/contacts
"""

from __future__ import annotations

import cProfile
import runpy
import signal
import sys
import time
from types import FrameType


def main() -> None:
    module, out = sys.argv[1], sys.argv[2]
    sys.argv = [module]
    profiler: list[cProfile.Profile] = []
    dumps = [0]

    def toggle(_: int, __: FrameType | None) -> None:
        if not profiler:
            # CPU time, not wall: the process waits for the database most of a request.
            profiler.append(cProfile.Profile(time.process_time))
            profiler[0].enable()
            return
        running = profiler.pop()
        running.disable()
        dumps[0] += 1
        running.dump_stats(f"{out}.{dumps[0]}.prof")

    signal.signal(signal.SIGUSR2, toggle)
    runpy.run_module(module, run_name="__main__", alter_sys=True)


if __name__ == "__main__":
    main()
