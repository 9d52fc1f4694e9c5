"""Server settings, from environment variables, so a teacher sets them once per server.

    GAN_STUDIO_RUNS                 where training runs live (default: runs/ in the app folder)
    GAN_STUDIO_DATA_ROOT            the only folder the training page may read data from
                                    (default: data/ in the app folder)
    GAN_STUDIO_ALLOW_MODEL_UPLOAD   1 lets users upload .keras generators (default 0: a model
                                    file is a program; leave it off on a shared server)
    GAN_STUDIO_MAX_UPLOAD_MB        the largest upload (default 200)
    GAN_STUDIO_MAX_UPLOAD_FILES     the most images in an uploaded .zip (default 100000)
    GAN_STUDIO_WATCH_OTHERS         1 lets every session watch (not control) others' jobs
    GAN_STUDIO_API                  1 lets `streamlit run app_api.py` mount the avatar API
                                    (/api/v1/...) beside the app (default 0: off; the
                                    classroom's `streamlit run app.py` never mounts it)
    GAN_STUDIO_API_TOKEN            the bearer token the API then asks for (default: none)
    GAN_STUDIO_API_RATE_LIMIT       requests per second per client (default 100; 0: none)
    GAN_STUDIO_CLUSTER              a Dask scheduler (tcp://HOST:8786, or "local") whose
                                    workers train the training page's jobs, several at once
    GAN_STUDIO_PROJECT_STEPS        Adam steps of the explorer's "Start from a picture"
                                    (default: gan_core.project's; fewer on a slow shared server)
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SHIPPED_GENERATOR = ROOT / "assets" / "generator" / "generator.keras"


API_RATE_LIMIT = 100.0     # the avatar API's requests per second per client, by default


def _flag(name: str) -> bool:
    return os.environ.get(name, "0").strip().lower() in ("1", "true", "yes", "on")


@dataclass(frozen=True)
class Settings:
    runs: Path
    data_root: Path
    allow_model_upload: bool
    max_upload_mb: int
    max_upload_files: int
    watch_others: bool
    api: bool = False
    api_token: str | None = None
    api_rate_limit: float = 100.0
    cluster: str | None = None      # a Dask scheduler whose workers train the jobs
    project_steps: int | None = None   # None: gan_core.project's default

    @property
    def uploads(self) -> Path:
        """Where uploads are kept (gan_core.sources): beside the runs."""
        from . import runfolder

        return self.runs / runfolder.UPLOADS

    @classmethod
    def from_env(cls) -> Settings:
        return cls(runs=Path(os.environ.get("GAN_STUDIO_RUNS", ROOT / "runs")),
                   data_root=Path(os.environ.get("GAN_STUDIO_DATA_ROOT", ROOT / "data")),
                   allow_model_upload=_flag("GAN_STUDIO_ALLOW_MODEL_UPLOAD"),
                   max_upload_mb=int(os.environ.get("GAN_STUDIO_MAX_UPLOAD_MB", 200)),
                   max_upload_files=int(os.environ.get("GAN_STUDIO_MAX_UPLOAD_FILES", 100_000)),
                   watch_others=_flag("GAN_STUDIO_WATCH_OTHERS"),
                   api=_flag("GAN_STUDIO_API"),
                   api_token=os.environ.get("GAN_STUDIO_API_TOKEN") or None,
                   api_rate_limit=float(os.environ.get("GAN_STUDIO_API_RATE_LIMIT",
                                                       API_RATE_LIMIT)),
                   cluster=os.environ.get("GAN_STUDIO_CLUSTER") or None,
                   project_steps=int(os.environ.get("GAN_STUDIO_PROJECT_STEPS") or 0) or None)

