"""Rewrite a graph's 1-D convolutions as one MatMul over all (batch, time) rows, and a sum of
channels weighted by a constant vector (the contact detector's grey frames) as a MatMul.

ONNX Runtime's CPU Conv runs each batch row as its own GEMM, so a batch of N reads the weights
N times; the UNet at a live window's length is bound by that reading (a CFG pair costs twice
one row). As a MatMul of the time-major input [B·T, k·C_in] by the weights [k·C_in, C_out], a
batch reads them once.

The weight initializers keep their names and shapes (foley.weights recovers the torch modules
from them); the MatMul's weight layout is made from them by nodes that ONNX Runtime folds when
it loads the session. Eligible: Conv and ConvTranspose with a 3-D initializer weight, group 1,
dilation 1; a ConvTranspose with stride 1, or the UNet's upsampler (kernel 4, stride 2, pads 1).

`Mul(x, c)` followed by `ReduceSum` over the last axis (keepdims 0), c a constant vector: ONNX
Runtime broadcasts the 3 colour weights element by element, half the contact detector's time;
`MatMul(x, c as a column)` does the same sum far faster (docs/experiments.md, section 35).

    python -m foley.conv_matmul BUNDLE [--models unet_student ...]
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
import onnx
from onnx import helper, numpy_helper

INT64_MAX = 2**63 - 1
# The models of a bundle where the rewrites pay (measured: docs/experiments.md section 35).
DEFAULT_MODELS = ("unet_student", "unet_teacher", "align_classifier", "contact_detector")


class _Builder:
    def __init__(self, scope: str):
        self.scope = scope          # the conv's node name: weights.py reads the module scope from it
        self.nodes: list[onnx.NodeProto] = []
        self.consts: list[onnx.TensorProto] = []

    def name(self, what: str) -> str:
        return f"{self.scope}_as_matmul/{what}_{len(self.nodes) + len(self.consts)}"

    def const(self, values, what: str) -> str:
        n = self.name(what)
        self.consts.append(numpy_helper.from_array(np.asarray(values), n))
        return n

    def node(self, op: str, inputs: list[str], out: str | None = None, **attrs) -> str:
        out = out or self.name(op.lower())
        self.nodes.append(helper.make_node(op, inputs, [out], name=self.name(op), **attrs))
        return out

    def ints(self, values, what: str = "ints") -> str:
        return self.const(np.array(values, np.int64), what)


def _attrs(node: onnx.NodeProto) -> dict:
    return {a.name: helper.get_attribute_value(a) for a in node.attribute}


def _plan(node: onnx.NodeProto, weight: onnx.TensorProto | None) -> str | None:
    """'conv', 'transpose1' (stride 1), 'upsample2' or None (left as it is)."""
    if node.op_type not in ("Conv", "ConvTranspose") or weight is None or len(weight.dims) != 3:
        return None
    a = _attrs(node)
    if a.get("group", 1) != 1 or any(d != 1 for d in a.get("dilations", [1])) or a.get("auto_pad", b"NOTSET") not in (b"NOTSET", "NOTSET"):
        return None
    if node.op_type == "Conv":
        return "conv"
    if a.get("output_padding", [0]) != [0] or "output_shape" in a:
        return None
    k, s, pads = weight.dims[2], a.get("strides", [1])[0], a.get("pads", [0, 0])
    if s == 1 and max(pads) <= k - 1:
        return "transpose1"
    if (k, s, list(pads)) == (4, 2, [1, 1]):
        return "upsample2"
    return None


def _columns(b: _Builder, x_tm: str, taps: int, stride: int, pads: tuple[int, int]) -> str:
    """[B, T, C] → [B, T_out, taps·C]: the taps' shifted copies side by side (tap-major)."""
    if pads != (0, 0):
        x_tm = b.node("Pad", [x_tm, b.ints([0, pads[0], 0, 0, pads[1], 0], "pads")])
    if taps == 1 and stride == 1:
        return x_tm
    parts = []
    for j in range(taps):
        back = taps - 1 - j
        parts.append(b.node("Slice", [x_tm, b.ints([j], "start"), b.ints([-back if back else INT64_MAX], "end"),
                                      b.ints([1], "axis"), b.ints([stride], "step")]))
    return b.node("Concat", parts, axis=2)


def _rewrite_one(node: onnx.NodeProto, plan: str, weight: onnx.TensorProto) -> _Builder:
    b = _Builder(node.name or f"/{node.op_type}_{node.output[0]}")
    a = _attrs(node)
    w = node.input[1]
    bias = node.input[2] if len(node.input) > 2 and node.input[2] else None
    k = weight.dims[2]
    pads = tuple(a.get("pads", [0, 0]))
    x_tm = b.node("Transpose", [node.input[0]], perm=[0, 2, 1])
    if plan == "conv":
        cin, cout = weight.dims[1], weight.dims[0]
        # W[o, i, j] → rows j·C_in + i
        wm = b.node("Reshape", [b.node("Transpose", [w], perm=[2, 1, 0]), b.ints([k * cin, cout], "shape")])
        cols = _columns(b, x_tm, k, a.get("strides", [1])[0], pads)
    elif plan == "transpose1":
        # stride 1: a Conv with the taps reversed, in and out swapped, pads k-1-p.
        cin, cout = weight.dims[0], weight.dims[1]
        flipped = b.node("Slice", [w, b.ints([-1], "start"), b.ints([-INT64_MAX], "end"), b.ints([2], "axis"), b.ints([-1], "step")])
        wm = b.node("Reshape", [b.node("Transpose", [flipped], perm=[2, 0, 1]), b.ints([k * cin, cout], "shape")])
        cols = _columns(b, x_tm, k, 1, (k - 1 - pads[0], k - 1 - pads[1]))
    else:
        # Kernel 4, stride 2, pads 1: output 2t takes x[t-1]·W3 + x[t]·W1, output 2t+1 takes
        # x[t]·W2 + x[t+1]·W0; both from the columns (x[t-1], x[t], x[t+1]).
        cin, cout = weight.dims[0], weight.dims[1]
        tap = [b.node("Gather", [w, b.ints(j, "tap")], axis=2) for j in range(4)]
        zero = b.node("ConstantOfShape", [b.ints([cin, cout], "shape")],
                      value=numpy_helper.from_array(np.zeros(1, np.float32)))
        even = b.node("Concat", [tap[3], tap[1], zero], axis=0)
        odd = b.node("Concat", [zero, tap[2], tap[0]], axis=0)
        wm = b.node("Concat", [even, odd], axis=1)
        cols = _columns(b, x_tm, 3, 1, (1, 1))
        if bias:
            bias = b.node("Concat", [bias, bias], axis=0)
    y = b.node("MatMul", [cols, wm])
    if bias:
        y = b.node("Add", [y, bias])
    if plan == "upsample2":
        # [B, T, 2·C_out] → [B, C_out, T, 2] → [B, C_out, 2T]
        y = b.node("Transpose", [b.node("Reshape", [y, b.ints([0, 0, 2, cout], "shape")])], perm=[0, 3, 1, 2])
        b.node("Reshape", [y, b.ints([0, cout, -1], "shape")], out=node.output[0])
    else:
        b.node("Transpose", [y], out=node.output[0], perm=[0, 2, 1])
    return b


def convs_as_matmuls(model: onnx.ModelProto) -> int:
    """Rewrites the eligible convolutions of `model` in place; returns how many."""
    g = model.graph
    inits = {i.name: i for i in g.initializer}
    nodes, consts, count = [], [], 0
    for node in g.node:
        weight = inits.get(node.input[1]) if len(node.input) > 1 else None
        plan = _plan(node, weight)
        if plan is None:
            nodes.append(node)
            continue
        b = _rewrite_one(node, plan, weight)
        nodes += b.nodes
        consts += b.consts
        count += 1
    del g.node[:]
    g.node.extend(nodes)
    g.initializer.extend(consts)
    return count


def _const_ints(name: str, inits: dict, producers: dict) -> list[int] | None:
    if name in inits:
        return numpy_helper.to_array(inits[name]).astype(np.int64).ravel().tolist()
    node = producers.get(name)
    if node is not None and node.op_type == "Constant":
        value = _attrs(node).get("value")
        if value is not None:
            return numpy_helper.to_array(value).astype(np.int64).ravel().tolist()
    return None


def channel_sums_as_matmuls(model: onnx.ModelProto) -> int:
    """Rewrites `ReduceSum(Mul(x, c), axes=[-1], keepdims=0)` (c a constant vector, the Mul's
    output used only there) as `Squeeze(MatMul(x, c as a column), -1)`; returns how many."""
    g = model.graph
    inits = {i.name: i for i in g.initializer}
    producers = {o: n for n in g.node for o in n.output}
    uses: dict[str, int] = {}
    for n in g.node:
        for name in n.input:
            uses[name] = uses.get(name, 0) + 1
    replace: dict[int, list[onnx.NodeProto]] = {}
    drop: set[int] = set()
    axes: set[str] = set()
    consts = []
    for node in g.node:
        if node.op_type != "ReduceSum" or len(node.input) < 2 or _attrs(node).get("keepdims", 1) != 0:
            continue
        if _const_ints(node.input[1], inits, producers) != [-1]:
            continue
        mul = producers.get(node.input[0])
        if mul is None or mul.op_type != "Mul" or uses.get(mul.output[0], 0) != 1:
            continue
        weight = next((x for x in mul.input if x in inits and len(inits[x].dims) == 1 and inits[x].dims[0] > 1), None)
        if weight is None:
            continue
        x = mul.input[0] if mul.input[1] == weight else mul.input[1]
        b = _Builder(node.name or f"/ReduceSum_{node.output[0]}")
        column = b.node("Reshape", [weight, b.ints([-1, 1], "shape")])
        summed = b.node("MatMul", [x, column])
        b.node("Squeeze", [summed, b.ints([-1], "axes")], out=node.output[0])
        replace[id(node)] = b.nodes
        drop.add(id(mul))
        axes.add(node.input[1])
        consts += b.consts
    if not replace:
        return 0
    nodes = []
    for node in g.node:
        if id(node) in drop:
            continue
        nodes += replace.get(id(node), [node])
    # The ReduceSums' axes (Constant nodes or initializers) are left without a user: ORT would warn.
    used = {name for n in nodes for name in n.input}
    nodes = [n for n in nodes if not (n.op_type == "Constant" and n.output[0] in axes and n.output[0] not in used)]
    del g.node[:]
    g.node.extend(nodes)
    g.initializer.extend(consts)
    for i in [i for i in g.initializer if i.name in axes and i.name not in used]:
        g.initializer.remove(i)
    return len(replace)


def rewrite(model: onnx.ModelProto) -> int:
    """Both rewrites on `model` in place; returns how many nodes were rewritten."""
    return convs_as_matmuls(model) + channel_sums_as_matmuls(model)


def rewrite_in_place(path: Path) -> int:
    """Both rewrites on an ONNX file, unchecked: for exporters whose parity check follows."""
    model = onnx.load(str(path))
    count = rewrite(model)
    onnx.save(model, str(path))
    return count


def _random_feeds(session, batch: int, frames: int, rng: np.random.Generator) -> dict:
    feeds = {}
    for i in session.get_inputs():
        shape = [batch if d == "batch" else frames if isinstance(d, str) else d for d in i.shape]
        if "float" in i.type:
            feeds[i.name] = rng.standard_normal(shape).astype(np.float32)
        elif "uint8" in i.type:
            feeds[i.name] = rng.integers(0, 256, shape).astype(np.uint8)
        else:
            feeds[i.name] = rng.integers(0, 1000, shape).astype(np.int64)
    if "timestep" in feeds:     # the UNets' and the classifier's: in the schedule's range
        feeds["timestep"] = rng.uniform(0, 999, feeds["timestep"].shape).astype(np.float32)
    return feeds


def rewrite_file(src: Path, dst: Path, tolerance: float = 1e-4) -> tuple[int, float]:
    """Writes `src` rewritten (both kinds) to `dst` after checking both give the same outputs in
    ONNX Runtime (relative error below `tolerance`, batches 1 and 3, 12 and 20 frames); returns
    the count of rewrites and the worst error."""
    import onnxruntime as ort

    model = onnx.load(str(src))
    count = rewrite(model)
    onnx.checker.check_model(model)
    tmp = dst.with_name(f".{dst.name}.tmp")
    onnx.save(model, str(tmp))
    try:
        before = ort.InferenceSession(str(src), providers=["CPUExecutionProvider"])
        after = ort.InferenceSession(str(tmp), providers=["CPUExecutionProvider"])
        rng = np.random.default_rng(0)
        worst = 0.0
        for batch, frames in ((1, 12), (3, 20)):
            feeds = _random_feeds(before, batch, frames, rng)
            for name, r, got in zip([o.name for o in before.get_outputs()], before.run(None, feeds), after.run(None, feeds)):
                err = float(np.abs(r - got).max() / (np.abs(r).max() + 1e-12))
                worst = max(worst, err)
                if not err < tolerance:
                    raise ValueError(f"[{src.name}, output:{name}] rewritten graph differs: relative error {err:.2e}")
        tmp.replace(dst)
    finally:
        tmp.unlink(missing_ok=True)
    return count, worst


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m foley.conv_matmul", description=__doc__.split("\n")[0])
    p.add_argument("bundle", help="bundle folder, rewritten in place")
    p.add_argument("--models", nargs="+", default=list(DEFAULT_MODELS), help=f"model keys (default: {' '.join(DEFAULT_MODELS)})")
    a = p.parse_args(argv)
    bundle = Path(a.bundle)
    if not (bundle / "manifest.json").exists():
        print(f"foley.conv_matmul: {bundle} is not a bundle (no manifest.json)", file=sys.stderr)
        return 2
    try:
        files = json.loads((bundle / "manifest.json").read_text())["models"]
    except (ValueError, KeyError, TypeError) as e:
        print(f"[bundle:{bundle}] manifest.json is not a bundle manifest: {e}", file=sys.stderr)
        return 4
    failed = False
    for key in a.models:
        if key not in files:
            print(f"foley.conv_matmul: {bundle} has no model {key}", file=sys.stderr)
            continue
        try:
            path = bundle / files[key]["file"]
            count, worst = rewrite_file(path, path)
        except Exception as e:  # unreadable or invalid ONNX, or a rewrite that differs: left as it was
            print(f"[bundle:{bundle}, model:{key}] not rewritten: {e}", file=sys.stderr)
            failed = True
            continue
        print(f"conv_matmul: {key}: {count} rewritten, relative error {worst:.1e}")
    return 4 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
