"""``veil live``: mask a camera or network stream in real time, failing closed.

The same :class:`~veil.pipeline.Engine` and tracker as ``veil mask``, inside a
latency budget (:mod:`veil.live.runner`), between a PyAV reader for network
sources (:mod:`veil.live.source`) and a writer for streams and files that stay
playable (:mod:`veil.live.sink`). Addresses are shown with their credentials
replaced by ``***`` (:mod:`veil.live.urls`).
"""

from .runner import OVERLOAD_ACTIONS, LiveRun, LiveSettings, LiveStats, run_live, whole_frame
from .urls import redact, redact_text

__all__ = [
    "OVERLOAD_ACTIONS",
    "LiveRun",
    "LiveSettings",
    "LiveStats",
    "redact",
    "redact_text",
    "run_live",
    "whole_frame",
]
