"""bf16 autocast against fp32 for the character transformer on the CPU: speed and the loss it reaches.

    python benchmarks/precision_bench.py               # 3 seeds, one thread
    python benchmarks/precision_bench.py --threads 2 --epochs 4

Each run trains the same transformer (64 wide, 2 layers, Adam) on the bundled text for the same epochs, once in
fp32 and once under `training.precision: bf16`; the rate is tokens per second of the whole run (validation
included) and the loss is the best validation loss in nats per character. Whether bf16 is faster depends on the
CPU: without native bf16 matrix units (AVX512-BF16 or AMX) its matmuls are emulated and slower than fp32.
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch

from optflow.config import build_config
from optflow.data import load_dataset
from optflow.models import build_model
from optflow.training import fit


def run(precision: str, seed: int, epochs: int, threads: int) -> tuple[float, float]:
    """(tokens per second, best validation loss) of one training run."""
    config = build_config(
        {
            "data": {"name": "text", "seq_len": 64, "max_chars": 60000},
            "model": {"kind": "transformer", "d_model": 64, "n_heads": 4, "n_layers": 2, "d_ff": 128},
            "training": {
                "epochs": epochs,
                "batch_size": 32,
                "optimizer": "adam",
                "lr": 0.003,
                "seed": seed,
                "precision": precision,
                "threads": threads,
            },
        }  # fmt: skip
    )
    data = load_dataset(config.data)
    torch.manual_seed(seed)
    model = build_model(config, data.spec)
    started = time.perf_counter()
    records = list(fit(model, data, config.training))
    seconds = time.perf_counter() - started
    tokens = data.x_train.shape[0] * data.x_train.shape[1] * len(records)
    return tokens / seconds, min(r.val_loss for r in records)


def cpu_name() -> str:
    try:
        with open("/proc/cpuinfo") as handle:
            return next(line.split(":", 1)[1].strip() for line in handle if line.startswith("model name"))
    except (OSError, StopIteration):
        return "unknown CPU"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    print(
        f"{cpu_name()}, torch {torch.__version__}, {args.threads} thread(s), {args.epochs} epochs, {args.seeds} seeds"
    )
    results: dict[str, list[tuple[float, float]]] = {"fp32": [], "bf16": []}
    for seed in range(args.seeds):
        for precision in results:
            results[precision].append(run(precision, seed, args.epochs, args.threads))
            rate, loss = results[precision][-1]
            print(f"  seed {seed} {precision}: {rate:,.0f} tokens/s, best val_loss {loss:.4f}", flush=True)
    print(f"{'precision':10} {'tokens/s (median)':>18} {'best val_loss (median)':>23}")
    for precision, values in results.items():
        rate = statistics.median(v[0] for v in values)
        loss = statistics.median(v[1] for v in values)
        print(f"{precision:10} {rate:>18,.0f} {loss:>23.4f}")
    fp32, bf16 = (statistics.median(v[0] for v in results[p]) for p in ("fp32", "bf16"))
    print(f"bf16 speed: {bf16 / fp32:.2f}x fp32")


if __name__ == "__main__":
    main()
