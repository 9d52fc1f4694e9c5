"""The perf scripts run, tiny, so that none rots between the sessions that measure with them
(their figures are in docs/PERFORMANCE.md; timings never are asserted here)."""

import json
import os
import subprocess
import sys

import pytest

from tests.conftest import ROOT


def run(*cmd, timeout=600, **env):
    done = subprocess.run(list(map(str, cmd)), cwd=ROOT, capture_output=True, text=True,
                          timeout=timeout, env={**os.environ, "PYTHONPATH": str(ROOT), **env})
    assert done.returncode == 0, done.stderr[-3000:]
    return done.stdout


def test_projection_script_reports_every_figure(tmp_path):
    out = json.loads(run(sys.executable, "tests/perf/projection.py", "--recover", 2, "--real",
                         0, "--drawn", 8, "--steps", 3, "--restarts", 1, "--grid",
                         tmp_path / "grid.png").strip().splitlines()[-1])
    for name in ("recover", "drawn"):
        assert {"lpips", "lpips_vgg", "psnr", "far"} <= set(out[name])
    assert out["seconds"]["p95"] > 0 and (tmp_path / "grid.png").stat().st_size > 0


@pytest.mark.slow
def test_the_gpu_check_runs_tiny_on_a_cpu(tmp_path):
    # On TensorFlow, the default backend: the same script and steps, compiled in a sixth of
    # JAX's time on a CPU (the lent GPU machine runs it on JAX, which it has).
    run("bash", "tests/perf/gpu_check.sh", "--tiny", OUT=tmp_path, PYTHON=sys.executable,
        KERAS_BACKEND="tensorflow")
    bench = json.loads((tmp_path / "bench.json").read_text())
    assert set(bench["ceiling_tflops"]) == {"float32", "bfloat16"}
    assert all(0 < v <= 1 for v in bench["fraction_of_ceiling"].values())
    assert bench["g_latency_model"] == "generator.keras"
    for name in ("dcgan", "studio", "generate"):
        assert json.loads((tmp_path / f"{name}.json").read_text().strip().splitlines()[-1])


# Every other script, at its tiniest, and the keys its figures in docs/PERFORMANCE.md are read
# from. The ones that drive Chromium run where it is installed (CI installs it).
CHEAP = {
    "api_load.py": (["--clients", 4, "--requests", 40, "--rate", 20, "--seconds", 1, "--split"],
                    {"throughput", "at_rate", "cached_304", "cpu_ms_per_avatar"}),
    "bulk_cluster.py": (["--ids", 200, "--workers", 1], {"plain", "cluster", "ratio"}),
    "explorer_load.py": (["--sessions", 2, "--moves", 2], {"p95_ms", "errors"}),
    "first_run.py": (["--steps", 3, "--faces", 256, "--out", "{tmp}"],
                     {"seconds", "img_per_s", "grid"}),
}
IN_CHROMIUM = {
    "explorer_latency.py": (["--moves", 2], {"page", "driver"}),
    "toy_page_soak.py": (["--minutes", 0.05, "--every", 1, "--mode", "2d"],
                         {"server_cores_per_session", "learners_per_server", "fps_mean"}),
    "training_soak.py": (["--minutes", 0.05, "--steps", 3, "--faces", 256, "--batch", 8,
                          "--client", "websocket"],
                         {"headless_img_per_s", "served_img_per_s", "rss_max_mb"}),
}


def test_every_perf_script_is_run_here():
    scripts = {p.name for p in (ROOT / "tests" / "perf").iterdir() if p.suffix in (".py", ".sh")}
    covered = {"projection.py", "gpu_check.sh", "engine_startup.py", *CHEAP, *IN_CHROMIUM,
               "procfs.py"}      # (the scripts' helper, run by those that import it)
    assert scripts == covered, scripts ^ covered


@pytest.mark.slow
@pytest.mark.parametrize("script", [*CHEAP, *IN_CHROMIUM])
def test_each_perf_script_runs_tiny_and_reports_its_figures(script, tmp_path):
    if script in IN_CHROMIUM and not os.path.exists("/usr/bin/chromium"):
        pytest.skip("/usr/bin/chromium is missing (apt-get install chromium)")
    args, keys = {**CHEAP, **IN_CHROMIUM}[script]
    args = [str(a).format(tmp=tmp_path) for a in args]
    out = json.loads(run(sys.executable, f"tests/perf/{script}", *args).strip().splitlines()[-1])
    assert keys <= set(out), (script, sorted(out))


def test_the_engine_start_up_script_times_dask():
    out = run(sys.executable, "tests/perf/engine_startup.py", "dask")
    assert "dask: up and running a task in" in out


def test_the_readme_s_module_map_names_every_module_of_gan_core():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    listed = readme[readme.index("## How it is built"):]
    modules = sorted(p.name for p in (ROOT / "gan_core").glob("*.py") if p.name != "__init__.py")
    modules += sorted(p.parent.name + "/" for p in (ROOT / "gan_core").glob("*/__init__.py"))
    missing = [name for name in modules if f"\n  {name} " not in listed]
    assert not missing, f"README's module map lacks {missing}"
