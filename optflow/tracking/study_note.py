"""What the study's MLflow run says of itself in the MLflow UI: what the study is, its best trial or its Pareto
front as links to their runs, and how to open the Optuna side. Plain text in, Markdown out."""

from __future__ import annotations

from collections.abc import Sequence

from optuna.trial import FrozenTrial

from optflow.config import Config
from optflow.contract import ATTR_RUN_ID, TAG_PARETO, run_page, trial_run_name
from optflow.search.ranking import first_value
from optflow.urls import mask_password

# The MLflow UI draws tables without cell padding: the columns would run together.
CELL_GAP = "\u00a0" * 3


def task_name(config: Config) -> str:
    """What the study trains on: the data set, a data factory, or the own loop's function."""
    return config.objective.function or config.data.factory or config.data.name


def study_line(config: Config) -> str:
    """One sentence: the study's name, sampler, budget, goals and bounds, and what it trains on."""
    study = config.study
    goals = " and ".join(f"{goal.direction} `{goal.name}`" for goal in study.goals)
    bounds = f", subject to {', '.join(f'`{c}`' for c in study.constraint_list)}" if study.constraints else ""
    return (
        f"optflow study **{study.name}** ({study.sampler} sampler, {study.n_trials} trials, "
        f"{goals}{bounds} on `{task_name(config)}`)."
    )


def study_run_note(
    config: Config,
    experiment_id: str,
    artifact_dir: str,
    best: FrozenTrial | None = None,
    front: Sequence[FrozenTrial] = (),
) -> str:
    """The study run's description: the study, its best trial (or Pareto front), how to see the Optuna side."""
    lines = [study_line(config)]
    if front:
        lines.append(_pareto_table(config, experiment_id, front))
    elif best is not None and ATTR_RUN_ID in best.user_attrs:
        run_link = run_page(experiment_id, best.user_attrs[ATTR_RUN_ID])
        lines.append(
            f"Best trial: [{trial_run_name(best.number)}]({run_link}), {config.study.metric} = {first_value(best):.6g}."
        )
    storage = mask_password(config.study.storage)
    lines.append(
        "Each trial is a child run: sort them by `best_val_loss` (or `best_<metric>`). The Optuna side, with "
        f"each trial's loss curve: `optflow dashboard --storage {storage} --artifact-dir {artifact_dir}`."
    )
    return "\n\n".join(lines)


def _pareto_table(config: Config, experiment_id: str, front: Sequence[FrozenTrial]) -> str:
    columns = ["trial", *(goal.name for goal in config.study.goals)]
    header = "| " + " | ".join(f"{name}{CELL_GAP}" for name in columns) + " |\n|" + "---|" * len(columns)
    table = (
        f"Pareto front ({len(front)} trials; their runs carry the tag `{TAG_PARETO}`, the table is "
        f"`study/pareto_front.csv`):\n\n{header}"
    )
    for trial in front:
        run_id = trial.user_attrs.get(ATTR_RUN_ID)
        name = trial_run_name(trial.number)
        cell = f"[{name}]({run_page(experiment_id, run_id)})" if run_id else name
        table += f"\n| {cell}{CELL_GAP} | " + " | ".join(f"{v:.6g}{CELL_GAP}" for v in trial.values) + " |"
    return table
