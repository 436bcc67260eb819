"""`optflow compare`: which search strategy finds a good model in fewest trials, or fewest epochs, on my problem?

Runs the same task under each sampler and pruner and several seeds (no per-trial MLflow runs: only the outcome
matters), then logs one comparison run: the best-so-far curve of every strategy (median and quartiles over seeds,
as metrics with step = trial and as a figure), the trials each needs to reach a target, and a table. When
pruners are compared, the curves are also drawn against the training epochs spent, the budget a pruner saves.
"""

from __future__ import annotations

import csv
import io
import tempfile
import time
import warnings
from dataclasses import dataclass, replace

import numpy as np
import optuna
from optuna.trial import TrialState

from optflow.config import Config
from optflow.contract import TAG_KIND, TAG_OPTFLOW_STUDY
from optflow.study.options import RunOptions
from optflow.study.study import run_study
from optflow.tables import format_table
from optflow.tracking import mlflow_runs


@dataclass(frozen=True)
class SamplerResult:
    """Best-so-far curves of one strategy (a sampler, with a pruner) over seeds: shape (seeds, trials), NaN
    before the first success; `epochs` holds the training epochs spent up to each trial, of the same shape."""

    sampler: str  # the strategy's label: `gp`, or `gp-sha` when pruners are compared
    curves: np.ndarray
    seconds_per_trial: float
    epochs: np.ndarray | None = None
    pruner: str = ""  # set when pruners are compared


def best_so_far(values: list[float | None], maximize: bool) -> np.ndarray:
    """Running best of trial values in trial order (failed or pruned trials carry the previous best)."""
    out, best = [], np.nan
    for value in values:
        if value is not None and (np.isnan(best) or (value > best if maximize else value < best)):
            best = value
        out.append(best)
    return np.array(out, dtype=float)


def run_comparison(
    config: Config, samplers: list[str], seeds: int, quiet: bool = False, pruners: list[str] | None = None
) -> list[SamplerResult]:
    """Every sampler (and pruner) on the config's task, once per seed, in a throwaway SQLite storage."""
    maximize = config.study.maximize
    pruners = pruners or [config.study.pruner]
    results = []
    with tempfile.TemporaryDirectory() as tmp:
        storage = f"sqlite:///{tmp}/compare.db"
        for sampler in samplers:
            for pruner in pruners:
                compared = len(pruners) > 1
                label = f"{sampler}-{pruner}" if compared else sampler  # MLflow metric names take no "+"
                curves, spent, seconds = [], [], []
                for seed in range(seeds):
                    name = f"{config.study.name}-{label}-seed{seed}"
                    study = replace(config.study, name=name, sampler=sampler, pruner=pruner, seed=seed, storage=storage)
                    start = time.perf_counter()
                    run_study(replace(config, study=study), RunOptions(tracking=False))
                    trials = sorted(
                        optuna.load_study(study_name=name, storage=storage).get_trials(deepcopy=False),
                        key=lambda t: t.number,
                    )
                    seconds.append((time.perf_counter() - start) / max(1, len(trials)))
                    values = [t.value if t.state == TrialState.COMPLETE else None for t in trials]
                    curves.append(best_so_far(values, maximize))
                    spent.append(np.cumsum([len(t.intermediate_values) for t in trials], dtype=float))
                    if not quiet:
                        print(f"{label:>14s} seed {seed}: best {curves[-1][-1]:.6g} after {len(values)} trials, "
                              f"{spent[-1][-1]:.0f} epochs")  # fmt: skip
                results.append(
                    SamplerResult(
                        label, _padded(curves), float(np.median(seconds)), _padded(spent), pruner if compared else ""
                    )
                )
    return results


def _padded(rows: list[np.ndarray]) -> np.ndarray:
    """Rows of unequal length (a grid stops at its size) as one array, each row's last value repeated."""
    width = max(len(row) for row in rows)
    return np.array([np.pad(row, (0, width - len(row)), mode="edge") for row in rows])


def by_epochs(result: SamplerResult, grid: np.ndarray) -> np.ndarray:
    """Each seed's best-so-far as a step function of the epochs spent, on `grid`: shape (seeds, len(grid)), NaN
    before its first complete trial ended."""
    out = np.full((result.curves.shape[0], len(grid)), np.nan)
    for seed, (curve, spent) in enumerate(zip(result.curves, result.epochs, strict=True)):
        index = np.searchsorted(spent, grid, side="right") - 1  # the last trial ended by then
        out[seed] = np.where(index >= 0, curve[np.clip(index, 0, None)], np.nan)
    out[:, grid > result.epochs[:, -1].max()] = np.nan  # the line ends where the strategy's last seed stopped
    return out


def median_to_target(needed: list[float | None]) -> float | None:
    """The median over seeds of what each needed to reach the target, a seed that never did counting as
    never: None when half the seeds or more did not (the median of the reached ones alone flatters)."""
    values = np.array([np.inf if n is None else n for n in needed], dtype=float)
    median = float(np.median(values)) if len(values) else np.inf
    return median if np.isfinite(median) else None


def epochs_to_reach(result: SamplerResult, target: float, maximize: bool) -> list[float | None]:
    """Per seed: the training epochs spent when the best-so-far first reached `target` (None if never)."""
    out: list[float | None] = []
    for curve, spent in zip(result.curves, result.epochs, strict=True):
        needed = trials_to_reach(curve, target, maximize)
        out.append(None if needed is None else float(spent[needed - 1]))
    return out


def default_target(results: list[SamplerResult]) -> float:
    """The median final best over every sampler and seed: a value half the runs reach."""
    return float(np.nanmedian(np.concatenate([r.curves[:, -1] for r in results])))


def trials_to_reach(curve: np.ndarray, target: float, maximize: bool) -> int | None:
    """1-based trial count at which the best-so-far first reaches `target`; None if it never does."""
    reached = curve >= target if maximize else curve <= target
    hits = np.flatnonzero(reached)
    return int(hits[0]) + 1 if len(hits) else None


def summary_rows(results: list[SamplerResult], target: float, maximize: bool) -> list[dict]:
    """One row per sampler: final best (median, quartiles), median trials to the target, seconds per trial."""
    rows = []
    for result in results:
        final = result.curves[:, -1]
        needed = [trials_to_reach(c, target, maximize) for c in result.curves]
        reached = [n for n in needed if n is not None]
        to_target = median_to_target(needed)
        rows.append(
            {
                "sampler": result.sampler,
                "final_best_median": float(np.nanmedian(final)),
                "final_best_q25": float(np.nanpercentile(final, 25)),
                "final_best_q75": float(np.nanpercentile(final, 75)),
                "trials_to_target_median": to_target,
                "seeds_reaching_target": f"{len(reached)}/{len(needed)}",
                "seconds_per_trial": result.seconds_per_trial,
                **_epoch_columns(result, target, maximize),
            }
        )
    return rows


def _epoch_columns(result: SamplerResult, target: float, maximize: bool) -> dict:
    if result.epochs is None:
        return {}
    return {
        "epochs_spent_median": float(np.median(result.epochs[:, -1])),
        "epochs_to_target_median": median_to_target(epochs_to_reach(result, target, maximize)),
    }


def summary_table(rows: list[dict]) -> str:
    """The summary as aligned plain text."""
    epochs = bool(rows) and "epochs_spent_median" in rows[0]
    header = ["sampler", "final best (median)", "q25", "q75", "trials to target", "reached", "s/trial"]
    header += ["epochs spent", "epochs to target"] if epochs else []
    cells = []
    for row in rows:
        needed = row["trials_to_target_median"]
        cells.append(
            [
                row["sampler"],
                f"{row['final_best_median']:.6g}",
                f"{row['final_best_q25']:.6g}",
                f"{row['final_best_q75']:.6g}",
                "-" if needed is None else f"{needed:g}",
                row["seeds_reaching_target"],
                f"{row['seconds_per_trial']:.3f}",
            ]
        )
        if epochs:
            to_target = row["epochs_to_target_median"]
            cells[-1] += [f"{row['epochs_spent_median']:g}", "-" if to_target is None else f"{to_target:g}"]
    return format_table(header, cells)


def comparison_figure(results: list[SamplerResult], metric: str, target: float, title: str):
    """Median best-so-far per sampler with the interquartile band, and the target as a dashed line."""
    series = [(r.sampler, np.arange(1, r.curves.shape[1] + 1), r.curves) for r in results]
    return _bands_figure(series, "trial", results, metric, target, title)


def epochs_figure(results: list[SamplerResult], metric: str, target: float, title: str):
    """Median best-so-far per strategy against the training epochs spent (quartile band): what a pruner saves."""
    grid = np.linspace(0, max(float(r.epochs[:, -1].max()) for r in results), 200)
    series = [(f"{r.sampler} ({np.median(r.epochs[:, -1]):g} epochs)", grid, by_epochs(r, grid)) for r in results]
    return _bands_figure(series, "training epochs spent (all trials so far)", results, metric, target, title)


def _bands_figure(series: list, xlabel: str, results: list[SamplerResult], metric: str, target: float, title: str):
    """(label, x, curves of shape (seeds, len(x))) -> the median of each with its interquartile band."""
    from optflow.tracking.plots import new_figure

    figure, axis = new_figure()
    for label, x, curves in series:
        with warnings.catch_warnings():  # where no seed has a complete trial yet there is nothing to draw
            warnings.simplefilter("ignore", RuntimeWarning)
            median = np.nanmedian(curves, axis=0)
            low, high = np.nanpercentile(curves, [25, 75], axis=0)
        axis.plot(x, median, label=label)
        axis.fill_between(x, low, high, alpha=0.2)
    axis.axhline(target, color="grey", linestyle="--", linewidth=1, label="target")
    if all(np.nanmin(r.curves) > 0 for r in results):
        axis.set_yscale("log")
    axis.set_xlabel(xlabel)
    axis.set_ylabel(f"best {metric} so far")
    axis.set_title(title)
    axis.legend(loc="best", fontsize="small")
    return figure


def log_comparison(tracking_uri: str, config: Config, results: list[SamplerResult], target: float, seeds: int) -> str:
    """One MLflow run holding the comparison; returns its id."""
    from mlflow.entities import Metric

    from optflow.tracking.plots import figure_png

    maximize = config.study.maximize
    experiment = mlflow_runs.experiment_id(tracking_uri, config.study.experiment or f"{config.study.name}-compare")
    params = {
        "samplers": ",".join(r.sampler for r in results),
        "seeds": str(seeds),
        "target": f"{target:.6g}",
        "n_trials": str(config.study.n_trials),
        "metric": config.study.metric,
        "data": config.data.name,
    }
    now = int(time.time() * 1000)
    metrics = []
    for result in results:
        median = np.nanmedian(result.curves, axis=0)
        low, high = np.nanpercentile(result.curves, [25, 75], axis=0)
        for step in range(len(median)):
            for label, series in (("median", median), ("q25", low), ("q75", high)):
                if np.isfinite(series[step]):
                    metrics.append(Metric(f"best_so_far_{label}.{result.sampler}", float(series[step]), now, step))
    rows = summary_rows(results, target, maximize)
    for row in rows:
        for name in ("trials_to_target", "epochs_to_target", "epochs_spent"):
            if row.get(f"{name}_median") is not None:
                metrics.append(Metric(f"{name}.{row['sampler']}", row[f"{name}_median"], now, 0))
    tags = {TAG_KIND: "compare", TAG_OPTFLOW_STUDY: config.study.name}
    run_id = mlflow_runs.start_run(tracking_uri, experiment, f"compare-{config.study.name}", params, tags)
    mlflow_runs.log_metrics(tracking_uri, run_id, metrics)
    client = mlflow_runs.client(tracking_uri)
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=list(rows[0]))
    writer.writeheader()
    writer.writerows(rows)
    client.log_text(run_id, buffer.getvalue(), "compare/summary.csv")
    client.log_text(run_id, summary_table(rows) + "\n", "compare/summary.txt")
    title = f"{config.study.name}: {seeds} seeds each"
    figures = {"best_so_far.png": comparison_figure(results, config.study.metric, target, title)}
    if results[0].pruner:  # pruners compared: the epochs they spend
        figures["best_by_epochs.png"] = epochs_figure(results, config.study.metric, target, title)
    with tempfile.TemporaryDirectory() as tmp:
        for name, figure in figures.items():
            path = f"{tmp}/{name}"
            with open(path, "wb") as handle:
                handle.write(figure_png(figure))
            client.log_artifact(run_id, path, "compare")
    client.set_terminated(run_id, "FINISHED")
    return run_id
