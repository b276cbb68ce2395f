"""Bench results as a Markdown table and a PNG plot (matplotlib, an optional dependency)."""

from __future__ import annotations

from pathlib import Path

from models.bench import BenchResult


def _fmt(value: float | None, digits: int = 2) -> str:
    return "n/a" if value is None else f"{value:.{digits}f}"


def markdown_table(results: list[BenchResult]) -> str:
    head = ("| model | device | precision | compile s | first ms | p50 ms | p95 ms | p99 ms | pipeline p50 ms "
            "| paced p50 ms | fps (requests) | CPU % | peak RSS MB | J/inference | W | mAP@0.5 | count MAE |")
    rows = [head, "|" + " --- |" * (head.count("|") - 1)]
    for r in results:
        acc = r.accuracy
        rows.append(
            f"| {r.model} | {r.device} | {r.precision or 'n/a'} | {r.compile_s:.2f} | {r.first_inference_ms:.1f} "
            f"| {r.latency.p50_ms:.2f} | {r.latency.p95_ms:.2f} | {r.latency.p99_ms:.2f} | {r.pipeline_p50_ms:.2f} "
            f"| {_fmt(r.paced_p50_ms)} | {r.throughput.fps:.1f} ({r.throughput.requests}) | {r.cpu_percent:.0f} "
            f"| {r.peak_rss_mb:.0f} "
            f"| {_fmt(r.energy_per_inference_j, 4)} | {_fmt(r.avg_power_w, 1)} "
            f"| {_fmt(acc.map50 if acc else None, 3)} | {_fmt(acc.count_mae if acc else None, 2)} |"
        )
    notes = sorted({f"{r.device}: {r.power_reason}" for r in results if r.power_reason})
    if notes:
        rows += ["", "Energy and power n/a: " + "; ".join(notes) + "."]
    return "\n".join(rows) + "\n"


def plot(results: list[BenchResult], path: Path) -> str | None:
    """Latency vs mAP where accuracy is known, else p50 latency per variant. None, or why it was skipped."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return "matplotlib is not installed (pip install 'headcount[dev]'); PNG plot skipped"
    fig, ax = plt.subplots(figsize=(6.4, 3.6), dpi=100)
    with_acc = [r for r in results if r.accuracy and r.accuracy.map50 is not None]
    if with_acc:
        for r in with_acc:
            ax.scatter(r.latency.p50_ms, r.accuracy.map50)
            ax.annotate(f"{r.model} {r.device}", (r.latency.p50_ms, r.accuracy.map50), fontsize=8)
        ax.set_xlabel("p50 latency (ms, batch 1)")
        ax.set_ylabel("mAP@0.5")
    else:
        labels = [f"{r.model}\n{r.device}" for r in results]
        ax.bar(labels, [r.latency.p50_ms for r in results], color="tab:blue", label="p50")
        ax.errorbar(labels, [r.latency.p50_ms for r in results],
                    yerr=[[0] * len(results), [r.latency.p95_ms - r.latency.p50_ms for r in results]],
                    fmt="none", ecolor="black", capsize=4, label="to p95")
        ax.set_ylabel("latency (ms, batch 1)")
        ax.legend(fontsize=8)
    ax.set_title("headcount-agent bench", fontsize=10)
    fig.tight_layout()
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path)
    plt.close(fig)
    return None
