"""Stopping on a scheduler's signal: finish the unit of work in hand, save it, exit non-zero.

Slurm warns a job before it ends it: at preemption, at its time limit and on `scancel` it sends
SIGTERM to every process of the job, and SIGKILL `KillWait` (or the partition's `GraceTime`)
seconds later; `sbatch --signal=TERM@120` sends it 120 s before the time limit instead. Killed
outright, a training job loses the steps since its last checkpoint and a generation shard the
chunk in hand. Inside :func:`stop_at_boundaries` the first SIGTERM (or SIGUSR1, the other signal
sites choose for `--signal`) is only recorded; the work polls :func:`stop_requested` at its
boundaries (after a training step, before a generation chunk), saves what it has (a checkpoint;
the chunks already fsynced), and raises :class:`Stopped`. The CLI exits with 128 + the signal's
number, like a process the signal had killed, so Snakemake retries the job (`retries`) or Slurm
requeues it, and the next attempt resumes. Repeats change nothing (`accelerate launch` passes
Slurm's SIGTERM on to workers that got it from Slurm too); SIGKILL, SIGINT, and a signal outside
the block, end the process as before.
"""

from __future__ import annotations

import contextlib
import signal
import threading

STOP_SIGNALS = (signal.SIGTERM, signal.SIGUSR1)

_received: list[int] = []  # the stop signals received inside the current block


class Stopped(RuntimeError):
    """The job stopped at a boundary because a scheduler asked it to; a rerun resumes."""

    def __init__(self, signum: int, where: str):
        self.signum = signum
        super().__init__(f"stopped by {signal.Signals(signum).name} {where}; a rerun resumes")

    @property
    def exit_code(self) -> int:
        return 128 + self.signum


def stop_requested() -> int | None:
    """The stop signal received inside :func:`stop_at_boundaries`, if any."""
    return _received[0] if _received else None


def check_stop(where: str) -> None:
    """Raise :class:`Stopped` if a stop signal came; ``where``: what is saved, for its message."""
    signum = stop_requested()
    if signum is not None:
        raise Stopped(signum, where)


def _record(signum, _frame) -> None:
    if not _received:
        _received.append(signum)


@contextlib.contextmanager
def stop_at_boundaries():
    """Record stop signals instead of dying of them, while the block runs (main thread only;
    elsewhere, and nested, the block changes nothing)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = {s: signal.getsignal(s) for s in STOP_SIGNALS}
    if any(handler is _record for handler in previous.values()):
        yield  # nested: the outer block records
        return
    _received.clear()
    for s in STOP_SIGNALS:
        signal.signal(s, _record)
    try:
        yield
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)
