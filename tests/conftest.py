import os
import sys
from pathlib import Path

# The suite runs on as many pytest-xdist workers as cores (pytest.ini): each worker, and every
# process a test starts, keeps NumPy's BLAS to one thread, or the workers' threads wait on each
# other (gan_core.system.one_blas_thread says how much that costs).
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

ROOT = Path(__file__).resolve().parent.parent

# Every JAX process the suite starts builds the same small networks and steps, and on JAX each
# initializer's shape is a program of its own: JAX's persistent cache lets each be compiled
# once, by whichever process needs it first (the key is the program itself, so a change of code
# compiles anew).
os.environ.setdefault("JAX_COMPILATION_CACHE_DIR", str(ROOT / ".pytest_cache" / "jax-compiled"))
os.environ.setdefault("JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS", "0")
# and XLA compiles them without its expensive passes: the suite's networks are tiny, so
# compiling costs far more than running, and both sides of every comparison compile alike.
os.environ.setdefault("JAX_DISABLE_MOST_OPTIMIZATIONS", "1")
sys.path.insert(0, str(ROOT))  # import gan_core and pages from the checkout


def pytest_xdist_auto_num_workers(config):
    """-n auto: one worker a core, at most 4 (each imports TensorFlow: about 1 GB)."""
    return max(1, min(4, len(os.sched_getaffinity(0))))


def pytest_collection_modifyitems(items):
    """The modules with slow or browser tests first (each module kept whole, so its fixtures
    are made once): pytest-xdist hands tests out in this order, and a minute-long test begun
    last would leave the other worker idle while it ends."""
    heavy = {item.module for item in items
             if item.get_closest_marker("slow") or item.get_closest_marker("browser")}
    items.sort(key=lambda item: item.module not in heavy)    # stable: the order within kept
