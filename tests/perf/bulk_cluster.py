"""Bulk avatars, the plain command against a local Dask cluster on the same cores:
avatars/s (whole process, start-up included), time to the first avatar on disk, and the peak
memory of each process (driver, workers).

    .venv/bin/python tests/perf/bulk_cluster.py --ids 1000000 --workers 2
"""

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from procfs import rss_mb  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]


def tree(pid):
    """pid and its descendants (the workers of a local cluster)."""
    children = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError):
                continue
            children.setdefault(ppid, []).append(int(entry.name))
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        out.append(p)
        todo += children.get(p, [])
    return out


def measure(args, extra, out):
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    cmd = [sys.executable, "-m", "gan_core", "generate", "--model", args.model, "--ids",
           args.ids_file, "--out", str(out), "--json", *extra]
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, env=env, cwd=ROOT, stdout=subprocess.PIPE,
                            stderr=subprocess.DEVNULL, text=True)
    peak, first = {}, None
    while proc.poll() is None:
        for pid in tree(proc.pid):
            try:
                peak[pid] = max(peak.get(pid, 0), rss_mb(pid))
            except (OSError, ValueError):
                pass
        if first is None and out.is_dir() and any(out.glob("*.png")):
            first = time.perf_counter() - start
        time.sleep(0.5)
    wall = time.perf_counter() - start
    assert proc.returncode == 0, proc.returncode
    result = json.loads(proc.stdout.read().splitlines()[-1])
    driver = peak.pop(proc.pid, 0)
    return {"n": result["n"], "wall_s": round(wall, 1), "avatars_per_s": round(result["n"] / wall),
            "first_avatar_s": first and round(first, 1), "driver_peak_mb": round(driver),
            "other_peak_mb": sorted(round(v) for v in peak.values() if v > 50)}


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--ids", type=int, default=100_000)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--model", default=str(ROOT / "assets/generator/generator.keras"))
    parser.add_argument("--only", choices=["plain", "cluster"])
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        args.ids_file = f"{tmp}/ids.txt"
        with open(args.ids_file, "w") as f:
            f.writelines(f"player-{i}\n" for i in range(args.ids))
        rows = {}
        for name, extra in (("plain", []),
                            ("cluster", ["--cluster", "local", "--workers", str(args.workers)])):
            if args.only in (None, name):
                rows[name] = measure(args, extra, Path(tmp) / name)
                print(name, json.dumps(rows[name]), flush=True)
                shutil.rmtree(Path(tmp) / name)
        if len(rows) == 2:
            rows["ratio"] = round(rows["cluster"]["avatars_per_s"] /
                                  rows["plain"]["avatars_per_s"], 3)
        print(json.dumps(rows))


if __name__ == "__main__":
    main()
