"""Alternate two agent variants round by round (order reversed every other round) and compare them.

    python ab_runs.py VARIANT_A,VARIANT_B CAMERAS ROUNDS [--replay]

A variant runs `ab_child.py` over the tree in ROOTS (a `git worktree` of the commit before, made with
`git worktree add /tmp/wt-before 47c177e`, with agent/daemon.py and agent/capture.py taken from the
commit after so that the bench's opener seam exists; or the working tree), else over the working tree
with an in-process change (see ab_child.py). Prints every run, the medians per variant, and the per-round
ratios of B's fps to A's.
"""

import json
import statistics
import subprocess
import sys
from pathlib import Path

from agent.local_broker import LocalBroker

CHECKOUT = Path(__file__).resolve().parents[3]
ROOTS = {"before": "/tmp/wt-before", "prev": "/tmp/wt-prev"}  # else the working tree
variants, cams, rounds, extra = sys.argv[1].split(","), sys.argv[2], int(sys.argv[3]), sys.argv[4:]
res: dict[str, list[dict]] = {v: [] for v in variants}
with LocalBroker() as broker:
    for r in range(rounds):
        for v in variants if r % 2 == 0 else variants[::-1]:
            tree = ROOTS.get(v, str(CHECKOUT))
            out = subprocess.run([sys.executable, str(Path(__file__).with_name("ab_child.py")), v, cams,
                                  str(broker.port), *extra], capture_output=True, text=True, cwd=CHECKOUT / "bench",
                                 env={"PYTHONPATH": f"{tree}:{CHECKOUT / 'bench'}", "PATH": "/usr/bin:/bin"})
            if out.returncode:
                raise SystemExit(out.stderr[-2000:])
            run = json.loads(out.stdout.strip().splitlines()[-1])
            res[v].append(run)
            print(json.dumps(run), flush=True)
for v in variants:
    keys = sorted(res[v][0].keys() - {"variant"})
    print(v, {k: round(statistics.median(d.get(k, 0) for d in res[v]), 3) for k in keys})
ratios = [b["fps"] / a["fps"] for a, b in zip(res[variants[0]], res[variants[1]], strict=True)]
print(f"{variants[1]}/{variants[0]} fps per round", [round(x, 3) for x in ratios],
      "median", round(statistics.median(ratios), 3))
