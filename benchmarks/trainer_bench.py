"""Trainer throughput against a minimal hand-written PyTorch loop, and the cost of MLflow tracking.

    python benchmarks/trainer_bench.py            # both parts
    python benchmarks/trainer_bench.py --part trainer

Part 1 (trainer): samples/second of `optflow.training.fit` and of a hand-written loop doing the same work
(same model, data, batch size, optimiser, one thread, a validation pass per epoch), best of several repeats.
Part 2 (tracking): seconds per trial of a small digits study with MLflow tracking on and off.
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch
import torch.nn.functional as F

import optflow
from optflow.config import Config, DataConfig, ModelConfig, TrainingConfig
from optflow.data import load_dataset
from optflow.models import build_model
from optflow.training import fit

CASES = {
    "digits MLP 64-128-10, batch 64": (DataConfig(name="digits"), 30),
    "synthetic 100k x 100, batch 64": (
        DataConfig(name="classification", n_samples=125_000, n_features=100, n_classes=10, val_fraction=0.2),
        2,
    ),
}


def hand_written(model, data, epochs: int, batch: int, lr: float, loss_of=F.cross_entropy) -> None:
    """The loop a careful user writes by hand: shuffle, slice, step; a validation pass per epoch."""
    optimizer = torch.optim.SGD(model.parameters(), lr=lr)
    generator = torch.Generator().manual_seed(0)
    n = data.x_train.shape[0]
    for _ in range(epochs):
        model.train()
        order = torch.randperm(n, generator=generator)
        x_all, y_all = data.x_train[order], data.y_train[order]
        for start in range(0, n, batch):
            loss = loss_of(model(x_all[start : start + batch]), y_all[start : start + batch])
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
        model.eval()
        with torch.no_grad():
            loss_of(model(data.x_val), data.y_val).item()


def best_of(repeats: int, run) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        run()
        times.append(time.perf_counter() - start)
    return min(times)


def trainer_part(repeats: int) -> None:
    torch.set_num_threads(1)
    print(f"{'case':34} {'hand-written':>14} {'optflow':>14} {'ratio':>7}")
    for name, (data_config, epochs) in CASES.items():
        data = load_dataset(data_config)
        config = TrainingConfig(epochs=epochs, batch_size=64, optimizer="sgd", lr=0.05)
        model_config = Config(model=ModelConfig(kind="mlp", hidden=(128,)), training=config)
        samples = data.x_train.shape[0] * epochs

        def ours(config=config, data=data, model_config=model_config):
            for _ in fit(build_model(model_config, data.spec), data, config):
                pass

        def theirs(data=data, model_config=model_config, epochs=epochs):
            hand_written(build_model(model_config, data.spec), data, epochs, 64, 0.05)

        ours(), theirs()  # warm-up
        t_theirs, t_ours = best_of(repeats, theirs), best_of(repeats, ours)
        print(f"{name:34} {samples / t_theirs:>10,.0f} s/s {samples / t_ours:>10,.0f} s/s {t_theirs / t_ours:>6.2f}x")


def tracking_part(n_trials: int, repeats: int) -> None:
    """Median seconds per trial (objective start to end, Optuna reporting included) with tracking on and off."""
    import tempfile

    per_trial: dict[bool, list[float]] = {False: [], True: []}
    for tracking in (False, True) * repeats:
        with tempfile.TemporaryDirectory() as tmp:
            overrides = {
                "study.name": "bench",
                "study.n_trials": n_trials,
                "study.sampler": "random",
                "study.storage": f"sqlite:///{tmp}/optuna.db",
                "study.log_models": "none",
            }
            result = optflow.tune({}, overrides=overrides, tracking=tracking, tracking_uri=f"sqlite:///{tmp}/mlflow.db")
            per_trial[tracking].append(result.seconds_per_trial)
    off, on = statistics.median(per_trial[False]), statistics.median(per_trial[True])
    print(f"30-epoch digits trial, {n_trials} trials x {repeats} studies each:")
    print(f"  tracking off {off * 1000:.0f} ms/trial, on {on * 1000:.0f} ms/trial, ratio {on / off:.2f}x")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--part", choices=["trainer", "tracking", "all"], default="all")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--trials", type=int, default=20)
    args = parser.parse_args()
    if args.part in ("trainer", "all"):
        trainer_part(args.repeats)
    if args.part in ("tracking", "all"):
        tracking_part(args.trials, max(1, args.repeats // 2))


if __name__ == "__main__":
    main()
