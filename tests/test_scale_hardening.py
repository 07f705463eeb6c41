"""Scale fixes from the review of issue 30: each test fails on the code before."""

from __future__ import annotations

import importlib.util
import itertools

import pytest

from media_factory import make_clip
from scale_helpers import flicker_engine
from veil.scale import run as scale_run
from veil.scale.segments import SegmentError, mask_segment, plan_video
from veil.settings import DetectSettings, EncodeSettings, MaskSettings, Settings

SETTINGS = Settings(
    detect=DetectSettings(targets=("face",)),
    mask=MaskSettings(method="fill"),
    encode=EncodeSettings(crf=0, preset="ultrafast"),
)


def test_a_local_clusters_dashboard_listens_on_this_machine_only(monkeypatch):
    """Issue 30.5: Dask turns ``dashboard_address=":0"`` into every interface."""
    distributed = pytest.importorskip("distributed")
    seen: dict[str, object] = {}

    class Cluster:
        def __init__(self, **kw: object) -> None:
            seen.update(kw)

        def __enter__(self) -> Cluster:
            return self

        def __exit__(self, *exc: object) -> None:
            pass

    real_find = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util, "find_spec", lambda n, *a: object() if n == "bokeh" else real_find(n, *a)
    )
    monkeypatch.setattr(distributed, "LocalCluster", Cluster)
    monkeypatch.setattr(distributed, "Client", lambda cluster: Cluster())
    monkeypatch.delenv("VEIL_DASHBOARD", raising=False)
    with scale_run.connect(workers=1):
        pass
    assert seen["dashboard_address"] == "127.0.0.1:0"
    monkeypatch.setenv("VEIL_DASHBOARD", "0.0.0.0:8787")  # the user's explicit choice
    with scale_run.connect(workers=1):
        pass
    assert seen["dashboard_address"] == "0.0.0.0:8787"


def test_a_short_segment_piece_never_gets_its_final_name(tmp_path):
    """Issue 30.6: the frame count was checked after the piece was renamed into place,
    so a resumed run took the short piece as done."""
    src = make_clip(tmp_path / "long.mp4", frames=60, gop=10)
    plan = plan_video(src, SETTINGS, 20)
    assert plan is not None
    seg = plan.segments[0]
    engine = flicker_engine(SETTINGS)
    real = engine.video_regions

    def one_short(*a, **kw):
        return itertools.islice(real(*a, **kw), seg.end - seg.read_from - 1)

    engine.video_regions = one_short  # type: ignore[method-assign]
    piece = tmp_path / "parts" / "piece-0.mp4"
    with pytest.raises(SegmentError, match="wrote"):
        mask_segment(engine, src, piece, seg, last=False)
    assert not piece.exists()
    assert not any(p.is_file() for p in piece.parent.iterdir())  # no temporary left either
