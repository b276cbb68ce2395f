"""`headcount-agent profile`: measure the latency lookup table of a model's prunable layers on a device.

Exit codes: 0 table complete, 75 stopped by the time budget (rerun with the same --out to resume),
78 bad input (spec, model reference, device, or an --out measured with other settings).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from agent import exit_codes
from models.layer_spec import ModelSpec

if TYPE_CHECKING:
    import openvino as ov

    from agent.profile.sweep import Reference

DEFAULT_OUT = "lut.json"


def _counts(text: str) -> tuple[int, ...]:
    try:
        counts = tuple(int(part) for part in text.split(",") if part.strip())
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"--counts: {text!r} is not a comma-separated list of integers") from exc
    if not counts or min(counts) < 1:
        raise argparse.ArgumentTypeError("--counts: give positive integers, e.g. 47,48,49")
    return counts


def positive(text: str) -> int:
    """argparse type: an integer >= 1."""
    try:
        value = int(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"{text!r} is not an integer") from exc
    if value < 1:
        raise argparse.ArgumentTypeError(f"{value} must be at least 1")
    return value


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("profile", help="measure the per-layer latency lookup table (lut.json)",
                              description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    source = p.add_mutually_exclusive_group(required=True)
    source.add_argument("--spec", type=Path, help="prunable-layer spec JSON (models/layer_spec.py schema)")
    source.add_argument("--model", help="NAME@VERSION in the store: derive the spec from its IR")
    source.add_argument("--conv-pair", action="store_true",
                        help="the reference layer: 3x3 conv 128->72->64 on 38x38 (the steps of the docs)")
    p.add_argument("--store", type=Path, default=Path("models"), help="model store root (with --model)")
    p.add_argument("--device", default="CPU", help="OpenVINO device (default CPU)")
    p.add_argument("--out", type=Path, default=Path(DEFAULT_OUT), help="LUT file, resumed if present")
    p.add_argument("--restart", action="store_true", help="ignore an existing --out and start over")
    p.add_argument("--layers", nargs="+", metavar="NAME", help="profile only these layers")
    p.add_argument("--budget-s", type=float, help="stop before a layer that would overrun this many seconds")
    p.add_argument("--stride", type=positive, default=4, help="first-pass spacing of kept-filter counts (default 4)")
    p.add_argument("--min-filters", type=positive, default=1, help="smallest kept-filter count (default 1)")
    p.add_argument("--counts", type=_counts, help="comma-separated counts instead of the strided pass")
    p.add_argument("--no-refine", action="store_true", help="do not time every count around changes")
    p.add_argument("--rounds", type=positive, default=7, help="interleaved rounds per count (default 7)")
    p.add_argument("--reps", type=positive, default=10, help="runs per count per round; the minimum is kept")
    p.add_argument("--threads", type=positive, default=1, help="INFERENCE_NUM_THREADS (default 1)")
    p.add_argument("--precision", help="force INFERENCE_PRECISION_HINT (default: the device's, as deployed)")
    p.add_argument("--int8", action="store_true",
                   help="time int8 convolutions (FakeQuantize on inputs and weights, as an INT8 variant runs)")
    p.add_argument("--reference",
                   help="the whole unpruned model (NAME@VERSION in --store, or an IR .xml) to time beside every "
                        "layer, so the pruner's estimates are fractions of it that machine drift cannot bias "
                        "(default: the --model itself; none with --spec or --conv-pair)")
    p.set_defaults(func=cmd_profile)


def _load_spec(args: argparse.Namespace) -> ModelSpec:
    from agent.profile.graphs import conv_pair_spec
    from agent.profile.spec_io import load_spec

    if args.conv_pair:
        return conv_pair_spec()
    if args.spec:
        return load_spec(args.spec)
    from agent.profile.ir_spec import spec_from_ir
    from models.store import ModelStore, parse_ref

    stored = ModelStore(args.store).load(*parse_ref(args.model))
    return spec_from_ir(stored.xml, stored.manifest.ref)


def _load_reference(core: ov.Core, args: argparse.Namespace) -> Reference | None:
    """The model named by --reference (or --model), read into OpenVINO; None when neither is given."""
    from agent.profile.sweep import Reference
    from models.store import ModelStore, ModelStoreError, parse_ref

    name = args.reference or args.model
    if not name:
        return None
    if name.endswith(".xml"):
        if not Path(name).is_file():
            raise ModelStoreError(f"--reference {name}: no such IR file")
        xml = Path(name)
    else:
        xml = ModelStore(args.store).load(*parse_ref(name)).xml
    try:
        return Reference(name, core.read_model(xml))
    except RuntimeError as exc:
        raise ModelStoreError(f"--reference {name}: OpenVINO cannot read {xml} ({exc})") from exc


def cmd_profile(args: argparse.Namespace) -> int:
    import openvino as ov

    from agent.devices import is_available
    from agent.profile.spec_io import SpecError, profiled_layers
    from agent.profile.sweep import SweepSettings, profile_spec
    from agent.profile.timing import Timer, TimingSettings
    from models.lut import LutError
    from models.store import ModelStoreError

    try:
        spec = _load_spec(args)
    except (SpecError, ModelStoreError) as exc:
        print(f"profile: {exc}", file=sys.stderr)
        return exit_codes.CONFIG
    unknown = sorted(set(args.layers or []) - {layer.name for layer in profiled_layers(spec)})
    if unknown:
        print(f"profile: --layers: {unknown} are not prunable layers of {spec.model}", file=sys.stderr)
        return exit_codes.CONFIG
    core = ov.Core()
    if not is_available(args.device, core.available_devices):
        print(f"profile: --device {args.device} is not available (runtime offers {core.available_devices})",
              file=sys.stderr)
        return exit_codes.CONFIG
    try:
        reference = _load_reference(core, args)
    except ModelStoreError as exc:
        print(f"profile: {exc}", file=sys.stderr)
        return exit_codes.CONFIG
    timing = TimingSettings(rounds=args.rounds, reps=args.reps, threads=args.threads, precision=args.precision)
    sweep = SweepSettings(stride=args.stride, min_filters=args.min_filters, refine=not args.no_refine,
                          counts=args.counts, int8=args.int8, reference=reference)
    try:
        lut = profile_spec(Timer(core, args.device, timing), spec, args.out, sweep, budget_s=args.budget_s,
                           only=args.layers, restart=args.restart)
    except (LutError, SpecError) as exc:
        print(f"profile: {exc}", file=sys.stderr)
        return exit_codes.CONFIG
    precision = "int8 convolutions" if args.int8 else lut.precision
    print(f"{args.out}: {len(lut.layers)} layer(s) on {lut.device} ({lut.device_name}), precision "
          f"{precision}, {lut.threads} thread(s), {lut.streams} stream(s); step period {lut.step_period}; "
          f"{lut.elapsed_s:.0f} s" + ("" if lut.complete else f"; {len(lut.missing)} layer(s) left"))
    done = all(layer in lut.layers for layer in args.layers) if args.layers else lut.complete
    return exit_codes.OK if done else exit_codes.STALLED
