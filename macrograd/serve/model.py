"""The served model: a classifier's weights plus what the server must know to use it.

A serving checkpoint is one safetensors file: the model's state dict (the usual `mg.save`
layout) and, in the header, a JSON description under the key "macrograd.serve":

    {"model": "mlp", "kwargs": {"num_classes": 10, ...},     # rebuilt by models.get_model
     "input_shape": [1, 28, 28], "kind": "image",            # one example's shape; image or vector
     "mean": 0.1307, "std": 0.3081,                          # x = (pixel / 255 - mean) / std
     "classes": ["0", ..., "9"], "center_digit": true}       # MNIST-style centring of uploads

    save_served_model("digits.safetensors", model, "mlp", {"num_classes": 10}, [1, 28, 28], ...)
    served = load_served_model("digits.safetensors"); served.predict(batch)   # probabilities
"""
from __future__ import annotations

import json
import threading
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from .. import models
from ..autograd import no_grad
from ..creation import tensor
from ..io.serialization import read_safetensors, save

METADATA_KEY = "macrograd.serve"


@dataclass
class ServeInfo:
    model: str                      # a name in models.list_models()
    kwargs: dict                    # the builder's arguments
    input_shape: list               # one example, e.g. [1, 28, 28]
    kind: str = "image"             # "image": JSON arrays or uploaded images; "vector": JSON arrays
    mean: float = 0.0               # the training data's normalisation, applied to uploaded images
    std: float = 1.0
    classes: list = field(default_factory=list)
    center_digit: bool = False      # centre uploads by mass in a 28x28 frame, as MNIST's digits are
    metrics: dict = field(default_factory=dict)  # e.g. {"test_acc": 0.97}, shown by /metadata


def save_served_model(path, model, name: str, kwargs: dict, input_shape, **info) -> None:
    """Write `model`'s weights and its ServeInfo (see the module docstring) to `path`."""
    meta = ServeInfo(name, dict(kwargs), list(input_shape), **info)
    if meta.kind not in ("image", "vector"):
        raise ValueError(f"save_served_model: kind must be 'image' or 'vector', got {meta.kind!r}")
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    save(model.state_dict(), path, metadata={METADATA_KEY: json.dumps(asdict(meta))})


class ServedModel:
    """A model in eval mode and its ServeInfo; `predict` is safe to call from many threads."""

    def __init__(self, model, info: ServeInfo):
        self.model, self.info = model.eval(), info
        self.lock = threading.Lock()  # grad mode is global: one forward at a time
        self.num_parameters = sum(int(p.numel()) for p in model.parameters())

    def predict(self, batch: np.ndarray) -> np.ndarray:
        """Class probabilities (N, num_classes) for a float32 batch of shape (N, *input_shape)."""
        with self.lock, no_grad():
            logits = self.model(tensor(batch)).numpy()
        shifted = np.exp(logits - logits.max(axis=1, keepdims=True))
        return shifted / shifted.sum(axis=1, keepdims=True)


def load_served_model(path) -> ServedModel:
    arrays, metadata = read_safetensors(path, "serve")
    if METADATA_KEY not in metadata:
        raise ValueError(f"serve: {path} is not a serving checkpoint (no {METADATA_KEY!r} in its header); "
                         f"write one with macrograd.serve.save_served_model")
    info = ServeInfo(**json.loads(metadata[METADATA_KEY]))
    model = models.get_model(info.model, **info.kwargs)
    model.load_state_dict({k: tensor(v) for k, v in arrays.items()})
    return ServedModel(model, info)
