"""Several hosts verifying one enumeration: each JAX process takes a share, and the shares'
results are gathered into one.

`Processes` says which process this is of how many, and where their coordinator listens (JAX's
multi-process runtime, `jax.distributed`).  `share` splits a range of machine numbers into
contiguous shares, one per process; `gather` collects one integer vector from every process
(every process gets them all), which is how the counts and mismatches of the shares become one
summary.  On CPU the processes exchange data through Gloo; with one process nothing starts and
`gather` returns the process's own vector.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import jax
import numpy as np
from jax.experimental import multihost_utils

from rasp.errors import UsageError


@dataclass(frozen=True)
class Processes:
    """This process's place among `count` processes coordinated at `coordinator` (host:port)."""

    process_id: int = 0
    count: int = 1
    coordinator: str | None = None

    def __post_init__(self) -> None:
        if self.count < 1 or not 0 <= self.process_id < self.count:
            raise UsageError(f"process {self.process_id} of {self.count}: the id must be in 0..{self.count - 1}")
        if self.count > 1 and not self.coordinator:
            raise UsageError(
                f"{self.count} processes need a coordinator address",
                hint="pass --coordinator HOST:PORT (the same for every process) or set JAX_COORDINATOR_ADDRESS",
            )

    @classmethod
    def from_environment(
        cls, process_id: int | None = None, count: int | None = None, coordinator: str | None = None
    ) -> Processes:
        """The given values, each defaulting to JAX's variable (JAX_PROCESS_ID,
        JAX_NUM_PROCESSES, JAX_COORDINATOR_ADDRESS), else to a single process."""
        environ = os.environ
        return cls(
            int(environ.get("JAX_PROCESS_ID", 0)) if process_id is None else process_id,
            int(environ.get("JAX_NUM_PROCESSES", 1)) if count is None else count,
            environ.get("JAX_COORDINATOR_ADDRESS") if coordinator is None else coordinator,
        )

    def start(self) -> None:
        """Join the other processes (jax.distributed); nothing to do for a single process."""
        if self.count == 1:
            return
        jax.config.update("jax_cpu_collectives_implementation", "gloo")
        jax.distributed.initialize(self.coordinator, num_processes=self.count, process_id=self.process_id)

    def share(self, start: int, stop: int) -> range:
        """This process's contiguous share of range(start, stop): the shares of all processes
        partition it, and their sizes differ by at most one."""
        size, extra = divmod(stop - start, self.count)
        first = start + self.process_id * size + min(self.process_id, extra)
        return range(first, first + size + (self.process_id < extra))

    def gather(self, vector: np.ndarray) -> np.ndarray:
        """Every process's `vector` (one length for all), stacked in process order."""
        if self.count == 1:
            return np.asarray(vector)[None]
        return np.asarray(multihost_utils.process_allgather(np.asarray(vector)))
