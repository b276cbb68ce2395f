"""`headcount-prune report`: Markdown + PNGs from `headcount-agent bench --json` runs of all variants.

Latency is the bench's p50 (batch 1, all variants in each run), the median over the runs given; a
variant's speedup is the median over runs of its parent's p50 / its p50 in the same run (a shared
machine drifts between runs, less within one). Where the bench also timed inferences at a camera's
pace (`paced_p50_ms`), the paced speedup is the same median of those. mAP@0.5 and count MAE are the bench's own
accuracy figures when it was given `--accuracy`, else the manifest's (the variant's release); counts on hand
labels (occupancy MAE, in/out recall) are the manifest's, where `headcount-agent count --labels --record` or
`bench/counting.py --record` measured them. The LUT's
estimate of a variant is the parent's p50 less the fraction of it the LUT's savings make (`Lut.estimate_ms`;
a LUT profiled without a reference model: minus the savings in its own ms); without a LUT, the pruning
loop's estimated speedup applied to the parent's p50.

Where the benches also timed the parent's uniform calibration cuts (`headcount-prune calibrate-lut --store`),
the LUT's calibration is fitted from them, in the same runs as the variants it estimates, and replaces the
one the LUT file carries; the cuts are listed but never judged or put on a front.
"""

from __future__ import annotations

import statistics
from dataclasses import dataclass, field
from pathlib import Path

from models.bench import BenchReport
from models.layer_spec import ModelSpec, read_spec
from models.lut import UNIFORM_METHOD, Lut, LutCalibration, load_lut, save_lut
from models.manifest import CountingFigures
from models.store import ModelStore
from pruning.prune.calibration_fit import (
    LUT_TOLERANCE,
    bench_calibrations,
    fit_calibration,
    is_cut,
    lut_cross_check,
)
from pruning.prune.fronts import Runs, plot_tradeoff, ratio_band, section

TARGET_SPEEDUP, TARGET_DROP, EQUAL_MAP, TARGET_RATIO = 1.8, 1.0, 0.5, 0.9
"""The targets the report judges (the LUT's, `LUT_TOLERANCE`, is issue 14's: every estimate within 10 %)."""


@dataclass
class Row:
    ref: str
    name: str
    method: str
    target: str
    p50: float
    map50: float | None
    count_mae: float | None
    flops: float | None
    params: int | None
    lut_speedup: float | None = None
    widths: dict[str, int] = field(default_factory=dict)
    original: dict[str, int] = field(default_factory=dict)
    speedup: float = 1.0
    lut_ms: float | None = None
    parent_p50: float | None = None
    paced_speedup: float | None = None
    hand_counts: CountingFigures | None = None
    """Counting through the agent's path against hand labels, where the manifest records it."""
    keep: float | None = None
    """A calibration cut's fraction of every layer's filters (`calibrate-lut --store`); None for a variant."""

    @property
    def implied_ms(self) -> float:
        """The variant's latency at its parent's median p50 and its within-run speedup: what the LUT's
        estimate (also made from the parent's p50) is compared with, robust to drift between runs."""
        return self.parent_p50 / self.speedup if self.parent_p50 else self.p50
    parent: str | None = None


def _row(result: object, store: ModelStore) -> Row:
    name, version = result.model.split("@", 1)  # type: ignore[attr-defined]
    manifest = store.load(name, version).manifest
    prov, metrics = manifest.provenance, manifest.metrics
    details = prov.details if prov.kind == "pruning" else {}
    acc = result.accuracy  # type: ignore[attr-defined]
    target = details.get("target", {})
    lut_speedup = details["loop_measured_base_ms"] / details["lut_estimated_ms"] \
        if "lut_estimated_ms" in details else None
    return Row(result.model, name, prov.method if prov.kind == "pruning" else "unpruned",  # type: ignore
               f"{target.get('speedup')}x" if target.get("speedup") else "-", result.latency.p50_ms,  # type: ignore
               100 * acc.map50 if acc and acc.map50 is not None else
               (100 * metrics.map50 if metrics.map50 is not None else None),
               acc.count_mae if acc else metrics.count_mae, metrics.flops, metrics.params, lut_speedup,
               details.get("filters_per_layer", {}), details.get("unpruned_filters_per_layer", {}),
               parent=prov.parent if prov.kind == "pruning" else None, hand_counts=metrics.counting,
               keep=details.get("keep") if prov.method == UNIFORM_METHOD else None)


def median_latency(runs: list[dict[str, float]], ref: str) -> float:
    """Median of `ref`'s p50 over the bench runs that have it."""
    return statistics.median(run[ref] for run in runs if ref in run)


def median_speedup(runs: list[dict[str, float]], parent: str, ref: str) -> float:
    """Median over the runs that have both of parent p50 / `ref` p50 within the run."""
    return statistics.median(run[parent] / run[ref] for run in runs if ref in run and parent in run)


def cpu_runs(reports: list[BenchReport]) -> list[dict[str, float]]:
    """Per bench run, each model's CPU p50 (ms) by `name@version`."""
    return [{r.model: r.latency.p50_ms for r in report.results if r.device == "CPU"} for report in reports]


def paced_runs(reports: list[BenchReport]) -> list[dict[str, float]]:
    """Per bench run, each model's CPU p50 at a camera's pace (ms), where the run timed one."""
    return [{r.model: r.paced_p50_ms for r in report.results if r.device == "CPU" and r.paced_p50_ms}
            for report in reports]


def measured_rows(reports: list[BenchReport], store: ModelStore) -> list[Row]:
    """Rows of the benches' CPU results: each model's median p50 and its median within-run speedup over its
    parent (at a camera's pace too, where the bench timed that)."""
    runs, paced = cpu_runs(reports), paced_runs(reports)
    first = {}
    for report in reports:
        for result in report.results:
            if result.device == "CPU":
                first.setdefault(result.model, result)
    rows = [_row(result, store) for result in first.values()]
    for row in rows:
        row.p50 = median_latency(runs, row.ref)
    for row in rows:
        parent = next((p for p in rows if p.name == row.name and p.method == "unpruned"
                       and (not row.parent or p.ref == row.parent)), None)
        if parent is None or row.method == "unpruned":
            continue
        row.speedup = median_speedup(runs, parent.ref, row.ref)
        if any(parent.ref in run and row.ref in run for run in paced):
            row.paced_speedup = median_speedup(paced, parent.ref, row.ref)
        row.parent_p50 = parent.p50
    return rows


def add_estimates(rows: list[Row], luts: dict[str, Lut], specs: dict[str, ModelSpec]) -> None:
    """Each variant's LUT estimate: with a LUT for the model name, `Lut.estimate_ms` of the parent's p50
    (with its spec, a pruned consumer's overlap counted once: `Lut.overlap_ms`); without, the loop's
    estimated speedup applied to the parent's p50."""
    for row in rows:
        if row.parent_p50 is None:
            continue
        if row.name in luts and row.original:
            row.lut_ms = luts[row.name].estimate_ms(row.parent_p50, row.original, row.widths, specs.get(row.name))
        elif row.lut_speedup:
            row.lut_ms = row.parent_p50 / row.lut_speedup


def _fmt(value: float | None, spec: str) -> str:
    return "-" if value is None else format(value, spec)


def _hand(counts: CountingFigures | None) -> str:
    if counts is None:
        return "-"
    recall = "" if counts.crossings_recall is None else f", in/out {counts.crossings_recall:.2f}"
    return f"{counts.count_mae:.3f}{recall}"


def table(rows: list[Row]) -> list[str]:
    lines = ["| variant | method | target | p50 ms | speedup | paced speedup | mAP@0.5 | count MAE | hand labels: "
             "count MAE, in/out recall | GFLOPs | params (M) | LUT est. ms | LUT error |", "|" + " --- |" * 13]
    for r in sorted(rows, key=lambda r: (r.name, r.method != "unpruned", r.method, -r.p50)):
        error = f"{100 * (r.lut_ms / r.implied_ms - 1):+.0f} %" if r.lut_ms else "-"
        speedup = "-" if r.method == "unpruned" else f"{r.speedup:.2f}x"
        paced = "-" if r.paced_speedup is None else f"{r.paced_speedup:.2f}x"
        lines.append(f"| {r.ref} | {r.method} | {r.target} | {r.p50:.2f} | {speedup} | {paced} | "
                     f"{_fmt(r.map50, '.2f')} | {_fmt(r.count_mae, '.3f')} | {_hand(r.hand_counts)} | "
                     f"{_fmt(r.flops and r.flops / 1e9, '.2f')} | {_fmt(r.params and r.params / 1e6, '.2f')} | "
                     f"{_fmt(r.lut_ms, '.2f')} | {error} |")
    return lines


def verdicts(rows: list[Row], runs: Runs = ()) -> list[str]:
    """The issue's three targets, judged on these rows, per parent (variants of one unpruned model); each
    equal-mAP ratio with its per-run band where the bench `runs` pair the two (`fronts.ratio_band`)."""
    lines = []
    for parent in (r for r in rows if r.method == "unpruned" and r.map50 is not None):
        mine = [r for r in rows if r.parent == parent.ref and not is_cut(r)]
        cluster = [r for r in mine if r.method.startswith("cluster") and r.map50 is not None]
        if not cluster:
            continue
        ok = [r for r in cluster if parent.map50 - r.map50 <= TARGET_DROP]  # type: ignore[operator]
        best = max(ok, key=lambda r: r.speedup, default=None)
        lines.append(f"- {parent.name} (parent {parent.ref}, mAP {parent.map50:.2f}): fastest cluster variant "
                     f"within {TARGET_DROP} point of mAP: "
                     + (f"{best.ref}, {best.speedup:.2f}x ({'met' if best.speedup >= TARGET_SPEEDUP else 'missed'}"
                        f" the {TARGET_SPEEDUP}x target)" if best else "none"))
        for c in cluster:
            peers = [f for f in mine if f.method == "filter" and f.map50 is not None
                     and abs(f.map50 - c.map50) <= EQUAL_MAP]  # type: ignore[operator]
            for f in peers:
                ratio, band = c.p50 / f.p50, ratio_band(runs, c.ref, f.ref)
                lines.append(f"  - equal mAP: {c.ref} vs {f.ref}: latency ratio {ratio:.2f} "
                             f"({'met' if ratio <= TARGET_RATIO else 'missed'} <= {TARGET_RATIO})"
                             + (f"; {band.describe()}" if band else ""))
        for r in mine:
            if r.lut_ms:
                err = r.lut_ms / r.implied_ms - 1
                lines.append(f"  - LUT estimate {r.ref}: {r.lut_ms:.2f} ms vs {r.implied_ms:.2f} ms measured "
                             f"({100 * err:+.0f} %, {'within' if abs(err) <= LUT_TOLERANCE else 'outside'} "
                             f"{100 * LUT_TOLERANCE:.0f} %)")
    return lines


def layer_table(row: Row, lut: Lut) -> list[str]:
    lines = [f"Latency per layer (LUT, layer + consumers), {row.ref}:", "",
             "| layer | filters before | after | LUT ms before | after |", "| --- | --- | --- | --- | --- |"]
    for name, before in row.original.items():
        after = row.widths.get(name, before)
        if name in lut.layers:
            entry = lut.layers[name]
            lines.append(f"| {name} | {before} | {after} | {entry.latency_ms(before):.3f} | "
                         f"{entry.latency_ms(after):.3f} |")
    return lines


def lut_check(rows: list[Row], store: ModelStore, luts: dict[str, Lut], rounds: int = 15,
              specs: dict[str, ModelSpec] | None = None) -> list[str]:
    """The LUT on its own scale: each parent timed together with its variants as the profiler times a
    LUT's rows (`agent.profile.timing`: the LUT's thread count, shuffled interleaved rounds, the lower
    quartile of per-round minima), so estimate and measurement share one statistic; estimate =
    `Lut.estimate_ms` of the parent's latency so measured. Where the parent's calibration cuts are among the
    rows, they are timed too and the calibration is fitted from these rounds (`fit_calibration`).

    The table above compares the same savings with bench p50s, which on a busy machine carry queueing
    that grows with a model's length; the savings, measured undisturbed, then look too small."""
    import openvino as ov

    from agent.profile.timing import Timer, TimingSettings
    from agent.timing import lut_threads

    lines = ["| variant | threads | parent ms | measured ms (spread) | LUT est. ms | error | speedup |",
             "| --- | --- | --- | --- | --- | --- | --- |"]
    notes: list[str] = []
    core = ov.Core()
    checked = [r for r in rows if r.name in luts and r.original and r.parent]
    for parent_ref in sorted({r.parent for r in checked if r.parent}):
        variants = [r for r in checked if r.parent == parent_ref]
        name = variants[0].name
        lut = luts[name]
        refs = [parent_ref, *(r.ref for r in variants)]
        models = {i: core.read_model(store.load(*ref.split("@", 1)).xml) for i, ref in enumerate(refs)}
        settings = TimingSettings(rounds=rounds, threads=lut_threads(lut) or 1)
        timed = Timer(core, "CPU", settings).measure(models)
        p_ms = timed[0].ms
        speedups = {r.ref: p_ms / timed[i].ms for i, r in enumerate(variants, start=1)}
        fitted = fit_calibration([r for r in variants if is_cut(r)], speedups, lut, (specs or {}).get(name),
                                 parent_ref, rounds, settings.reps)
        if fitted is not None:
            lut = lut.model_copy(update={"calibration": fitted})
            notes.append(f"{name}: calibration fitted from {len(fitted.points)} uniform cuts timed in these "
                         f"rounds, scale {fitted.scale:.3f}; the cuts' own errors show the fit, not a check.")
        for i, row in enumerate(variants, start=1):
            est = lut.estimate_ms(p_ms, row.original, row.widths, (specs or {}).get(row.name))
            v_ms = timed[i].ms
            lines.append(f"| {row.ref} | {settings.threads} | {p_ms:.2f} | {v_ms:.2f} ({timed[i].spread_ms:.2f}) | "
                         f"{est:.2f} | {100 * (est / v_ms - 1):+.1f} % | {p_ms / v_ms:.2f}x |")
    return [*lines, *(["", *notes] if notes else [])]


def plot_layers(row: Row, lut: Lut, path: Path) -> Path:
    """LUT latency of every prunable layer at its unpruned and its pruned width."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = [n for n in row.original if n in lut.layers]
    before = [lut.layers[n].latency_ms(row.original[n]) for n in names]
    after = [lut.layers[n].latency_ms(row.widths.get(n, row.original[n])) for n in names]
    fig, ax = plt.subplots(figsize=(max(8, 0.35 * len(names)), 4.5))
    x = range(len(names))
    ax.bar([i - 0.2 for i in x], before, 0.4, label="unpruned")
    ax.bar([i + 0.2 for i in x], after, 0.4, label=row.ref)
    ax.set_xticks(list(x), [n.replace("backbone.", "") for n in names], rotation=75, fontsize=7)
    ax.set_ylabel("LUT ms (layer + consumers)")
    ax.set_title(f"Latency per layer before/after: {row.ref}")
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def scale_note(reports: list[BenchReport], luts: dict[str, Lut], specs: dict[str, ModelSpec] | None = None,
               replaced: dict[str, LutCalibration | None] | None = None) -> list[str]:
    """How the table's LUT estimates were made, and whether LUT and bench used the same thread count.

    `replaced`: for a LUT whose calibration was fitted from the bench's cuts, the calibration its file carried
    (None: none)."""
    bench_threads = {r.threads for report in reports for r in report.results}
    lines = ["LUT est. in this table: the parent's bench p50 less the LUT's savings (layer + consumers, at "
             "each pruned layer's width); its error is against the parent's p50 / the variant's speedup (the "
             "measured latency on the parent's scale, robust to a machine that drifts between runs)."]
    for name, lut in luts.items():
        lines.append(f"The {name} estimate " + ("counts a pruned consumer's overlap once (spec given)" if name in
                                                (specs or {}) else "counts a pruned consumer's overlap twice "
                                                "(no spec given: it runs low)")
                     + (f" and takes each row's saving as a fraction of {lut.reference}, timed beside it."
                        if lut.reference else " and subtracts the savings in the profile's own ms (no "
                        "reference model timed beside the rows: off by however much faster or slower the "
                        "machine ran then)."))
        calibration = lut.calibration
        if calibration is None:
            continue
        if name in (replaced or {}):
            before = (replaced or {})[name]
            lines.append(f"Its savings are scaled {calibration.describe()}, fitted from {len(calibration.points)} "
                         f"uniform cuts of {calibration.parent} benched in these runs (calibrate-lut --store), in "
                         "place of " + (f"the LUT file's {before.describe()}" if before else "none in the LUT file")
                         + "; the uniform rows are those cuts, so their errors show the fit, not a check.")
        elif calibration.shape == "linear":
            lines.append(f"Its savings are scaled {calibration.describe()}, the line of {len(calibration.points)} "
                         f"pruned variants of {calibration.parent} (a report's LUT); where these rows are among "
                         "them, their errors show the fit, not a check.")
        else:
            lines.append(f"Its savings are scaled {calibration.describe()}, what whole uniformly pruned copies of "
                         f"{calibration.parent} saved against their rows (calibrate-lut).")
    for name, lut in luts.items():
        threads = lut.thread_count or 1
        if None in bench_threads:
            lines.append(f"The {name} LUT was measured with {threads} thread(s); this bench did not record its "
                         "thread count.")
            continue
        same = bench_threads == {threads}
        lines.append(f"The {name} LUT was measured with {threads} thread(s), the bench with "
                     f"{', '.join(str(t) for t in sorted(bench_threads))}: "
                     + ("one scale." if same else "different scales, so the estimate is not comparable "
                        "(see the check on the LUT's own scale below)."))
    return [" ".join(lines)]


def write_report(benches: list[Path], store_root: Path, luts: dict[str, Path], out: Path, check_rounds: int = 0,
                 specs: dict[str, Path] | None = None, budgets: tuple[float, ...] = ()) -> list[Path]:
    """Write `out` (Markdown), `<out>.png` (trade-off, fronts marked), `<out>-layers-<name>.png` and, where
    the benches timed a LUT's pruned variants or calibration cuts, `<out>-<name>.lut.json`: the LUT with the
    calibration fitted on the variants (shape `linear`), else on the cuts.

    `specs` (layer spec per architecture) correct the LUT estimates for overlaps; `budgets` (ms) name the
    best variant per architecture within each. Returns the paths written."""
    reports = [BenchReport.model_validate_json(bench.read_text()) for bench in benches]
    report = reports[0]
    store = ModelStore(store_root)
    tables = {name: load_lut(path) for name, path in luts.items()}
    layer_specs = {name: read_spec(path) for name, path in (specs or {}).items()}
    rows, runs = measured_rows(reports, store), cpu_runs(reports)
    if not rows:
        raise ValueError(f"{', '.join(map(str, benches))}: no CPU results")
    first = report.results[0]
    fitted = bench_calibrations(rows, tables, layer_specs, len(reports), first.latency.iterations)
    shaped = bench_calibrations(rows, tables, layer_specs, len(reports), first.latency.iterations, "linear")
    replaced = {n: tables[n].calibration for n in fitted}
    cross = lut_cross_check(rows, tables, layer_specs, len(reports), first.latency.iterations)
    tables = {n: lut.model_copy(update={"calibration": fitted[n]}) if n in fitted else lut for n, lut in tables.items()}
    add_estimates(rows, tables, layer_specs)
    judged = [r for r in rows if not is_cut(r)]
    out.parent.mkdir(parents=True, exist_ok=True)
    written = [plot_tradeoff(judged, out.with_suffix(".png"))]
    for name in {*fitted, *shaped}:  # the LUT as this bench calibrated it, for the next `prune --lut`
        written.append(out.with_name(f"{out.stem}-{name}.lut.json"))
        save_lut(tables[name].model_copy(update={"calibration": shaped.get(name) or fitted[name]}), written[-1])
    lines = ["# Pruning report", "",
             f"{len(benches)} `headcount-agent bench` run(s) on {report.host} ({report.cpu_count} CPUs, "
             f"{first.device_name}, OpenVINO {first.openvino}, precision {first.precision}); p50 of "
             f"{first.latency.iterations} batch-1 inferences per variant and run, the median over the runs "
             "that bench it. Speedup: the median over runs of the unpruned parent's p50 / the variant's p50 "
             "in the same run.", "", f"![mAP vs latency]({out.with_suffix('.png').name})", "",
             *table(rows), "", *scale_note(reports, tables, layer_specs, replaced), "", "## Targets", "",
             *verdicts(judged, runs), "",
             "## Pareto fronts (latency on the parent's scale)", "", *section(judged, budgets, runs)]
    if cross:
        lines += ["## LUT estimate, calibrated on the other methods' variants (leave one method out)", "",
                  "Each method's variants estimated with the rows' savings corrected by a line over the rows' "
                  "saved fraction, fitted on the other methods' variants of the same parent in these runs "
                  "(`LutCalibration` shape `linear`): no variant is estimated by a fit that saw it.", "", *cross,
                  "", *(f"The LUT written beside this report (`{out.stem}-{n}.lut.json`) carries the line fitted on "
                        f"all {len(c.points)} of {n}'s variants, for the next pruning run." for n, c in shaped.items()),
                  ""]
    if check_rounds:
        lines += ["## LUT estimate on its own scale (timed as the profiler times the LUT's rows)", "",
                  *lut_check(rows, store, tables, check_rounds, layer_specs), ""]
    for name, lut in tables.items():
        cluster = [r for r in judged if r.name == name and r.method.startswith("cluster") and r.widths]
        if not cluster:
            continue
        best = max(cluster, key=lambda r: r.speedup)
        png = out.with_name(f"{out.stem}-layers-{name}.png")
        written.append(plot_layers(best, lut, png))
        lines += ["", f"## Layers of {best.ref}", "", f"![layers]({png.name})", "", *layer_table(best, lut)]
    out.write_text("\n".join(lines) + "\n")
    return [out, *written]
