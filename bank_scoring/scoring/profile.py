"""Where a scoring run's time went: a value returned to the caller, never module state."""

from __future__ import annotations

import resource
import time
from contextlib import contextmanager
from dataclasses import dataclass, field

# score_partition's counters, and the name each gets in a run's profile.
PARTITION_STEPS = {
    "read": "cpu:read customers",
    "validate": "cpu:validate",
    "predict": "cpu:predict",
    "monitor": "cpu:monitor",
    "write": "cpu:write",
}


@dataclass
class RunProfile:
    """Seconds per step of one run, plus each spawned worker's peak resident memory.

    Steps named ``cpu:...`` add up the partitions' time across processes, so they can
    exceed the run's wall time; the others are wall-clock laps of the calling process.
    """

    steps: dict[str, float] = field(default_factory=dict)
    worker_peaks: list[int] = field(default_factory=list)

    def add(self, step: str, seconds: float) -> None:
        self.steps[step] = self.steps.get(step, 0.0) + seconds

    @contextmanager
    def timed(self, step: str):
        started = time.perf_counter()
        try:
            yield
        finally:
            self.add(step, time.perf_counter() - started)

    def add_partition(self, counts: dict) -> None:
        """Add one score_partition result's ``<step>_seconds`` counters."""
        for step, name in PARTITION_STEPS.items():
            self.add(name, counts.get(f"{step}_seconds", 0.0))


def peak_rss_bytes() -> int:
    """This process's peak resident memory so far.

    Linux's VmHWM belongs to the running program; getrusage's ru_maxrss survives exec and
    so reports the parent's peak in a freshly started child, which would mislead.
    """
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
