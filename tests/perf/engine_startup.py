"""How fast a distributed engine starts and runs tiny tasks here: the figures behind choosing
Dask over Ray for bulk avatars (docs/PERFORMANCE.md). Measures whichever is installed.

    .venv/bin/python tests/perf/engine_startup.py dask      # or: ray (pip install "ray[data]")
"""

import sys
import time


def dask():
    from distributed import Client, LocalCluster
    start = time.perf_counter()
    client = Client(LocalCluster(n_workers=2, threads_per_worker=1, dashboard_address=None))
    client.submit(sum, [1, 2]).result()
    up = time.perf_counter()
    client.gather(client.map(lambda x: x + 1, range(1000)))
    done = time.perf_counter()
    client.close()
    return up - start, (done - up)


def ray():
    import ray as engine
    start = time.perf_counter()
    engine.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    task = engine.remote(lambda x: x + 1)
    engine.get(task.remote(1))
    up = time.perf_counter()
    engine.get([task.remote(i) for i in range(1000)])
    done = time.perf_counter()
    engine.shutdown()
    return up - start, (done - up)


if __name__ == "__main__":
    name = sys.argv[1] if len(sys.argv) > 1 else "dask"
    up, tasks = {"dask": dask, "ray": ray}[name]()
    print(f"{name}: up and running a task in {up:.2f} s; 1,000 tiny tasks at {tasks:.2f} ms each")
