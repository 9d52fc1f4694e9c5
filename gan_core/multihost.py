"""Training across processes and hosts: JAX's own multi-process runtime, through Keras'
distribution API (keras.distribution.initialize, which calls jax.distributed.initialize).

    python -m gan_core train ... --coordinator HOST:PORT --num-processes N --process-id I

Every process runs the same loop on the same seed: each draws the same global batch and
noise (gan_core.noise), and hands the step its global arrays; JAX keeps on each process only
the rows of its own devices, and XLA's collectives (Gloo between CPU processes, NCCL between
GPUs) sum the gradients. So N processes of one device each take the same steps as one
process with N devices (a test checks it).

Process 0 alone writes the run folder. The others read it on --resume, so it must be on a
filesystem every process sees (one machine, or a lab's shared folder). Keras 3 with
TensorFlow's MultiWorkerMirroredStrategy is reported broken (keras-team/keras #20585), so
this is JAX only.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

ENV = {   # what Keras reads first, then what JAX reads
    "coordinator": ("KERAS_DISTRIBUTION_JOB_ADDRESSES", "JAX_COORDINATOR_ADDRESS"),
    "num_processes": ("KERAS_DISTRIBUTION_NUM_PROCESSES", "JAX_NUM_PROCESSES"),
    "process_id": ("KERAS_DISTRIBUTION_PROCESS_ID", "JAX_PROCESS_ID"),
}


@dataclass(frozen=True)
class Processes:
    coordinator: str | None = None
    num_processes: int = 1
    process_id: int = 0

    @classmethod
    def from_flags(cls, coordinator=None, num_processes=None, process_id=None) -> Processes:
        """The three settings from the flags, else from the environment; checked."""
        def env(name):
            return next((os.environ[v] for v in ENV[name] if os.environ.get(v)), None)

        coordinator = coordinator or env("coordinator")
        try:
            n = int(num_processes if num_processes is not None else env("num_processes") or 1)
            i = int(process_id if process_id is not None else env("process_id") or 0)
        except ValueError:
            raise ValueError("--num-processes and --process-id must be whole numbers") from None
        if not 1 <= n <= 4096:
            raise ValueError("--num-processes must be between 1 and 4,096")
        if not 0 <= i < n:
            raise ValueError(f"--process-id must be between 0 and {n - 1} "
                             f"(--num-processes {n})")
        if n > 1 and not coordinator:
            raise ValueError("several processes need --coordinator HOST:PORT (process 0's "
                             "address, the same for every process)")
        if coordinator and ":" not in coordinator:
            raise ValueError(f"--coordinator must be HOST:PORT, not {coordinator!r}")
        return cls(coordinator, n, i)

    @property
    def many(self) -> bool:
        return self.num_processes > 1

    @property
    def writes(self) -> bool:
        """Whether this process writes the run folder: process 0 only."""
        return self.process_id == 0

    def check(self, batch_size: int):
        import keras

        if not self.many:
            return
        if keras.backend.backend() != "jax":
            raise ValueError("training across processes runs on the JAX backend: set "
                             "KERAS_BACKEND=jax on every process")
        if batch_size % self.num_processes:
            raise ValueError(f"--num-processes {self.num_processes} does not divide the batch "
                             f"{batch_size}: each process takes an equal share")

    def start(self):
        """Join the others (before anything runs on JAX); returns when all N have joined.
        An unreachable coordinator fails here, after JAX's own timeout."""
        if not self.many:
            return
        import keras

        try:
            keras.distribution.initialize(self.coordinator, self.num_processes,
                                          self.process_id)
        except Exception as error:   # JAX raises XlaRuntimeError and others, with pages of text
            first = str(error).strip().splitlines()[0] if str(error).strip() else ""
            raise ValueError(f"process {self.process_id} could not join the coordinator at "
                             f"{self.coordinator}: {first[:300]}") from None


def process_count() -> int:
    """How many processes train together: more than 1 only on JAX under `Processes.start`
    (TensorFlow, and a machine without JAX, always train alone)."""
    import keras

    if keras.backend.backend() != "jax":
        return 1
    import jax
    return jax.process_count()


def stop_agreed(stopped: bool) -> bool:
    """Process 0's answer to "stop now?", for every process, so all leave the loop at the
    same step (a process that left alone would leave the others waiting in a collective).
    Only for several processes (process_count() > 1): it is a collective itself."""
    import numpy as np
    from jax.experimental import multihost_utils

    return bool(multihost_utils.broadcast_one_to_all(np.int32(stopped)))


def local(value):
    """A global array as this process's copy (replicated values: every process has one)."""
    if getattr(value, "is_fully_addressable", True):
        return value
    return value.addressable_data(0)
