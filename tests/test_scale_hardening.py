"""Scale fixes from the review of issue 30: each test fails on the code before."""

from __future__ import annotations

import importlib.util

import pytest

from veil.scale import run as scale_run


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
