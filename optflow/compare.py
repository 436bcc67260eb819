"""`optflow compare`: which search strategy finds a good model in fewest trials on my problem?

Runs the same task under each sampler and several seeds (no per-trial MLflow runs: only the outcome matters),
then logs one comparison run: the best-so-far curve of every sampler (median and quartiles over seeds, as
metrics with step = trial and as a figure), the trials each needs to reach a target, and a table.
"""

from __future__ import annotations

import csv
import io
import tempfile
import time
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
    """Best-so-far curves of one sampler over seeds: shape (seeds, trials), NaN before the first success."""

    sampler: str
    curves: np.ndarray
    seconds_per_trial: float


def best_so_far(values: list[float | None], maximize: bool) -> np.ndarray:
    """Running best of trial values in trial order (failed or pruned trials carry the previous best)."""
    out, best = [], np.nan
    for value in values:
        if value is not None and (np.isnan(best) or (value > best if maximize else value < best)):
            best = value
        out.append(best)
    return np.array(out, dtype=float)


def run_comparison(config: Config, samplers: list[str], seeds: int, quiet: bool = False) -> list[SamplerResult]:
    """Every sampler on the config's task, once per seed, in a throwaway SQLite storage."""
    maximize = config.study.maximize
    results = []
    with tempfile.TemporaryDirectory() as tmp:
        storage = f"sqlite:///{tmp}/compare.db"
        for sampler in samplers:
            curves, seconds = [], []
            for seed in range(seeds):
                name = f"{config.study.name}-{sampler}-seed{seed}"
                study_config = replace(
                    config, study=replace(config.study, name=name, sampler=sampler, seed=seed, storage=storage)
                )
                start = time.perf_counter()
                run_study(study_config, RunOptions(tracking=False))
                study = optuna.load_study(study_name=name, storage=storage)
                trials = sorted(study.get_trials(deepcopy=False), key=lambda t: t.number)
                seconds.append((time.perf_counter() - start) / max(1, len(trials)))
                values = [t.value if t.state == TrialState.COMPLETE else None for t in trials]
                curves.append(best_so_far(values, maximize))
                if not quiet:
                    print(f"{sampler:>8s} seed {seed}: best {curves[-1][-1]:.6g} after {len(values)} trials")
            width = max(len(c) for c in curves)
            padded = np.array([np.pad(c, (0, width - len(c)), mode="edge") for c in curves])
            results.append(SamplerResult(sampler, padded, float(np.median(seconds))))
    return results


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
        rows.append(
            {
                "sampler": result.sampler,
                "final_best_median": float(np.nanmedian(final)),
                "final_best_q25": float(np.nanpercentile(final, 25)),
                "final_best_q75": float(np.nanpercentile(final, 75)),
                "trials_to_target_median": float(np.median(reached)) if len(reached) * 2 > len(needed) else None,
                "seeds_reaching_target": f"{len(reached)}/{len(needed)}",
                "seconds_per_trial": result.seconds_per_trial,
            }
        )
    return rows


def summary_table(rows: list[dict]) -> str:
    """The summary as aligned plain text."""
    header = ["sampler", "final best (median)", "q25", "q75", "trials to target", "reached", "s/trial"]
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
    return format_table(header, cells)


def comparison_figure(results: list[SamplerResult], metric: str, target: float, title: str):
    """Median best-so-far per sampler with the interquartile band, and the target as a dashed line."""
    from optflow.tracking.plots import new_figure

    figure, axis = new_figure()
    for result in results:
        steps = np.arange(1, result.curves.shape[1] + 1)
        median = np.nanmedian(result.curves, axis=0)
        low, high = np.nanpercentile(result.curves, [25, 75], axis=0)
        axis.plot(steps, median, label=result.sampler)
        axis.fill_between(steps, low, high, alpha=0.2)
    axis.axhline(target, color="grey", linestyle="--", linewidth=1, label="target")
    if all(np.nanmin(r.curves) > 0 for r in results):
        axis.set_yscale("log")
    axis.set_xlabel("trial")
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
        if row["trials_to_target_median"] is not None:
            metrics.append(Metric(f"trials_to_target.{row['sampler']}", row["trials_to_target_median"], now, 0))
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
    figure = comparison_figure(results, config.study.metric, target, f"{config.study.name}: {seeds} seeds each")
    with tempfile.TemporaryDirectory() as tmp:
        path = f"{tmp}/best_so_far.png"
        with open(path, "wb") as handle:
            handle.write(figure_png(figure))
        client.log_artifact(run_id, path, "compare")
    client.set_terminated(run_id, "FINISHED")
    return run_id
