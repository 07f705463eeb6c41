"""Rewrite an ONNX graph's Softmax over a middle axis as a Softmax over the last axis.

YOLOv8's box head (DFL) takes a Softmax over axis 1 of a (1, 16, 4, N) tensor that a
Transpose has just made. onnxruntime computes a Softmax over a middle axis by
transposing that axis last, taking the Softmax and transposing back, and its
general transposes of this shape are slow: at 960x544 the Softmax took 8-9 ms of a
53 ms int8 plate run, the Softmax itself under 1 ms (docs/decide.md, Speed).

Here the Softmax is given its axis last by one Transpose that also takes in the
Transpose before it, and a second Transpose puts the result back where the next
node expects it. Every Softmax row holds the same values in the same order as in
onnxruntime's own detour, so the outputs are bit-identical (tests/test_softmax_last_axis.py
checks it on the float plate model), and the two transposes are of kinds onnxruntime does
fast (2.5 ms for the whole block).

    python tools/softmax_last_axis.py src/veil/models/plate_yolov8n.int8.onnx ...

rewrites the files in place and prints their sha256; ``tools/quantize_plates.py`` and
``tools/quantize_faces.py`` apply it to the int8 copies they write.
"""

from __future__ import annotations

import argparse
import hashlib
from pathlib import Path

import onnx
from onnx import helper


def _inverse(perm: list[int]) -> list[int]:
    inv = [0] * len(perm)
    for i, p in enumerate(perm):
        inv[p] = i
    return inv


def rewrite(model: onnx.ModelProto) -> int:
    """Give every Softmax over a middle axis its axis last; the number rewritten.

    Only Softmax nodes of opset 13 and later (one axis) whose input rank is known are
    touched; a Transpose feeding nothing but the Softmax is folded into the first new
    one.
    """
    opset = max((o.version for o in model.opset_import if o.domain in ("", "ai.onnx")), default=0)
    if opset < 13:
        return 0
    inferred = onnx.shape_inference.infer_shapes(model)
    ranks = {
        v.name: len(v.type.tensor_type.shape.dim)
        for v in [*inferred.graph.value_info, *inferred.graph.input, *inferred.graph.output]
        if v.type.tensor_type.HasField("shape")
    }
    graph = model.graph
    outputs = {o.name for o in graph.output}
    consumers: dict[str, int] = {}
    for node in graph.node:
        for name in node.input:
            consumers[name] = consumers.get(name, 0) + 1
    producer = {out: node for node in graph.node for out in node.output}
    done = 0
    nodes = list(graph.node)
    for node in nodes:
        if node.op_type != "Softmax" or node.domain not in ("", "ai.onnx"):
            continue
        rank = ranks.get(node.input[0])
        if rank is None:
            continue
        axis = next((a.i for a in node.attribute if a.name == "axis"), -1) % rank
        if axis == rank - 1:
            continue
        move = [i for i in range(rank) if i != axis] + [axis]  # the axis last, others in order
        source = node.input[0]
        before = producer.get(source)
        folded = (
            before is not None
            and before.op_type == "Transpose"
            and consumers.get(source) == 1
            and source not in outputs
        )
        if folded:
            perm = list(next(a.ints for a in before.attribute if a.name == "perm"))
            first_perm = [perm[i] for i in move]
            first_input = before.input[0]
        else:
            first_perm, first_input = move, source
        name = node.name or f"softmax_{done}"
        last = f"{name}/last_axis"
        first = helper.make_node(
            "Transpose", [first_input], [f"{last}/in"], name=f"{last}/Transpose_in", perm=first_perm
        )
        soft = helper.make_node(
            "Softmax", [f"{last}/in"], [f"{last}/out"], name=f"{last}/Softmax", axis=-1
        )
        back = helper.make_node(
            "Transpose", [f"{last}/out"], [node.output[0]], name=f"{last}/Transpose_out",
            perm=_inverse(move),
        )  # fmt: skip
        at = list(graph.node).index(node)
        graph.node.remove(node)
        for k, new in enumerate((first, soft, back)):
            graph.node.insert(at + k, new)
        if folded:
            graph.node.remove(before)
        done += 1
    return done


def rewrite_file(path: Path) -> int:
    """:func:`rewrite` a model file in place (left untouched when nothing changes)."""
    model = onnx.load(str(path))
    n = rewrite(model)
    if n:
        onnx.checker.check_model(model)
        onnx.save(model, str(path))
    return n


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("models", nargs="+", type=Path)
    args = ap.parse_args()
    for path in args.models:
        n = rewrite_file(path)
        digest = hashlib.sha256(path.read_bytes()).hexdigest()
        print(f"{path.name}: {n} Softmax rewritten, sha256 {digest}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
