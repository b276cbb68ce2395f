"""Layer widths of the three iterative runs (same floor and budget) where each first reached a
loop-measured speedup: what each selection rule had kept by then.

    .venv/bin/python docs/pruning-fronts/iterative-avx512/floor/widths.py \
        cluster=runs/v6/mobilenet-cluster-2.75x hybrid=runs/v7/mobilenet-hybrid-2.75x \
        conventional=runs/v7/mobilenet-filter-2.75x --at 1.4 1.8 2.2
"""

from __future__ import annotations

import argparse
from pathlib import Path

from pruning.prune.records import RunState, StepRecord


def first_at(run: Path, speedup: float) -> tuple[StepRecord, dict[str, int]] | None:
    """The first evaluated step at or beyond `speedup` (loop-measured), with every layer's width then."""
    widths = dict(RunState.model_validate_json((run / "state.json").read_text()).original)
    for line in (run / "steps.jsonl").read_text().splitlines():
        record = StepRecord.model_validate_json(line)
        for change in record.changes:
            widths[change.layer] = change.after
        if record.measured_speedup is not None and record.measured_speedup >= speedup:
            return record, dict(widths)
    return None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("runs", nargs="+", help="LABEL=RUN_DIR")
    parser.add_argument("--at", nargs="+", type=float, required=True, help="loop-measured speedups")
    args = parser.parse_args()
    runs = dict(arg.split("=", 1) for arg in args.runs)
    original = RunState.model_validate_json((Path(next(iter(runs.values()))) / "state.json").read_text()).original
    for speedup in args.at:
        found = {label: first_at(Path(run), speedup) for label, run in runs.items()}
        print(f"\nFirst evaluation at a loop-measured {speedup}x or more")
        print("| layer | unpruned | " + " | ".join(found) + " |")
        print("| --- | --- | " + " | ".join("---" for _ in found) + " |")
        print("| step, measured, validation mAP | | " + " | ".join(
            f"{hit[0].step}, {hit[0].measured_speedup:.2f}x, {hit[0].map50:.1f}" if hit else "not reached"
            for hit in found.values()) + " |")
        for layer, width in original.items():
            print(f"| {layer} | {width} | " + " | ".join(
                str(hit[1][layer]) if hit else "-" for hit in found.values()) + " |")


if __name__ == "__main__":
    main()
