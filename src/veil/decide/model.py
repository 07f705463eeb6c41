"""A small decision model stored as plain arrays in JSON, evaluated with numpy.

Why not ONNX: the model is a standardisation and one or two dense layers; as
arrays it is readable in a diff, needs no runtime graph, and its provenance
(training data, recipe, validation figures) travels in the same file.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import ModelError
from .evidence import FEATURES

MODELS = Path(__file__).resolve().parents[1] / "models"
#: the bundled decision for video face tracks (``tools/decide_train.py``)
VIDEO_FACE_TRACKS = MODELS / "decide_video_faces.json"


def read_model_file(path: str | Path) -> tuple[Any, bytes]:
    """A decision model file's JSON and its bytes; unreadable: veil's ModelError."""
    p = Path(path)
    try:
        raw = p.read_bytes()
        return json.loads(raw), raw
    except (OSError, ValueError) as exc:
        raise ModelError(f"cannot read decision model {p}: {exc}") from exc


@dataclass(frozen=True, eq=False)
class DecisionModel:
    """P(positive) = sigmoid of a small ReLU network over standardised features.

    ``layers`` is a list of (weights (in, out), bias (out,)); the last layer has
    one output. ``threshold`` is the operating point chosen at training time.
    """

    features: tuple[str, ...]
    mean: np.ndarray
    scale: np.ndarray
    layers: tuple[tuple[np.ndarray, np.ndarray], ...]
    threshold: float
    info: dict[str, Any]
    sha256: str = ""

    def __post_init__(self) -> None:
        n = len(self.features)
        if self.mean.shape != (n,) or self.scale.shape != (n,):
            raise ModelError(f"decision model: mean and scale must have {n} entries")
        width = n
        for i, (w, b) in enumerate(self.layers):
            if w.ndim != 2 or w.shape[0] != width or b.shape != (w.shape[1],):
                raise ModelError(
                    f"decision model: layer {i} has shape {w.shape}, expected ({width}, k)"
                )
            width = w.shape[1]
        if width != 1:
            raise ModelError("decision model: the last layer must have one output")
        if not 0.0 <= self.threshold <= 1.0:
            raise ModelError(f"decision model: threshold must be in [0, 1], got {self.threshold}")

    def predict(self, x: np.ndarray) -> np.ndarray:
        """P(positive) for feature rows ``x`` (N, features) -> (N,)."""
        z = (np.asarray(x, np.float64).reshape(-1, len(self.features)) - self.mean) / self.scale
        for i, (w, b) in enumerate(self.layers):
            z = z @ w + b
            if i < len(self.layers) - 1:
                z = np.maximum(z, 0.0)
        return 1.0 / (1.0 + np.exp(-np.clip(z[:, 0], -40, 40)))

    @classmethod
    def load(cls, path: str | Path, features: tuple[str, ...] = FEATURES) -> DecisionModel:
        """Read a model file; its features must be ``features``, in order."""
        doc, raw = read_model_file(path)
        return cls.from_dict(doc, hashlib.sha256(raw).hexdigest(), features)

    @classmethod
    def from_dict(
        cls, doc: dict[str, Any], sha256: str = "", features: tuple[str, ...] = FEATURES
    ) -> DecisionModel:
        feats = tuple(doc.get("features", ())) if isinstance(doc, dict) else ()
        if feats != features:
            raise ModelError(
                f"decision model: features {list(feats)} do not match this veil's {list(features)}"
            )
        try:
            layers = tuple(
                (np.asarray(layer["w"], np.float64), np.asarray(layer["b"], np.float64))
                for layer in doc["layers"]
            )
            model = cls(
                feats,
                np.asarray(doc["mean"], np.float64),
                np.asarray(doc["scale"], np.float64),
                layers,
                float(doc["threshold"]),
                dict(doc.get("info", {})),
                sha256,
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise ModelError(f"decision model: malformed ({exc})") from exc
        return model

    def to_dict(self) -> dict[str, Any]:
        return {
            "features": list(self.features),
            "mean": self.mean.tolist(),
            "scale": self.scale.tolist(),
            "layers": [{"w": w.tolist(), "b": b.tolist()} for w, b in self.layers],
            "threshold": self.threshold,
            "info": self.info,
        }


_CACHE: dict[Path, DecisionModel] = {}


def load_bundled(
    path: Path = VIDEO_FACE_TRACKS, features: tuple[str, ...] = FEATURES
) -> DecisionModel:
    """A bundled model, read once per process."""
    if path not in _CACHE:
        _CACHE[path] = DecisionModel.load(path, features)
    return _CACHE[path]
