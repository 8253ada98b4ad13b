"""A run folder: everything one training run leaves behind, in files a person can open.

    runs/mnist-mlp/
        config.json        the exact settings (enough to reproduce the run)
        metrics.jsonl      one JSON object per line, per logged step and per epoch
        summary.json       the final numbers (test accuracy, wall time, ...)
        *.png              plots
        checkpoint.safetensors, best.safetensors
"""
from __future__ import annotations

import dataclasses
import json
import os
import math
from pathlib import Path


def _jsonable(value):
    """Plain JSON for dataclasses, tuples, NumPy scalars and non-finite floats (as strings)."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return _jsonable(dataclasses.asdict(value))
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if hasattr(value, "item") and not isinstance(value, (str, bytes)):  # NumPy scalar
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)  # JSON has no NaN or inf; keep the file valid
    if isinstance(value, Path):
        return str(value)
    return value


class RunFolder:
    """Paths and writers for one run; `RunFolder(path)` creates the folder if needed."""

    def __init__(self, path):
        self.path = Path(path)
        self.path.mkdir(parents=True, exist_ok=True)

    def file(self, name: str) -> Path:
        return self.path / name

    @property
    def metrics_path(self) -> Path:
        return self.path / "metrics.jsonl"

    @property
    def checkpoint_path(self) -> Path:
        """The full training state (model, optimizer, scheduler, RNG, epoch), for --resume."""
        return self.path / "checkpoint.safetensors"

    @property
    def best_path(self) -> Path:
        """The model weights of the best epoch so far (by the monitored metric)."""
        return self.path / "best.safetensors"

    def write_json(self, name: str, data) -> Path:
        """Write `data` as JSON, atomically (a temporary file renamed over the old one)."""
        path = self.path / name
        temporary = path.with_name(path.name + ".tmp")
        temporary.write_text(json.dumps(_jsonable(data), indent=2) + "\n")
        os.replace(temporary, path)
        return path

    def read_json(self, name: str):
        return json.loads((self.path / name).read_text())

    def write_text(self, name: str, text: str) -> Path:
        path = self.path / name
        path.write_text(text)
        return path


class MetricsLog:
    """Appends records to a JSON-lines file: one `json.dumps(record)` per line, flushed as it goes,
    so that a crashed run still leaves every line it logged."""

    def __init__(self, path, keep_records: bool = True):
        self.path = Path(path)
        self.records: list[dict] = []
        self.keep_records = keep_records
        self._file = None

    def open(self, truncate_after_epoch: int | None = None) -> "MetricsLog":
        """Open for appending. When resuming after epoch E, lines logged after E by the interrupted
        run are dropped so the file ends up as an uninterrupted run's would."""
        if truncate_after_epoch is None:
            self.path.write_text("")
        else:
            kept = [r for r in read_jsonl(self.path) if r.get("epoch", 0) <= truncate_after_epoch]
            self.path.write_text("".join(json.dumps(_jsonable(r)) + "\n" for r in kept))
            self.records = kept if self.keep_records else []
        self._file = open(self.path, "a")
        return self

    def log(self, record: dict) -> None:
        record = _jsonable(record)
        if self.keep_records:
            self.records.append(record)
        if self._file is not None:
            self._file.write(json.dumps(record) + "\n")
            self._file.flush()

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None


def read_jsonl(path) -> list[dict]:
    """All records of a JSON-lines file (an empty list when it does not exist)."""
    path = Path(path)
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
