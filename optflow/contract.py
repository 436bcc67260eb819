"""Names users, the MLflow UI, optuna-dashboard and scripts rely on (docs/reference/contracts.md), each written once.

Tracking writes them, pruning and plots read the metric names, and the tests check them from here.
"""

from __future__ import annotations

import os
import socket

# ------------------------------------------------------------------------------------------------ metrics

# Per-epoch metrics, logged with step = epoch: val_accuracy for classification, val_rmse for regression,
# val_bpc (bits per character: val_loss / ln 2) for character-level language modelling.
EPOCH_METRICS = ("train_loss", "val_loss", "val_accuracy", "val_rmse", "val_bpc", "lr")
# Once per run: the best val_loss of a complete run, the epochs it ran and its training time.
BEST_VAL_LOSS, EPOCHS_RUN, TRAIN_SECONDS = "best_val_loss", "epochs_run", "train_seconds"
# Once per run: training rows per second of wall time (validation included), and on CUDA the peak memory
# torch allocated on the device (MiB).
SAMPLES_PER_SECOND, PEAK_DEVICE_MEMORY = "samples_per_second", "peak_device_memory_mb"
N_PARAMS = "n_params"  # a complete trial's trainable parameters (optflow's models): an objective or a bound
FINAL_METRICS = (BEST_VAL_LOSS, EPOCHS_RUN, TRAIN_SECONDS, SAMPLES_PER_SECOND, PEAK_DEVICE_MEMORY)
# On the study run, with step = trial number: the study's best value after each trial.
STUDY_BEST_VALUE = "best_value"
# The validation metrics a study may optimise, by the direction `auto` gives them.
METRICS_MINIMIZED = ("val_loss", "val_rmse", "val_bpc")
METRICS_MAXIMIZED = ("val_accuracy",)

# ------------------------------------------------------------------------------------------------ MLflow

# A trial's child run.
TAG_STUDY_NAME = "optuna.study_name"
TAG_TRIAL_NUMBER = "optuna.trial_number"
TAG_TRIAL_STATE = "optuna.trial_state"  # COMPLETE, PRUNED or FAIL: Optuna's state is the truth
TAG_PRUNED_AT = "optflow.pruned_at_epoch"  # a pruned trial's run: the last epoch it ran
TAG_FAIL_REASON = "optflow.fail_reason"
TAG_BATCH_SIZE_USED = "optflow.batch_size_used"  # the batch a trial really trained with, when it was halved
TAG_WORKER = "optflow.worker"  # host:pid of the process that ran the trial
TAG_DEVICE = "optflow.device"  # the device the trial trained on: cpu, cuda:0, ...
TAG_RETRY_OF = "optflow.retry_of"  # the dead worker's trial this one retries
TAG_RESUMED_FROM = "optflow.resumed_from_epoch"  # a trial that resumed from a checkpoint: the epoch it resumed at
TAG_PARETO = "optflow.pareto"  # "true" on the runs of the Pareto-optimal trials of a study of several objectives
TAG_SEARCHED = "optflow.searched"  # the params the sampler chose, comma-separated
# The study (parent) run.
TAG_OPTFLOW_STUDY = "optflow.study_name"
TAG_SAMPLER = "optflow.sampler"
TAG_STORAGE = "optflow.storage"  # password masked
TAG_STUDY_RUN_ID = "optflow.study_run_id"  # on a run `mlflow run` made for a resumed study: the study's run
TAG_CHANGE = "optflow.change"  # `optflow.change.12.sampler = random -> gp`: a setting changed from trial 12 on
TAG_BEST_RUN = "optflow.best_trial_run_id"  # the study run: its best trial's run, linked from its description
# `optflow train`'s run.
TAG_KIND = "optflow.kind"
TAG_DATA = "optflow.data"

# Optuna state -> MLflow status. A pruned trial ran as it should and was stopped early by design: FINISHED, told
# apart by its tags (the MLflow UI draws KILLED and FAILED with the same red cross).
RUN_STATUS = {"COMPLETE": "FINISHED", "PRUNED": "FINISHED", "FAIL": "FAILED"}
INTERRUPTED_STATUS = "KILLED"  # Ctrl-C or SIGTERM: the run was stopped, not failed
INTERRUPTED_REASON = "interrupted (Ctrl-C or SIGTERM)"

MODEL_NAME = "model"  # the logged model's name inside its run


def run_page(experiment_id: str, run_id: str) -> str:
    """The MLflow UI's page of a run (after the server's address), in its model-training view: MLflow 3 opens
    in its GenAI view unless the link says otherwise."""
    return f"#/experiments/{experiment_id}/runs/{run_id}?workflowType=machine_learning"


def trial_run_name(number: int) -> str:
    """`trial-0007`: sorts in trial order in the MLflow UI."""
    return f"trial-{number:04d}"


# ------------------------------------------------------------------------------------------------ Optuna

# Trial user attrs.
ATTR_RUN_ID = "mlflow_run_id"
ATTR_EXPERIMENT_ID = "mlflow_experiment_id"
ATTR_WORKER = "worker"
# Which process ran a trial (host:pid), as Ray Tune shows node and pid: the trial's `worker` attr and run tag.
WORKER_ID = f"{socket.gethostname()}:{os.getpid()}"
ATTR_BATCH_SIZE_USED = "batch_size_used"  # set when CUDA ran out of memory and the trial ran on half the batch
ATTR_FAIL_REASON = "fail_reason"  # set on trials that failed by themselves (divergence, errors), not when lost
ATTR_INTERRUPTED = "interrupted"  # set on a trial Ctrl-C or SIGTERM stopped: the next session runs it again
ATTR_RESUME_OF = "resume_of"  # a trial queued to resume an interrupted one from its checkpoint: that one's number
ATTR_RESUMED_FROM = "resumed_from_epoch"  # a trial that resumed from a checkpoint: the epoch it resumed at
# Study user attrs.
ATTR_PARENT_RUN_ID = "mlflow_parent_run_id"
ATTR_TRACKING_URI = "mlflow_tracking_uri"  # password masked
# Study system attr: how many trials the summary artifacts on the study run show.
SYSTEM_ATTR_SUMMARY = "optflow:summary_trials"
SYSTEM_ATTR_PARETO_RUNS = "optflow:pareto_runs"  # the runs tagged optflow.pareto = true, untagged when dominated
