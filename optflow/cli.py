"""`optflow tune | train | compare | dashboard`: argv -> API calls, and what the terminal shows of them.

Also `python -m optflow` and the MLproject entry points. Progress is printed by the reporters of `progress.py`, which
the study calls back, and a study's closing summary by `result_text.py`; the Python API runs the same calls
silently.
"""

from __future__ import annotations

import argparse
import logging
import os
import re
import sys
from collections.abc import Sequence
from dataclasses import replace
from typing import Any, NoReturn

from optflow.config import Config, load_config, parse_override
from optflow.config.sections import declared
from optflow.errors import (
    EXIT_FAILURE,
    EXIT_INTERRUPTED,
    EXIT_NO_RESULT,
    EXIT_OK,
    EXIT_UNLOGGED,
    EXIT_USAGE,
    UsageError,
)
from optflow.progress import Notices, ProgressBar, TrialLines
from optflow.result_text import printed_summary
from optflow.study import interrupts
from optflow.study.options import RunOptions
from optflow.urls import mask_logging, secrets_in

MAX_WORKERS = 256

# Flags that override one config field each, taken as the field's type (never as YAML: `--study-name "exp #3"`
# is that name). Empty strings mean "keep the config's value", which is how the MLproject passes parameters a
# user did not set.
FIELD_FLAGS = {
    "--sampler": "study.sampler",
    "--n-trials": "study.n_trials",
    "--study-name": "study.name",
    "--storage": "study.storage",
    "--seed": "study.seed",
    "--metric": "study.metric",
    "--pruner": "study.pruner",
    "--log-models": "study.log_models",
    "--register-model": "study.register_model",
    "--experiment": "study.experiment",
    "--artifact-dir": "study.artifact_dir",
    "--data": "data.name",
    "--epochs": "training.epochs",
}
INT_FLAGS = {"--n-trials", "--seed", "--epochs"}
STORAGE_ENV = "OPTFLOW_STORAGE"  # the way to pass a storage URL with a password: never through -P or argv
# `--set a.b=1 c.d=x y`: a new assignment starts where a space is followed by `section.field=`, so one value
# may hold spaces (MLproject passes all of its `overrides` as one argument).
ASSIGNMENT_START = re.compile(r"\s+(?=[A-Za-z_]\w*(?:\.\w+)+=)")


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        """One line and exit status 2, like every other usage error."""
        self.exit(EXIT_USAGE, f"optflow: error: {message}\n")


def _flag(name: str) -> list[str]:
    """A flag and its underscore spelling: `mlflow run -P n_trials=20` passes an MLproject parameter it does not
    declare as `--n_trials 20`, so the MLproject declares only `config` and logs only what a user gave."""
    return [name, "--" + name[2:].replace("-", "_")] if "-" in name[2:] else [name]


def _add_common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", default="", help="YAML config file (see configs/)")
    for flag, field in FIELD_FLAGS.items():
        help = f"override {field}: {declared(field).help}".replace("%", "%%")  # argparse formats help with %
        parser.add_argument(*_flag(flag), default="", metavar="VALUE", help=help)
    parser.add_argument(
        "--set",
        "--overrides",
        dest="set",
        action="append",
        default=[],
        metavar="SECTION.FIELD=VALUE",
        help="override any config field, e.g. --set training.lr=0.1 (repeatable; one value may hold several, "
        "each starting with section.field=)",
    )
    parser.add_argument(*_flag("--tracking-uri"), default="", help="MLflow tracking URI (default: MLFLOW_TRACKING_URI)")
    parser.add_argument(*_flag("--no-tracking"), action="store_true", help="do not log to MLflow")
    parser.add_argument("--quiet", action="store_true", help="print only errors and the final summary")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="optflow", description="Hyperparameter search for PyTorch models with Optuna and MLflow.")
    commands = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)
    tune = commands.add_parser("tune", help="run, resume or join a study")
    _add_common(tune)
    tune.add_argument(
        "--workers",
        default="1",
        metavar="N",
        help="worker processes on this machine sharing the study (more machines: run `optflow tune` on each "
        "with the same storage and study name)",
    )
    tune.add_argument(
        "--devices",
        default="",
        metavar="0,1,...",
        help="CUDA devices the workers take in turn, one each (default: every visible one)",
    )
    train = commands.add_parser("train", help="one training run with the config's fixed params")
    _add_common(train)
    compare = commands.add_parser("compare", help="the same task under several samplers and seeds")
    _add_common(compare)
    compare.add_argument("--samplers", default="grid,random,tpe,gp", help="comma-separated sampler names")
    compare.add_argument(
        "--pruners", default="", help="comma-separated pruner names to compare too (default: the config's pruner)"
    )
    compare.add_argument("--seeds", default=3, type=int, help="runs per sampler (seeds 0..K-1)")
    compare.add_argument(
        "--target", default=None, type=float, help="value to reach (default: the median final best over all runs)"
    )
    dashboard = commands.add_parser("dashboard", help="optuna-dashboard on the study's storage")
    dashboard.add_argument("--config", default="", help="YAML config file whose study.storage to open")
    dashboard.add_argument("--storage", default="", help=f"storage URL (default: {STORAGE_ENV}, then the config)")
    dashboard.add_argument("--artifact-dir", default="", help="Optuna artifact store (default: the config's)")
    dashboard.add_argument("--host", default="127.0.0.1")
    dashboard.add_argument("--port", default=8080, type=int)
    return parser


def config_from_args(args: argparse.Namespace) -> Config:
    """The config file with flag, environment and --set overrides applied (flags win over the environment)."""
    overrides: dict[str, Any] = {}
    env_storage = os.environ.get(STORAGE_ENV, "")
    if env_storage:
        overrides["study.storage"] = env_storage
    for flag, field in FIELD_FLAGS.items():
        value = getattr(args, flag.lstrip("-").replace("-", "_"))
        if value != "":
            overrides[field] = _as_int(value) if flag in INT_FLAGS else value
    if secrets_in(args.storage) and os.environ.get("MLFLOW_RUN_ID"):
        raise UsageError(
            "--storage must not carry a password under `mlflow run` (MLflow logs -P values as params); "
            f"put the URL in {STORAGE_ENV} or use PGPASSWORD, and rotate the exposed password"
        )
    for assignments in args.set:
        for assignment in ASSIGNMENT_START.split(assignments.strip()):
            if assignment:
                key, value = parse_override(assignment)
                overrides[key] = value
    return load_config(args.config or None, overrides)


def _as_int(value: str) -> int | str:
    """An int flag's value: `20`, or `20.0` as MLflow passes a `float` MLproject parameter; else the text, which
    the field's rule refuses in its own words."""
    try:
        number = float(value)
    except ValueError:
        return value
    return int(number) if number.is_integer() else value


def _workers(value: str) -> int:
    if not value.isdigit() or not 1 <= int(value) <= MAX_WORKERS:
        raise UsageError(f"--workers must be an int in [1, {MAX_WORKERS}]; got {value!r}")
    return int(value)


# ------------------------------------------------------------------------------------------------ commands


def _options(args: argparse.Namespace, workers: int = 1) -> RunOptions:
    reporter = Notices() if args.quiet else ProgressBar() if workers == 1 else TrialLines()
    return RunOptions(
        tracking=not args.no_tracking, tracking_uri=args.tracking_uri or None, workers=workers, reporter=reporter
    )


def _tune(args: argparse.Namespace, config: Config) -> int:
    from optflow.study.devices import parse_devices
    from optflow.study.study import StorageFailed, run_study
    from optflow.study.workers import WorkersFailed, run_workers

    options = replace(
        _options(args, _workers(args.workers or "1")), devices=parse_devices(args.devices, config.training.device)
    )
    try:
        result = run_workers(config, options) if options.workers > 1 else run_study(config, options)
    except (WorkersFailed, StorageFailed) as error:
        print(f"optflow: error: {error}", file=sys.stderr)
        return EXIT_FAILURE
    except KeyboardInterrupt:
        stopped = options.reporter.interrupted
        if stopped:
            runs = " (its MLflow run ended KILLED)" if options.tracking else ""  # --no-tracking made no runs
            trials = ", ".join(map(str, stopped))
            what = f"trial {trials} was interrupted{runs} and runs again when the command is rerun"
        else:
            what = "no trial of this process was running; rerun the command to finish the study"
        print(f"optflow: interrupted; {what}", file=sys.stderr)
        return EXIT_INTERRUPTED
    name = result.study_name
    if result.already_spent:
        print(f"study {name!r} has {result.n_used} of {result.budget} trials; raise --n-trials to run more")
        if config.study.register_model and result.model_uri:
            print(f"best model {result.model_uri} is registered as {config.study.register_model!r}")
        return EXIT_OK
    print(printed_summary(result, config.study.metric))
    if result.n_complete == 0:
        print(
            f"optflow: no trial of study {name!r} completed ({result.n_failed} failed, {result.n_pruned} pruned): "
            "see each trial's reason above, or in its run's optflow.fail_reason tag",
            file=sys.stderr,
        )
        return EXIT_NO_RESULT
    if result.best_value is None and config.study.constraints:
        bounds = ", ".join(config.study.constraints)
        print(
            f"optflow: no complete trial of study {name!r} met every constraint ({bounds}), so it has no best "
            "trial: loosen study.constraints, or widen the search and raise --n-trials",
            file=sys.stderr,
        )
        return EXIT_NO_RESULT
    if result.unlogged_runs:
        print(
            f"optflow: {result.unlogged_runs} trial run(s) could not be logged to MLflow ({result.tracking_uri}); "
            "the trials are in Optuna, and rerunning the command once the store is back closes what was left open",
            file=sys.stderr,
        )
        return EXIT_UNLOGGED
    return EXIT_OK


def _train(args: argparse.Namespace, config: Config) -> int:
    from tqdm import tqdm

    from optflow.study.single_run import run_training

    bars: list[Any] = []  # made at the first epoch, once the input has passed every check

    def progress(record) -> None:
        if args.quiet:
            return
        if not bars:
            bars.append(
                tqdm(
                    total=None if config.own_loop else config.training.epochs,
                    unit="epoch",
                    desc="train",
                    dynamic_ncols=True,
                    disable=None,  # no terminal, no bar: its frames would fill a log
                )
            )
        bars[0].update(1)
        bars[0].set_postfix({k: f"{v:.4g}" for k, v in record.metrics().items() if k != "lr"})

    try:
        result = run_training(config, _options(args), on_epoch=progress)
    finally:
        for bar in bars:
            bar.close()
    if result.fail_reason:
        print(f"optflow: training failed: {result.fail_reason}", file=sys.stderr)
        return 1
    print(
        f"best {config.study.metric} = {result.value:.6g} after {len(result.records)} epochs"
        + (f"; MLflow run {result.run_id}" if result.run_id else "")
    )
    return 0


def _compare(args: argparse.Namespace, config: Config) -> int:
    from optflow.compare import default_target, log_comparison, run_comparison, summary_rows, summary_table
    from optflow.config.rules import one_of
    from optflow.search.pruners import PRUNERS
    from optflow.search.samplers import SAMPLERS
    from optflow.search.samplers.gp.sampler import STARTUP_TRIALS

    rule = one_of(SAMPLERS.keys)
    samplers = [rule.check("--samplers", name.strip()) for name in args.samplers.split(",") if name.strip()]
    pruner_rule = one_of(PRUNERS.keys)
    pruners = [pruner_rule.check("--pruners", name.strip()) for name in args.pruners.split(",") if name.strip()]
    if args.seeds < 1:
        raise UsageError(f"--seeds must be an int in [1, inf); got {args.seeds}")
    for field in ("objectives", "constraints"):  # its curves are the best value so far of one objective, unbounded
        if getattr(config.study, field):
            given = list(getattr(config.study, field))
            raise UsageError(f"study.{field} must be empty for optflow compare; got {given}")
    if "gp" in samplers and config.study.n_trials <= STARTUP_TRIALS:
        print(
            f"optflow: warning: gp samples its first {STARTUP_TRIALS} trials at random, so with --n-trials "
            f"{config.study.n_trials} it is compared as random search; give it more trials",
            file=sys.stderr,
        )
    results = run_comparison(config, samplers, args.seeds, quiet=args.quiet, pruners=pruners or None)
    target = args.target if args.target is not None else default_target(results)
    print(f"target {config.study.metric} = {target:.6g}")
    print(summary_table(summary_rows(results, target, config.study.maximize)))
    if not args.no_tracking:
        import mlflow

        run_id = log_comparison(args.tracking_uri or mlflow.get_tracking_uri(), config, results, target, args.seeds)
        print(f"MLflow comparison run {run_id}")
    return 0


def _dashboard(args: argparse.Namespace) -> int:
    from optflow.study.storage import open_storage
    from optflow.tracking.dashboard import artifact_dir, serve

    study = load_config(args.config or None).study
    url = args.storage or os.environ.get(STORAGE_ENV, "") or study.storage
    artifacts = artifact_dir(url, args.artifact_dir or study.artifact_dir)
    serve(open_storage(url, heartbeat=False), url, args.host, args.port, artifacts)
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="optflow: %(levelname)s: %(message)s")
    mask_logging()
    interrupts.install()  # SIGTERM ends runs like Ctrl-C: KILLED, never RUNNING
    try:
        if args.command == "dashboard":
            return _dashboard(args)
        config = config_from_args(args)
        return {"tune": _tune, "train": _train, "compare": _compare}[args.command](args, config)
    except UsageError as error:
        print(f"optflow: error: {error}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        if args.command == "train" and not args.no_tracking:
            print("optflow: interrupted; the training run was ended as KILLED", file=sys.stderr)
        elif args.command != "dashboard":
            print("optflow: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED


if __name__ == "__main__":
    sys.exit(main())
