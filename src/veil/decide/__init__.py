"""The learned face/not-face decision: detect -> track -> **decide** -> mask.

The video face network is run at a low threshold for recall, so it also fires
on lanterns, signs and windows, and they come back on every detected frame.
No single score separates them from weak real faces, but many weak signals
together do: how a second and a third network score the same spot (run on the
whole frame, see :class:`FrameVerifier`), how steady the scores
are, the box's size and shape, how it moves in the scene, how often it is seen.
:class:`FaceTrackDecider` gathers that evidence per track as the tracker
associates detections, and a small model fitted at development time on
training clips (``tools/decide_train.py``, never on evaluation data) turns it
into P(face). A track is masked once P(face) reaches the model's operating
threshold, which was chosen on the training clips for recall first.
"""

from .evidence import EVIDENCE, FEATURES, FrameVerifier, track_features
from .model import DecisionModel, load_bundled
from .tracks import FaceTrackDecider

__all__ = [
    "EVIDENCE",
    "FEATURES",
    "FrameVerifier",
    "DecisionModel",
    "FaceTrackDecider",
    "load_bundled",
    "track_features",
]
