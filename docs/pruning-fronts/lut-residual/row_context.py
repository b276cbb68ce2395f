"""Each LUT row's convolutions inside the parent network against the same convolutions alone (the row's
model at full width, as `headcount-agent profile` builds it), both timed with OpenVINO's per-node counters
(PERF_COUNT) in shuffled interleaved rounds; per row the ratio in-network / alone. With `--variants`, the
store's variants join the same rounds, and per variant the convolutions' in-network saving (parent's node
times less the variant's) is set against each row's LUT saving (both as fractions of the parent). An experiment.

    .venv/bin/python docs/pruning-fronts/lut-residual/row_context.py --parent runs/v6/store/ssd-mobilenet/1/model.xml \
        --lut docs/pruning-fronts/iterative-avx512/floor/ssd-mobilenet-2threads-avx512-ref.lut.json \
        --spec docs/pruning-luts/ssd-mobilenet.spec.json --out row-context-mobilenet.json \
        --store runs/v6/store --variants cp-2.1x cp2-2.75x hw-end
"""

from __future__ import annotations

import argparse
import json
import random
import re
import time
from collections import Counter, defaultdict
from pathlib import Path

import numpy as np
import openvino as ov

from agent.profile.graphs import build_layer_model
from models.layer_spec import ModelSpec
from models.lut import Lut, load_lut
from models.store import ModelStore

CONVS = ("Convolution", "GroupConvolution")


def layer_of(node: str) -> str | None:
    """The spec layer of an IR node exported from PyTorch (`__module.model.<layer>.conv/...`)."""
    match = re.match(r"__module\.model\.(.*)\.conv/", node)
    return match.group(1) if match else None


def row_layers(spec: ModelSpec, name: str) -> list[str]:
    """The layers a row times: the layer, its consumers, and theirs through depthwise ones."""
    found = [name]

    def walk(consumer: str) -> None:
        found.append(consumer.split("@", 1)[0])
        if spec.layer(consumer).kind == "depthwise":
            for nxt in spec.layer(consumer).consumers:
                walk(nxt)

    for consumer in spec.layer(name).consumers:
        walk(consumer)
    return found


def conv_times(compiled: dict[str, ov.CompiledModel], rounds: int, reps: int
               ) -> tuple[dict[str, dict[str, float]], dict[str, float]]:
    """Per model, per convolution node: lower quartile over rounds of its time in the round's fastest run
    (ms); and per model the lower quartile of those fastest runs' wall times (ms)."""
    requests = {}
    for key, model in compiled.items():
        request = model.create_infer_request()
        rng = np.random.default_rng(0)
        feed = {i: rng.random(tuple(x.shape)).astype(np.float32) for i, x in enumerate(model.inputs)}
        for _ in range(3):
            request.infer(feed)
        requests[key] = (request, feed)
    times: dict[str, dict[str, list[float]]] = defaultdict(lambda: defaultdict(list))
    walls: dict[str, list[float]] = defaultdict(list)
    keys, rng = list(compiled), random.Random(0)
    for _ in range(rounds):
        rng.shuffle(keys)
        for key in keys:
            request, feed = requests[key]
            best, nodes = float("inf"), Counter()
            for _ in range(reps):
                started = time.perf_counter()
                request.infer(feed)
                if (elapsed := time.perf_counter() - started) < best:
                    best, nodes = elapsed, Counter()
                    for info in request.profiling_info:
                        if info.node_type in CONVS:
                            nodes[info.node_name] += info.real_time.total_seconds()
            walls[key].append(best)
            for node, seconds in nodes.items():
                times[key][node].append(seconds)
    return ({key: {node: float(np.percentile(v, 25)) * 1e3 for node, v in d.items()} for key, d in times.items()},
            {key: float(np.percentile(v, 25)) * 1e3 for key, v in walls.items()})


def variant_lines(lut: Lut, spec: ModelSpec, times: dict[str, dict[str, float]], wall: dict[str, float],
                  original: dict[str, int], variants: dict[str, dict[str, int]]) -> list[str]:
    """Per variant: the LUT's saved fraction against the convolutions' in-network saving and the wall time's,
    then the rows whose in-network saving the LUT misses most."""
    by_layer = {key: _per_layer(nodes) for key, nodes in times.items()}
    parent_convs = sum(by_layer["parent"].values())
    lines = []
    for version, widths in variants.items():
        lut_fraction = lut.saved_fraction(original, widths, spec)
        if lut_fraction is None:
            raise SystemExit(f"{version}: the LUT's rows have no reference model timed beside them (profile with "
                             "--reference): no fraction of the parent to compare")
        convs = sum(by_layer[version].values())
        lines.append(f"{version}: LUT saves {lut_fraction:.3f} of the parent; in the network its convolutions "
                     f"save {1 - convs / parent_convs:.3f} of the parent's convolutions ({parent_convs:.2f} -> "
                     f"{convs:.2f} ms); wall {wall['parent']:.2f} -> {wall[version]:.2f} ms "
                     f"(saves {1 - wall[version] / wall['parent']:.3f})")
        misses = []
        for name, saving in lut.row_savings_ms(original, widths, spec).items():
            layers = row_layers(spec, name)
            within = sum(by_layer["parent"].get(x, 0.0) - by_layer[version].get(x, 0.0) for x in layers)
            misses.append((within / parent_convs - saving / lut.layers[name].reference_ms, name))  # type: ignore[operator]
        for miss, name in sorted(misses, reverse=True)[:6]:
            lines.append(f"  {name} {original[name]} -> {widths[name]}: in the network {miss:+.3f} of the parent "
                         "beyond the LUT's saving")
    return lines


def _per_layer(nodes: dict[str, float]) -> dict[str, float]:
    per: dict[str, float] = defaultdict(float)
    for node, ms in nodes.items():
        if (layer := layer_of(node)) is not None:
            per[layer] += ms
    return per


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--parent", type=Path, required=True, help="the parent's IR (model.xml)")
    parser.add_argument("--lut", type=Path, required=True)
    parser.add_argument("--spec", type=Path, required=True)
    parser.add_argument("--rounds", type=int, default=10)
    parser.add_argument("--reps", type=int, default=5)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--store", type=Path, help="run store holding the parent's variants")
    parser.add_argument("--variants", nargs="*", default=[], help="versions of the parent's name in --store")
    args = parser.parse_args()
    lut = load_lut(args.lut)
    spec = ModelSpec.model_validate_json(args.spec.read_text()).split_concat_readers()
    core = ov.Core()
    config = {"PERF_COUNT": "YES", "INFERENCE_NUM_THREADS": lut.thread_count or 1, "PERFORMANCE_HINT": "LATENCY",
              "NUM_STREAMS": 1}
    compiled = {"parent": core.compile_model(core.read_model(args.parent), "CPU", config)}
    for name, row in lut.layers.items():
        compiled[name] = core.compile_model(build_layer_model(spec, spec.layer(name), row.out_channels), "CPU", config)
    variants: dict[str, dict[str, int]] = {}
    original = {name: row.out_channels for name, row in lut.layers.items()}
    for version in args.variants:
        stored = ModelStore(args.store).load(lut.spec_model, version)
        variants[version] = {**original, **stored.manifest.provenance.details["filters_per_layer"]}
        compiled[version] = core.compile_model(core.read_model(stored.xml), "CPU", config)
    times, wall = conv_times(compiled, args.rounds, args.reps)
    in_parent: dict[str | None, float] = defaultdict(float)
    for node, ms in times["parent"].items():
        in_parent[layer_of(node)] += ms
    rows = {}
    for name in lut.layers:
        alone = sum(times[name].values())
        within = sum(in_parent[layer] for layer in row_layers(spec, name))
        rows[name] = {"alone_ms": round(alone, 4), "in_network_ms": round(within, 4), "ratio": round(within / alone, 3)}
        print(f"{name:32s} alone {alone:.3f} ms, in the network {within:.3f} ms, ratio {within / alone:.2f}")
    args.out.write_text(json.dumps(rows, indent=1) + "\n")
    for line in variant_lines(lut, spec, times, wall, original, variants):
        print(line)


if __name__ == "__main__":
    main()
