"""SSD-MobileNet's fronts in one set of bench runs: each variant's speedup over `@1`, and every pair of
variants of two methods within 0.5 point of mAP with its per-run latency ratio and 90 % interval
(`pruning.prune.fronts.ratio_band`, as the report judges). From the committed bench JSONs and manifests;
no timing here. Replicas (`replica.py`) carry their variant's figures and a latency of their own widths.
A folder of evidence holds `manifests/*.manifest.json` and `bench/bench-*.json`; the default is this one.
`--bench` pools the runs of other folders of bench JSONs (the same IRs benched again) in place of `bench/`.

    .venv/bin/python docs/pruning-fronts/conventional-front/pairs.py   # -> pairs.txt
    .venv/bin/python docs/pruning-fronts/conventional-front/pairs.py docs/pruning-fronts/three-fronts
    F=docs/pruning-fronts/three-fronts; .venv/bin/python docs/pruning-fronts/conventional-front/pairs.py $F \
        --bench $F/bench $F/bench-quiet $F/bench-turns $F/bench-turns10   # -> three-fronts/pairs-24.txt
"""

from __future__ import annotations

import argparse
import itertools
import json
import statistics
from pathlib import Path

from models.bench import BenchReport
from pruning.prune.fronts import family, ratio_band
from pruning.prune.report import cpu_runs

HERE = Path(__file__).resolve().parent
PARENT = "ssd-mobilenet@1"
EQUAL_MAP = 0.5
# (width replica, real IR of the same widths, what that is): one network timed under two names
CONTROLS = (("ssd-mobilenet@c43-end", "ssd-mobilenet@cp-4.7x", "cp-4.7x's model.xml, other weights"),
            ("ssd-mobilenet@h43-end", "ssd-mobilenet@h43s1-end", "h43s1-end's widths, other weights"))


def figures(folder: Path) -> dict[str, tuple[str, float, bool]]:
    """ref -> (method family, mAP@0.5, replica?) from the manifests committed in `folder`."""
    found = {}
    for path in sorted((folder / "manifests").glob("*.manifest.json")):
        m = json.loads(path.read_text())
        prov = m["provenance"]
        method = family(prov["method"]) if prov["kind"] == "pruning" else "unpruned"
        found[f"{m['name']}@{m['version']}"] = (method, 100 * m["metrics"]["map50"],
                                                "width_replica" in prov.get("details", {}))
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("folder", type=Path, nargs="?", default=HERE, help="evidence folder (default: this one)")
    parser.add_argument("--bench", type=Path, nargs="+", help="folders of bench JSONs to pool (default: FOLDER/bench)")
    args = parser.parse_args()
    folder = args.folder
    runs = cpu_runs([BenchReport.model_validate_json(path.read_text())
                     for bench in args.bench or [folder / "bench"] for path in sorted(bench.glob("bench-*.json"))])
    known = figures(folder)
    print(f"{len(runs)} bench runs; speedup = median over runs of {PARENT}'s p50 / the variant's (range)")
    speed = {}
    for ref, (method, map50, replica) in sorted(known.items(), key=lambda kv: kv[1][1], reverse=True):
        ratios = [run[PARENT] / run[ref] for run in runs if ref in run and PARENT in run]
        speed[ref] = statistics.median(ratios)
        print(f"  {ref:32} {method:9} mAP {map50:.2f}  {speed[ref]:.2f}x ({min(ratios):.2f}-{max(ratios):.2f})"
              + ("  [width replica]" if replica else ""))
    print(f"\nequal mAP (within {EQUAL_MAP}), two methods: latency of the first / the second, per run")
    pruned = [ref for ref, (method, _, _) in known.items() if method != "unpruned"]
    for a, b in itertools.combinations(pruned, 2):
        (ma, pa, _), (mb, pb, _) = known[a], known[b]
        if ma == mb or abs(pa - pb) > EQUAL_MAP:
            continue
        first, second = (a, b) if speed[a] <= speed[b] else (b, a)  # the slower first: ratio >= 1 at the median
        band = ratio_band(runs, first, second)
        print(f"  {first} ({known[first][0]}, {known[first][1]:.2f}) / {second} ({known[second][0]}, "
              f"{known[second][1]:.2f}): " + (band.describe() if band else "too few runs"))
    for replica, real, what in CONTROLS:
        control = [run[replica] / run[real] for run in runs if replica in run and real in run]
        if control:
            print(f"\ncontrol: the replica {replica.split('@')[1]} ({what}) / {real.split('@')[1]}: median "
                  f"{statistics.median(control):.2f}, runs {', '.join(f'{r:.2f}' for r in control)}")


if __name__ == "__main__":
    main()
