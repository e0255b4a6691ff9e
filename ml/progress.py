"""How far a long run is, in a small JSON file another process reads: the service's models
page says how far the reader's background training is (service/serving/reader_training.py).

The file is replaced whole (model_folder.write_whole), so a reader never sees half a line;
``None`` writes nothing, so that code which reports progress runs the same without a file.
"""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime
from pathlib import Path

from service.analysis.model_folder import write_whole


class Progress:
    """``stage`` and, within it, ``done`` of ``total`` steps, with what else a person needs
    (an epoch, a version). Steps are written at most every ``every`` seconds."""

    def __init__(self, path: Path | None, *, every: float = 2.0):
        self.path, self.every = (Path(path) if path is not None else None), every
        self._last, self._fields = 0.0, {}

    def stage(self, stage: str, **fields) -> None:
        """A new stage begins: always written."""
        self._fields = {"stage": stage, **fields}
        self._write()

    def step(self, done: int, total: int, **fields) -> None:
        """``done`` of ``total`` steps of the stage: written when ``every`` seconds passed,
        and at its last step."""
        self._fields.update(done=done, total=total, **fields)
        if done == total or time.monotonic() - self._last >= self.every:
            self._write()

    def _write(self) -> None:
        self._last = time.monotonic()
        if self.path is None:
            return
        body = {**self._fields, "updated_at": datetime.now(UTC).isoformat(timespec="seconds")}
        write_whole(self.path, json.dumps(body))
