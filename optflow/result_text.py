"""What `optflow tune` prints when a study ends: the trial counts, the best trials or the Pareto front, and where
to look next."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from optflow.contract import run_page
from optflow.tables import format_table

if TYPE_CHECKING:
    from optflow.study.result import StudyResult


def printed_summary(result: StudyResult, metric: str) -> str:
    """The counts and best value, the best trials' table (or the Pareto front's), and the next steps."""
    best = "none" if result.best_value is None else f"{result.best_value:.6g}"
    counts = [f"{result.n_complete} complete"]
    counts += [f"{n} {what}" for n, what in ((result.n_pruned, "pruned"), (result.n_failed, "failed")) if n]
    # Of the trials that spend the budget: an interrupted trial is run again, so counting every stored trial
    # would say "6 complete of 7 trials" for a budget of 6.
    rerun = f" ({result.n_rerun} interrupted trial{'s' * (result.n_rerun > 1)} run again)" if result.n_rerun else ""
    lines = [f"study {result.study_name}: {', '.join(counts)} of {result.n_used} trials{rerun}; best {metric} = {best}"]
    if result.pareto:
        lines += [f"Pareto front ({len(result.pareto)} trials):", trials_table(result.pareto, result.objectives)]
    elif result.top_trials:
        top = [(number, (value,), params) for number, value, params in result.top_trials]
        lines.append(trials_table(top, [metric]))
    lines.append(next_steps(result))
    return "\n".join(lines)


def trials_table(trials: Sequence[tuple[int, tuple[float, ...], dict[str, Any]]], objectives: Sequence[str]) -> str:
    """A plain-text table of trials in the given order: number, objective values, then every param."""
    names = sorted({name for _, _, params in trials for name in params})
    rows = []
    for number, values, params in trials:
        cells = [f"{params[n]:.4g}" if isinstance(params.get(n), float) else str(params.get(n, "-")) for n in names]
        rows.append([str(number), *(f"{v:.6g}" for v in values), *cells])
    return format_table(["trial", *objectives, *names], rows)


def next_steps(result: StudyResult) -> str:
    """Where to look next: the MLflow UI for this tracking store, optuna-dashboard, the best config and model."""
    lines = ["next:"]
    uri = result.tracking_uri
    if result.study_run_id and uri:
        if uri.startswith(("http://", "https://")):
            where = f"{uri.rstrip('/')}/{run_page(result.experiment_id, result.study_run_id)}"
            lines.append(f"  MLflow study run:  {where}")
        else:
            lines.append(
                f"  MLflow UI:         mlflow ui --backend-store-uri {uri}   (study run {result.study_run_id})"
            )
    lines.append(
        f"  optuna-dashboard:  optflow dashboard --storage {result.storage} --artifact-dir {result.artifact_dir}"
    )
    if result.best_config:
        lines.append(
            f"  best config:       {result.best_config}   (replay: optflow train --config {result.best_config})"
        )
    if result.model_uri:
        lines.append(f"  best model:        {result.model_uri}   (mlflow.pyfunc.load_model: raw rows in)")
    return "\n".join(lines)
