"""Direct measurement of latency steps, to check what `headcount-agent profile` reports.

For the reference layer (3x3 conv 128 -> c -> 64 on 38x38) and a few layers of a profiled spec, every
kept-filter count in a window is timed (no stride, no refinement, more rounds), and the step boundaries
and period found this way are set beside those in the LUT. Also prints the reference layer's latency at
the counts of docs/cluster-pruning.md: the doc's figures, the profile's (LUT, strided + refined) and
the direct ones.

    .venv/bin/python bench/profile_steps.py --lut docs/examples/ssdlite-mobilenet-v2.lut.json \
        --spec docs/examples/ssdlite-mobilenet-v2.spec.json --layers backbone.blocks.3.expand extras.0.reduce
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import openvino as ov

from agent.profile.graphs import conv_pair_spec
from agent.profile.spec_io import load_spec
from agent.profile.sweep import SweepSettings, profile_layer, profile_spec
from agent.profile.timing import Timer, TimingSettings
from models.layer_spec import ModelSpec
from models.lut import LayerLut, load_lut

DOC_COUNTS = (40, 42, 44, 46, 48, 49, 52, 56, 60, 63, 64, 65, 68)
DOC_MS = (1.39, 1.30, 1.20, 1.20, 1.22, 1.48, 1.49, 1.52, 1.57, 1.60, 1.76, 2.06, 1.97)
DIRECT = TimingSettings(rounds=9, reps=10)


def direct(timer: Timer, spec: ModelSpec, name: str, window: int) -> LayerLut:
    layer = spec.layer(name)
    counts = tuple(range(1, min(layer.out_channels, window) + 1))
    return profile_layer(timer, spec, layer, SweepSettings(counts=counts, refine=False))


def reference_table(timer: Timer, out: Path) -> list[str]:
    pair = conv_pair_spec()
    profiled = profile_spec(timer, pair, out, SweepSettings(), restart=True, progress=lambda _: None).layers["conv"]
    dense = direct(timer, pair, "conv", 72)
    measured = {p.filters for p in profiled.points}
    rows = ["| c | " + " | ".join(map(str, DOC_COUNTS)) + " |", "|" + " --- |" * (len(DOC_COUNTS) + 1),
            "| doc (ms) | " + " | ".join(f"{v:.2f}" for v in DOC_MS) + " |",
            "| profile (ms) | " + " | ".join(f"{profiled.latency_ms(c):.2f}" + ("" if c in measured else "*")
                                            for c in DOC_COUNTS) + " |",
            "| direct (ms) | " + " | ".join(f"{dense.latency_ms(c):.2f}" for c in DOC_COUNTS) + " |",
            "", "(* interpolated between measured counts)",
            f"reference layer: profile period {profiled.step_period} boundaries {profiled.step_boundaries} "
            f"({len(profiled.points)} counts timed); direct period {dense.step_period} "
            f"boundaries {dense.step_boundaries} (72 counts)"]
    return rows


def plot(curves: dict[str, LayerLut], path: Path) -> None:
    """Latency vs kept filters, one panel per layer, dashed lines at the detected boundaries."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(curves), figsize=(4.2 * len(curves), 3.2), dpi=90)
    for ax, (title, entry) in zip(list(getattr(axes, "flat", [axes])), curves.items(), strict=False):
        ax.plot([p.filters for p in entry.points], [p.ms for p in entry.points], ".-", ms=3, lw=0.8)
        for boundary in entry.step_boundaries:
            ax.axvline(boundary + 0.5, color="tab:red", lw=0.5, ls="--")
        ax.set_title(f"{title} (period {entry.step_period})", fontsize=8)
        ax.set_xlabel("kept filters", fontsize=8)
        ax.set_ylabel("ms (layer + consumers, 1 thread)", fontsize=8)
        ax.tick_params(labelsize=7)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--lut", type=Path, help="LUT written by headcount-agent profile")
    parser.add_argument("--spec", type=Path, help="the spec it was measured for")
    parser.add_argument("--layers", nargs="*", default=[], help="layers to measure directly")
    parser.add_argument("--window", type=int, default=96, help="time counts 1..window (default 96)")
    parser.add_argument("--reference-out", type=Path, default=Path("/tmp/conv-pair.lut.json"))
    parser.add_argument("--json", type=Path, help="also write the comparison here")
    parser.add_argument("--plot", type=Path, help="PNG of the reference layer and --plot-layers from the LUT")
    parser.add_argument("--plot-layers", nargs="*", default=[], help="LUT layers to plot")
    args = parser.parse_args()

    timer = Timer(ov.Core(), "CPU", DIRECT)
    lines = reference_table(timer, args.reference_out)
    comparison = []
    if args.lut and args.spec:
        lut, spec = load_lut(args.lut), load_spec(args.spec)
        lines += ["", "| layer | counts timed directly | direct period | direct boundaries | LUT period "
                      "| LUT boundaries (same range) |", "| --- | --- | --- | --- | --- | --- |"]
        for name in args.layers:
            dense, entry = direct(timer, spec, name, args.window), lut.layers[name]
            top = dense.points[-1].filters
            in_range = [b for b in entry.step_boundaries if b < top]
            lines.append(f"| {name} | 1..{top} | {dense.step_period} | {dense.step_boundaries} "
                         f"| {entry.step_period} | {in_range} |")
            comparison.append({"layer": name, "direct_period": dense.step_period, "direct": dense.step_boundaries,
                               "lut_period": entry.step_period, "lut": in_range})
            print(lines[-1], file=sys.stderr, flush=True)
    print("\n".join(lines))
    if args.plot:
        curves = {"reference 3x3 conv 128->c->64 @38x38": load_lut(args.reference_out).layers["conv"]}
        curves.update({name: load_lut(args.lut).layers[name] for name in args.plot_layers})
        plot(curves, args.plot)
    if args.json:
        args.json.write_text(json.dumps(comparison, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
