"""tools/softmax_last_axis.py: a Softmax over a middle axis taken over the last, same outputs."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import onnxruntime as ort
import pytest

onnx = pytest.importorskip("onnx")
from onnx import TensorProto, helper  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tools"))
import softmax_last_axis  # noqa: E402

MODELS = Path(__file__).resolve().parents[1] / "src" / "veil" / "models"
INT8_YOLO = ["plate_yolov8n.int8.onnx", "plate_fastanpr.int8.onnx", "face_yolov8n.int8.onnx"]


def _session(model) -> ort.InferenceSession:
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = 2
    return ort.InferenceSession(model.SerializeToString(), opts, providers=["CPUExecutionProvider"])


def _middle_axis_softmaxes(model) -> list[str]:
    ranks = {
        v.name: len(v.type.tensor_type.shape.dim)
        for v in onnx.shape_inference.infer_shapes(model).graph.value_info
    }
    out = []
    for node in model.graph.node:
        if node.op_type == "Softmax" and node.input[0] in ranks:
            axis = next((a.i for a in node.attribute if a.name == "axis"), -1)
            if axis % ranks[node.input[0]] != ranks[node.input[0]] - 1:
                out.append(node.name)
    return out


@pytest.mark.parametrize("name", INT8_YOLO)
def test_the_bundled_int8_yolo_models_take_softmax_over_the_last_axis(name: str) -> None:
    model = onnx.load(str(MODELS / name))
    assert any(n.op_type == "Softmax" for n in model.graph.node)
    assert _middle_axis_softmaxes(model) == []


def test_rewriting_the_float_plate_model_keeps_every_output_bit_for_bit() -> None:
    """The float original still has YOLOv8's DFL Softmax over axis 1."""
    model = onnx.load(str(MODELS / "plate_yolov8n.onnx"))
    before = _session(model)
    assert softmax_last_axis.rewrite(model) == 1
    assert _middle_axis_softmaxes(model) == []
    onnx.checker.check_model(model)
    after = _session(model)
    rng = np.random.default_rng(0)
    picture = np.full((1, 3, 384, 640), 0.45, np.float32)
    picture[:, :, 200:240, 300:420] = 0.95  # a bright plate-like bar with dark marks
    picture[:, :, 210:230, 310:410:12] = 0.05
    for x in (picture, rng.random((1, 3, 384, 640), np.float32)):
        name = before.get_inputs()[0].name
        (want,), (got,) = before.run(None, {name: x}), after.run(None, {name: x})
        assert np.array_equal(got, want)


@pytest.mark.parametrize("axis", [0, 1, -2])
def test_a_softmax_without_a_transpose_before_it(axis: int) -> None:
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [5, 7, 3])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, [5, 7, 3])
    graph = helper.make_graph([helper.make_node("Softmax", ["x"], ["y"], axis=axis)], "g", [x], [y])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    before = _session(model)
    assert softmax_last_axis.rewrite(model) == 1
    assert [n.op_type for n in model.graph.node] == ["Transpose", "Softmax", "Transpose"]
    data = np.random.default_rng(1).standard_normal((5, 7, 3)).astype(np.float32) * 4
    want = before.run(None, {"x": data})[0]
    assert np.array_equal(_session(model).run(None, {"x": data})[0], want)
    assert softmax_last_axis.rewrite(model) == 0  # nothing left to do
