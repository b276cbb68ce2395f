"""Probe networks against the LUT's rows, and three ways to estimate a variant from the rows, checked on
variants timed in the same rounds (an experiment: none of the three ships).

A probe is the parent with every prunable layer thinned to about one fraction of its width, on the LUT's
step grid (uniform, and once more jittered per layer by +-30 %); it keeps the parent's first filters
(latency does not depend on weights). Parent, probes and the given store variants are timed together in
shuffled interleaved rounds with the LUT's statistic and thread count (`agent.profile.timing`). Per
variant it prints the error of:
- rows: the shipped estimate (`Lut.saved_fraction` with the spec: every row's saving, overlaps once);
- grown: rows' f + k f^2, k fitted by least squares on the probes only (the variants are held out);
- no-overlap: the rows' plain sum.

    .venv/bin/python docs/pruning-fronts/lut-residual/probes.py --checkpoint pruning/checkpoints/ssd-mobilenet.pt \
        --lut docs/pruning-fronts/iterative-avx512/floor/ssd-mobilenet-2threads-avx512-ref.lut.json \
        --spec docs/pruning-luts/ssd-mobilenet.spec.json --store runs/v6/store --parent ssd-mobilenet@1 \
        --variants cp-2.1x cp2-2.5x cp2-2.75x hp2-2.75x hp-2.5x hp-3.0x
"""

from __future__ import annotations

import argparse
import random
import tempfile
from pathlib import Path

import openvino as ov

from agent.profile.timing import Timer, TimingSettings
from models.layer_spec import ModelSpec
from models.lut import load_lut
from models.store import ModelStore, parse_ref
from pruning import checkpoint
from pruning.export import save_ir
from pruning.prune.surgery import groups_of, prune_group


def probe_widths(original: dict[str, int], ratio: float, period: int, jitter: float,
                 rng: random.Random) -> dict[str, int]:
    """Every layer at about `ratio` (times 1 +- `jitter`) of its width, down to a multiple of `period`."""
    widths = {}
    for name, width in original.items():
        fraction = min(1.0, ratio * (1 + rng.uniform(-jitter, jitter)))
        widths[name] = min(width, max(int(fraction * width) // period * period, period))
    return widths


def export_probe(source: Path, widths: dict[str, int], xml: Path) -> Path:
    model, config = checkpoint.load_model(source)
    for name, width in widths.items():
        group = groups_of(model, config.arch)[name]
        if width < group.width:
            prune_group(group, list(range(width, group.width)))
    return save_ir(model, xml)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--checkpoint", type=Path, required=True)
    parser.add_argument("--lut", type=Path, required=True)
    parser.add_argument("--spec", type=Path, required=True)
    parser.add_argument("--store", type=Path, required=True)
    parser.add_argument("--parent", required=True, help="NAME@VERSION of the parent in --store")
    parser.add_argument("--variants", nargs="+", required=True, help="versions of the same name in --store")
    parser.add_argument("--ratios", type=float, nargs="+", default=[0.8, 0.6, 0.45, 0.3])
    parser.add_argument("--rounds", type=int, default=15)
    args = parser.parse_args()
    lut = load_lut(args.lut)
    spec = ModelSpec.model_validate_json(args.spec.read_text())
    model, config = checkpoint.load_model(args.checkpoint)
    original = {name: group.width for name, group in groups_of(model, config.arch).items()}
    store, (name, version) = ModelStore(args.store), parse_ref(args.parent)
    rng, core = random.Random(0), ov.Core()
    models = {"parent": core.read_model(store.load(name, version).xml)}
    widths: dict[str, dict[str, int]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        for ratio in args.ratios:
            for jitter in (0.0, 0.3):
                key = f"probe {ratio:.2f} jitter {jitter:.1f}"
                widths[key] = probe_widths(original, ratio, lut.step_period or 16, jitter, rng)
                models[key] = core.read_model(export_probe(args.checkpoint, widths[key], Path(tmp) / key / "m.xml"))
        for variant in args.variants:
            stored = store.load(name, variant)
            widths[variant] = {**original, **stored.manifest.provenance.details["filters_per_layer"]}
            models[variant] = core.read_model(stored.xml)
        keys = list(models)
        timed = Timer(core, lut.device, TimingSettings(rounds=args.rounds, threads=lut.thread_count or 1)).measure(
            {i: models[k] for i, k in enumerate(keys)})
    ms = {k: timed[i].ms for i, k in enumerate(keys)}
    parent_ms = ms["parent"]

    def rows(key: str, with_spec: bool = True) -> float:
        fraction = lut.saved_fraction(original, widths[key], spec if with_spec else None)
        if fraction is None:
            return lut.saving_ms(original, widths[key], spec if with_spec else None) / parent_ms
        return fraction

    probes = [k for k in keys if k.startswith("probe")]
    growth = sum(rows(k) ** 2 * (1 - ms[k] / parent_ms - rows(k)) for k in probes) / sum(rows(k) ** 4 for k in probes)
    print(f"parent {args.parent}: {parent_ms:.3f} ms; growth k fitted on the probes: {growth:.3f}")
    print("| network | rows f | measured | rows error | grown error | no-overlap error |")
    print("| --- | --- | --- | --- | --- | --- |")
    for key in keys[1:]:
        f, plain, measured = rows(key), rows(key, False), ms[key]

        def err(fraction: float, measured: float = measured) -> str:
            return f"{100 * (parent_ms * (1 - min(fraction, 0.95)) / measured - 1):+.0f} %"

        print(f"| {key} | {f:.3f} | {1 - measured / parent_ms:.3f} | {err(f)} | {err(f + growth * f * f)} | "
              f"{err(plain)} |")


if __name__ == "__main__":
    main()
