"""The job shop's searches on worker threads: one loop per thread, the calling thread polling."""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from dataclasses import dataclass

from makespan.models.jssp.instance import JobShopSolution
from makespan.models.spec import ShouldStop

OnSolution = Callable[[str, JobShopSolution, float], None]
"""``on_solution(method, solution, objective)``: the solve's taker of each improvement."""


@dataclass(frozen=True)
class Budget:
    """What a search of the kind runs within: until ``deadline`` (``time.monotonic()``) or
    ``should_stop()``, on ``workers`` threads (None: as many as the cores) seeded from
    ``seed``, handing improvements to ``on_solution`` when there is one."""

    deadline: float
    should_stop: ShouldStop
    workers: int | None = 1
    seed: int = 0
    on_solution: OnSolution | None = None


def on_workers(
    work: Callable[[int], None],
    workers: int | None,
    seed: int,
    poll: Callable[[], None],
    poll_s: float,
) -> None:
    """Run ``work(seed + t)`` on each of ``workers`` threads (as many as the cores for None)
    and call ``poll()`` from the calling thread every ``poll_s`` while any runs, once more
    after the last ends: the searches' kernels and CP-SAT release the GIL, and the solve's
    callbacks (checking, streaming, checkpointing) stay on the thread that started it."""
    threads = [
        threading.Thread(target=work, args=(seed + t,), daemon=True)
        for t in range(max(1, workers or os.cpu_count() or 1))
    ]
    for thread in threads:
        thread.start()
    while alive := [thread for thread in threads if thread.is_alive()]:
        alive[0].join(poll_s)
        poll()
    poll()  # the threads may all end before the first poll: their last word still counts
