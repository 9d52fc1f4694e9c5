"""What this machine computes on: the Keras backend and the device (a GPU's name, or the CPU)."""

from __future__ import annotations

import atexit
import functools
import importlib
import json
import os
import platform
import sys
import threading


def _cpuinfo() -> dict[str, str]:
    """The first processor's fields from /proc/cpuinfo ({} where there is none)."""
    info = {}
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            for line in f:
                if not line.strip():
                    break
                key, _, value = line.partition(":")
                info[key.strip()] = value.strip()
    except OSError:
        pass
    return info


def cpu_name() -> str:
    name = _cpuinfo().get("model name")
    return f"CPU: {name or platform.processor() or platform.machine()}"


def cpu_has_bfloat16() -> bool:
    """Whether the CPU computes in bfloat16 (AVX-512 BF16 or AMX)."""
    flags = _cpuinfo().get("flags", "").split()
    return "avx512_bf16" in flags or "amx_bf16" in flags


def gpu_names(backend: str) -> list[str]:
    if backend == "jax":
        import jax
        return [d.device_kind for d in jax.devices() if d.platform == "gpu"]
    if backend == "tensorflow":
        import tensorflow as tf
        return [tf.config.experimental.get_device_details(d).get("device_name", d.name)
                for d in tf.config.list_physical_devices("GPU")]
    return []


def device_info() -> dict:
    """{'backend', 'keras', 'device', 'gpus'}; imports Keras (seconds, the first time)."""
    import keras
    backend = keras.backend.backend()
    gpus = gpu_names(backend)
    return {"backend": backend, "keras": keras.__version__, "gpus": gpus,
            "device": ", ".join(f"GPU: {g}" for g in gpus) if gpus else cpu_name()}


@functools.cache                       # app.py runs on every rerun; this needs doing once
def limit_malloc_arenas(arenas: int = 2) -> bool:
    """Cap glibc's malloc arenas for this process; False where there is no glibc.

    A server that trains in one thread while Streamlit runs each page in a fresh thread, once
    a second, lets glibc spread those threads over up to 8 arenas per core, and what each keeps
    after free() adds up. The training server watched by a browser grew 244 MB in 8 minutes
    with the default; with 2 arenas (and no table in the page's loop) its memory settles after
    a warm-up of ~8 minutes and its median stays within 60 MB over the next 50
    (tests/perf/training_soak.py --minutes 60). Call it early: arenas already made stay."""
    import ctypes
    import ctypes.util

    M_ARENA_MAX = -8                   # glibc's malloc.h
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        return bool(libc.mallopt(M_ARENA_MAX, arenas))
    except (OSError, AttributeError):  # not glibc (macOS, Windows, musl): nothing to do
        return False


def cores() -> int:
    """The CPU cores this process may run on (a container's limit, not the host's count)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:           # not Linux
        return os.cpu_count() or 1


def check_threads(n: int):
    """A thread count a command may ask for (checked before any backend loads)."""
    if not 1 <= n <= 256:
        raise ValueError("--threads must be between 1 and 256")


def serving_threads(requested: int | None = None) -> int:
    """The generator's threads in `serve`: all cores but one unless asked. The event loop
    (HTTP, PNGs) is one thread, and on 2 cores two generator threads contending with it
    served fewer avatars."""
    return max(1, cores() - 1) if requested is None else requested


def limit_threads(n: int):
    """Let the Keras backend's CPU kernels use `n` threads (before its first op). TensorFlow
    only: JAX's CPU thread pool is set by XLA_FLAGS before it starts."""
    check_threads(n)
    import keras

    if keras.backend.backend() == "tensorflow":
        import tensorflow as tf

        tf.config.threading.set_intra_op_parallelism_threads(n)
        tf.config.threading.set_inter_op_parallelism_threads(n)


# --- NumPy's BLAS: one thread ----------------------------------------------------------------

def one_blas_thread():
    """NumPy's matrix products on one thread, for this whole process. The toys multiply
    matrices of a few dozen rows: a second BLAS thread gains nothing there, and when the cores
    are busy (a training job, the other learners' toys, a test beside it) OpenBLAS's threads
    wait for each other and a step takes 30 to 40 times longer (docs/PERFORMANCE.md). A
    server of many users gains more from one thread per request than from two per product."""
    from threadpoolctl import threadpool_limits

    importlib.import_module("numpy")       # its BLAS must be loaded, or nothing is limited
    threadpool_limits(limits=1, user_api="blas")


# --- One framework a process ------------------------------------------------------------------
# requirements.txt installs TensorFlow and JAX, and each imports the other unasked: Keras on JAX
# imports TensorFlow (to seed its generator too, and for a type check when saving a model), and
# TensorFlow imports JAX for its TFLite converter. Neither uses it here, and the import is
# most of a JAX process's start-up (docs/PERFORMANCE.md).

OTHER_FRAMEWORK = {"jax": "tensorflow", "tensorflow": "jax"}


def chosen_backend() -> str | None:
    """The Keras backend this process will run, read as Keras reads it, without importing
    Keras: KERAS_BACKEND, else keras.json's (which Keras writes at its first import), else
    TensorFlow; None where keras.json cannot be read."""
    if os.environ.get("KERAS_BACKEND"):
        return os.environ["KERAS_BACKEND"]
    home = os.environ.get("KERAS_HOME") or os.path.expanduser("~/.keras")
    try:
        with open(os.path.join(home, "keras.json"), encoding="utf-8") as f:
            return json.load(f).get("backend", "tensorflow")
    except FileNotFoundError:
        return "tensorflow"
    except (OSError, ValueError, AttributeError):
        return None


def one_framework():
    """Hide the other framework from this process, as if it were not installed (before
    Keras is imported). Only in the processes gan_core starts (start_up, the local Dask
    workers): a notebook that imports gan_core may want both."""
    other = OTHER_FRAMEWORK.get(chosen_backend())
    if other and other not in sys.modules:
        sys.modules[other] = None        # `import other` raises ImportError from now on


def start_up():
    """What each process gan_core starts (the CLI, the app) does first, before anything
    imports TensorFlow or Keras: its native start-up noise filtered, one framework."""
    quiet_native_logs()
    one_framework()


# --- TensorFlow's start-up lines on a machine without a GPU ------------------------------------
# TensorFlow 2.21 logs through absl before absl is set up, straight to file descriptor 2, so
# TF_CPP_MIN_LOG_LEVEL no longer hides them: "Could not find cuda drivers", "failed call to
# cuInit", oneDNN's and the CPU features' notes, on every start. They read like errors to a
# teacher starting the app. Where no NVIDIA driver is loaded they are noise, and only they are
# dropped; on a GPU machine every line stays.
NOISE = ("All log messages before absl::InitializeLog", "cudart_stub.cc", "cuda_platform.cc",
         "failed call to cuInit", "oneDNN custom operations are on", "cpu_feature_guard.cc",
         "To enable the following instructions", "Unable to register cu")
_quiet = False


def has_nvidia_driver() -> bool:
    return os.path.exists("/proc/driver/nvidia/version")


def quiet_native_logs():
    """Drop TensorFlow's start-up noise from this process's stderr (once; no-op on a GPU
    machine). Python's own sys.stderr keeps writing to the terminal directly, so nothing it
    says is delayed or lost, even at os._exit; only native writes to fd 2 pass the filter."""
    global _quiet
    if _quiet or has_nvidia_driver():
        return
    _quiet = True
    terminal = os.dup(2)
    read, write = os.pipe()
    os.dup2(write, 2)
    os.close(write)
    try:
        sys.stderr.flush()
        sys.stderr = open(terminal, "w", buffering=1, encoding="utf-8", errors="replace",
                          closefd=False)
    except (AttributeError, ValueError):
        pass

    def pump():
        with open(read, "rb", buffering=0) as pipe:
            pending = b""
            while chunk := pipe.read(65536):
                pending += chunk
                *lines, pending = pending.split(b"\n")
                kept = [line for line in lines
                        if not any(n.encode() in line for n in NOISE)]
                if kept:
                    os.write(terminal, b"\n".join(kept) + b"\n")
            if pending:
                os.write(terminal, pending)
    thread = threading.Thread(target=pump, daemon=True, name="stderr-filter")
    thread.start()

    def drain():                      # at a normal exit, what native code wrote last is kept
        os.dup2(terminal, 2)          # the pipe's last writer gone: the pump reads to its end
        thread.join(timeout=2)
    atexit.register(drain)
