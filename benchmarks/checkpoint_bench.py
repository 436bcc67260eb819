"""What checkpoints cost a trial: seconds per checkpoint, its size, and its share of the trial's time.

    python benchmarks/checkpoint_bench.py                # the default MLP study, the CNN, the transformer
    python benchmarks/checkpoint_bench.py --repeats 5

Each case trains one trial with the default `checkpoint_every` (10) and with a checkpoint after every epoch,
to a temporary directory on the same disk as the study's artifact store would be, and reports the mean time of a
save (state to the host, `torch.save`, rename), the file's size, and the saves' share of the trial's wall time.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import torch

from optflow.config import TrainingConfig, build_config
from optflow.data import load_dataset
from optflow.models import build_model
from optflow.training import fit
from optflow.training.checkpoint import TrialCheckpoint

CASES = {
    "MLP on digits (the default study)": {
        "model": {"kind": "mlp", "hidden": [64, 64]},
        "training": {"epochs": 30, "batch_size": 64, "optimizer": "adam", "lr": 0.01},
    },
    "CNN on digits 1x8x8": {
        "data": {"name": "digits_images"},
        "model": {"kind": "cnn", "channels": 16, "conv_layers": 2},
        "training": {"epochs": 20, "batch_size": 64, "optimizer": "adamw", "lr": 0.01},
    },
    "char transformer, 64 chars": {
        "data": {"name": "text", "seq_len": 64, "max_chars": 30000},
        "model": {"kind": "transformer", "d_model": 64, "n_heads": 4, "n_layers": 2, "d_ff": 128},
        "training": {"epochs": 10, "batch_size": 32, "optimizer": "adamw", "lr": 0.003},
    },
}
DEFAULT_EVERY = TrainingConfig().checkpoint_every


def trial(raw: dict, every: int) -> tuple[float, list[float], int]:
    """(the trial's wall seconds, each save's seconds, the checkpoint's bytes)."""
    config = build_config(raw)
    data = load_dataset(config.data)
    with tempfile.TemporaryDirectory() as directory:
        checkpoints = TrialCheckpoint(Path(directory) / "trial-0000.pt", every)
        torch.manual_seed(0)
        model = build_model(config, data.spec)
        started = time.perf_counter()
        for _ in fit(model, data, config.training, checkpoints=checkpoints):
            pass
        seconds = time.perf_counter() - started
        return seconds, checkpoints.seconds, checkpoints.path.stat().st_size


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    torch.set_num_threads(1)
    print(f"{'case':36} {'every':>5} {'saves':>5} {'ms/save':>8} {'size':>9} {'trial s':>8} {'share':>7}")
    for name, raw in CASES.items():
        trial(raw, DEFAULT_EVERY)  # warm-up: imports, allocator
        for every in (DEFAULT_EVERY, 1):
            runs = [trial(raw, every) for _ in range(args.repeats)]
            seconds = statistics.median(run[0] for run in runs)
            saves = [save for run in runs for save in run[1]]
            per_save = statistics.mean(saves)
            share = statistics.median(sum(run[1]) / run[0] for run in runs)
            size = runs[0][2] / 2**20
            print(
                f"{name:36} {every:>5} {len(runs[0][1]):>5} {per_save * 1000:>8.1f} {size:>7.2f}MB {seconds:>8.2f} "
                f"{share:>6.1%}",
                flush=True,
            )


if __name__ == "__main__":
    main()
