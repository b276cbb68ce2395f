"""Measured overlap per (producer row, pruned dense consumer): the consumer conv alone on a 3x3 grid of (in, out)
channels (full, 1/2, 1/4), fit t = a cin cout + b cout + c cin + d; a (K - k)(M - m) is what both rows count.

    .venv/bin/python docs/pruning-fronts/lut-residual/overlap_grid.py pruning/checkpoints/ssd-squeezenet-384x288.pt \
        docs/pruning-luts/ssd-squeezenet-384x288-2threads-avx512.lut.json OUT.json   # parent IR from runs/v9/store
"""
import json
import sys
from pathlib import Path

import numpy as np
import openvino as ov
import openvino.opset13 as ops

from agent.profile.graphs import _activated, _conv
from agent.profile.timing import Timer, TimingSettings
from models.lut import load_lut, row_macs
from models.store import ModelStore
from pruning import checkpoint
from pruning.prune.surgery import groups_of
from pruning.structure import build_graph, to_spec

ck, lut_path, out = sys.argv[1], sys.argv[2], sys.argv[3]
lut = load_lut(lut_path)
model, config = checkpoint.load_model(ck)
spec = to_spec(build_graph(model, config.arch), config.arch)
original = {n: g.width for n, g in groups_of(model, config.arch).items()}
split = spec.split_concat_readers()
core = ov.Core()
timer = Timer(core, "CPU", TimingSettings(rounds=7, threads=2))
ref = timer.compile(core.read_model(ModelStore(Path("runs/v9/store")).load("ssd-squeezenet", "384x288").xml))
rng = np.random.default_rng(0)
def conv_model(layer, cin, cout):
    p = ops.parameter([1, cin, *layer.input_size], ov.Type.f32)
    y = _activated(_conv(p.output(0), layer, cin, cout, rng))
    return ov.Model([y], [p])
def levels(n):
    return sorted({n, max(1, round(n / 2)), max(1, round(n / 4))})
result = {}
for name in lut.layers:
    if name not in original:
        continue
    for part, _ in row_macs(split, name)[1:]:
        root = part.split("@", 1)[0]
        if root not in original:
            continue
        layer = split.layer(part)
        K, M = layer.in_channels, layer.out_channels
        grid = [(ci, co) for ci in levels(K) for co in levels(M)]
        models = {i + 1: conv_model(layer, ci, co) for i, (ci, co) in enumerate(grid)}
        models[0] = ref
        t = timer.measure(models)
        X = np.array([[ci * co, co, ci, 1.0] for ci, co in grid])
        y = np.array([t[i + 1].ms for i in range(len(grid))])
        coef = np.linalg.lstsq(X, y, rcond=None)[0]
        result[f"{name}>{part}"] = dict(K=K, M=M, a=coef[0], ref=t[0].ms, full=float(y[-1]),
                                        mixed=coef[0] * K * M * 9 / 16)
        print(name, part, K, M, f"a*KM={coef[0]*K*M:.3f} full={y[-1]:.3f} ref={t[0].ms:.2f}", flush=True)
json.dump(result, open(out, "w"), indent=1)
