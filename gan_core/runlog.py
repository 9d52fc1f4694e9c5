"""What a run's folder keeps of the training loop's events, as a consumer of them: a row of
metrics.jsonl per logged step, a row of quality.jsonl per measurement, a PNG per sample grid
(where the event says it is). The page, the CLI and TensorBoard (gan_core.board) read these."""

from __future__ import annotations

from . import events as ev
from . import files, images, runfolder


class RunLog:
    def __init__(self, folder: runfolder.Run):
        self.folder = folder

    def __call__(self, event: ev.Event):
        match event:
            case ev.Metrics():
                self.folder.append(runfolder.METRICS, {"step": event.step, **event.values()})
            case ev.Quality():
                self.folder.append(runfolder.QUALITY, {"step": event.step, **event.values})
            case ev.Samples():
                files.write_bytes(event.path, images.png_bytes(images.grid(event.images, 8)))
