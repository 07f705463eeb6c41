"""Temporal tracking for videos: detect -> **track** -> mask.

:class:`Tracker` associates per-frame detections online (ByteTrack-like);
:class:`OfflineTracker` wraps it in a bounded look-ahead window that fills
gaps, extends tracks before/after, steadies and motion-expands the boxes;
:class:`SceneCutDetector` tells it where to restart; :class:`CameraMotion`
measures the camera's shift so tracks live in scene coordinates.
"""

from .motion import STILL, CameraMotion, Motion, SceneView
from .offline import FinalFrame, OfflineTracker
from .scenecut import SceneCutDetector
from .tracker import TrackConfig, Tracker

__all__ = [
    "STILL",
    "CameraMotion",
    "Motion",
    "FinalFrame",
    "OfflineTracker",
    "SceneCutDetector",
    "SceneView",
    "TrackConfig",
    "Tracker",
]
