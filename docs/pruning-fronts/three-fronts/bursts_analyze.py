"""bursts.py's samples: per turn length, the two controls (one network under two names) in each round, as the
ratio of p50s, the median of per-turn ratios and the ratio of minimums, with the spread (population SD of the
log ratio); then each round's speedups of a few variants over @1 (ratio of p50s)."""

from __future__ import annotations

import json
import math
import statistics
import sys

CONTROLS = (("c43-end", "cp-4.7x"), ("h43-end", "h43s1-end"))


def ratio(stat: str, a: list[list[float]], b: list[list[float]]) -> float:
    """Latency of `a` over `b` (each a list of turns of seconds) by the statistic named."""
    if stat == "p50":
        return statistics.median(sum(a, [])) / statistics.median(sum(b, []))
    if stat == "min":
        return min(sum(a, [])) / min(sum(b, []))
    return statistics.median(statistics.median(x) / statistics.median(y) for x, y in zip(a, b, strict=True))


def main() -> None:
    with open(sys.argv[1]) as file:
        data = json.load(file)
    index = {name: i for i, name in enumerate(data["names"])}
    for burst in sorted({run["burst"] for run in data["runs"]}, reverse=True):
        runs = [run["raw"] for run in data["runs"] if run["burst"] == burst]
        for stat in ("p50", "turn-median ratio", "min"):
            parts = []
            for a, b in CONTROLS:
                values = [ratio(stat, raw[index[a]], raw[index[b]]) for raw in runs]
                spread = statistics.pstdev([math.log(v) for v in values])
                parts.append(f"{a}/{b}: " + ",".join(f"{v:.2f}" for v in values) + f" sd(log) {spread:.3f}")
            print(burst, f"{stat:18}", "  ".join(parts))
    for run in data["runs"]:
        p50 = {name: statistics.median(sum(run["raw"][i], [])) * 1e3 for name, i in index.items()}
        print(run["burst"], f"@1 {p50['1']:.2f} ms;", " ".join(
            f"{name} {p50['1'] / p50[name]:.2f}x" for name in ("cp-4.7x", "cp-2.1x", "h43s1-2.5x", "h43s1-end")))


if __name__ == "__main__":
    main()
