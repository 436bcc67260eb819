"""The CNN and the transformer in optflow's trainer against a hand-written loop doing the same work.

    python benchmarks/families_bench.py               # both, best of 5 repeats, one thread
    python benchmarks/families_bench.py --repeats 3

Each case trains the same network on the same data with the same batch size and plain SGD, with a validation
pass per epoch; the rate is samples (CNN) or tokens (transformer) per second of the whole run.
"""

from __future__ import annotations

import argparse

import torch
import torch.nn.functional as F
from trainer_bench import best_of, hand_written  # the same hand-written loop the MLP is measured against

from optflow.config import build_config
from optflow.data import load_dataset
from optflow.models import build_model
from optflow.training import fit

CASES = {
    "CNN on digits 1x8x8, batch 64": {
        "data": {"name": "digits_images"},
        "model": {"kind": "cnn", "channels": 16, "conv_layers": 2},
        "training": {"epochs": 5, "batch_size": 64, "optimizer": "sgd", "lr": 0.05},
    },
    "char transformer, 64 chars, batch 32": {
        "data": {"name": "text", "seq_len": 64, "max_chars": 60000},
        "model": {"kind": "transformer", "d_model": 64, "n_heads": 4, "n_layers": 2, "d_ff": 128},
        "training": {"epochs": 2, "batch_size": 32, "optimizer": "sgd", "lr": 0.05},
    },
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    torch.set_num_threads(1)
    print(f"{'case':38} {'hand-written':>16} {'optflow':>16} {'ratio':>7}")
    for name, raw in CASES.items():
        config = build_config(raw)
        data = load_dataset(config.data)
        training = config.training
        unit = "tok/s" if data.task == "language_modeling" else "smp/s"
        per_sample = data.x_train.shape[1] if data.task == "language_modeling" else 1
        work = data.x_train.shape[0] * per_sample * training.epochs
        if data.task == "language_modeling":

            def loss_of(output, target):
                return F.cross_entropy(output.flatten(0, 1), target.flatten())
        else:
            loss_of = F.cross_entropy

        def ours(config=config, data=data):
            for _ in fit(build_model(config, data.spec), data, config.training):
                pass

        def theirs(config=config, data=data, loss_of=loss_of):
            model = build_model(config, data.spec)
            hand_written(model, data, config.training.epochs, int(config.training.batch_size), 0.05, loss_of)

        ours(), theirs()  # warm-up
        t_theirs, t_ours = best_of(args.repeats, theirs), best_of(args.repeats, ours)
        print(
            f"{name:38} {work / t_theirs:>10,.0f} {unit} {work / t_ours:>10,.0f} {unit} {t_theirs / t_ours:>6.2f}x",
            flush=True,
        )


if __name__ == "__main__":
    main()
