"""TensorBoard logs of a run, as a consumer of the training loop's events: losses, quality and
the sample grids, written with the tensorboard package alone (no TensorFlow summary ops), so
the same logs come from either backend."""

from __future__ import annotations

import time

from . import events as ev
from . import images


class Board:
    def __init__(self, folder):
        from tensorboard.compat.proto import event_pb2, summary_pb2
        from tensorboard.summary.writer.event_file_writer import EventFileWriter

        self.event_pb2, self.summary_pb2 = event_pb2, summary_pb2
        self.writer = EventFileWriter(str(folder))

    def __call__(self, event: ev.Event):
        match event:
            case ev.Metrics():
                self.scalars(event.step, event.values())
            case ev.Quality():
                self.scalars(event.step, {f"quality/{k}": v for k, v in event.values.items()})
            case ev.Samples():
                self.image(event.step, images.grid(event.images, 8))

    def _add(self, step, values):
        summary = self.summary_pb2.Summary(value=values)
        self.writer.add_event(self.event_pb2.Event(wall_time=time.time(), step=step,
                                                   summary=summary))

    def scalars(self, step, values):
        Value = self.summary_pb2.Summary.Value
        self._add(step, [Value(tag=k, simple_value=float(v)) for k, v in values.items()
                         if v is not None])

    def image(self, step, grid):
        image = self.summary_pb2.Summary.Image(height=grid.shape[0], width=grid.shape[1],
                                               colorspace=3,
                                               encoded_image_string=images.png_bytes(grid))
        self._add(step, [self.summary_pb2.Summary.Value(tag="samples", image=image)])
        self.writer.flush()

    def close(self):
        self.writer.close()
