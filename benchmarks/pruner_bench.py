"""Pruners against no pruning: the training epochs each spends to find a good CNN on digits.

    python benchmarks/pruner_bench.py          # 5 seeds x 20 trials x 20 epochs -> docs/images/compare_pruners.png
    python benchmarks/pruner_bench.py --seeds 2 --n-trials 6 --epochs 5 --figure /tmp/pruners.png   # a quick look
    python benchmarks/pruner_bench.py --results /tmp/pruners.pkl   # keep the runs; again with it: only re-draw
    python benchmarks/pruner_bench.py --tracking-uri sqlite:////tmp/pruners/mlflow.db   # and `optflow compare`'s run

The same comparison as `optflow compare --samplers random --pruners none,median,sha,hyperband` (it calls the same
`run_comparison`): a CNN on the bundled `digits_images` (1x8x8), searching lr, channels, conv_layers, dropout and
the optimizer with the random sampler, so that every pruner sees the same trials for a seed and a pruner can only
stop some of them early. Reported per pruner, over seeds: the final best val_loss (median and quartiles), the
training epochs spent, the epochs spent when the best val_loss first reached one target (the same for all; a seed
that never reaches it counts as never, so the median is "-" when half the seeds or more do not), and both epoch
counts as a ratio to `none`. The figure draws the best val_loss against the epochs spent (median and
interquartile band over seeds), each line ending where the pruner's last seed stopped.
"""

from __future__ import annotations

import argparse
import pickle
import time
import warnings
from pathlib import Path

import numpy as np

from optflow.compare import SamplerResult, by_epochs, default_target, epochs_to_reach, run_comparison
from optflow.config import Config, build_config
from optflow.tables import format_table

PRUNERS = ("none", "median", "sha", "hyperband")
STYLES = {  # pruned studies share their trials with `none` until a pruner first stops one: the lines overlap
    "none": {"color": "tab:grey", "linestyle": "-", "linewidth": 3.0},
    "median": {"color": "tab:blue", "linestyle": "--", "linewidth": 2.0},
    "sha": {"color": "tab:orange", "linestyle": "-", "linewidth": 1.6},
    "hyperband": {"color": "tab:green", "linestyle": (0, (5, 1.5, 1.5, 1.5)), "linewidth": 1.6},
}


def study_config(n_trials: int, epochs: int) -> Config:
    """The CNN study: random search over the optimiser and the architecture, val_loss minimised."""
    return build_config(
        {
            "study": {"name": "cnn-digits-pruners", "sampler": "random", "n_trials": n_trials, "metric": "val_loss"},
            "data": {"name": "digits_images"},
            "model": {"kind": "cnn", "channels": 16, "conv_layers": 2, "kernel_size": 3},
            "training": {"epochs": epochs, "batch_size": 64, "optimizer": "adam", "lr": 0.005},
            "search": {
                "lr": {"type": "float", "low": 1.0e-4, "high": 1.0e-1, "log": True},
                "channels": {"type": "categorical", "choices": [8, 16, 32]},
                "conv_layers": {"type": "int", "low": 1, "high": 3},
                "dropout": {"type": "float", "low": 0.0, "high": 0.5},
                "optimizer": {"type": "categorical", "choices": ["adam", "sgd"]},
            },
        }
    )


def censored_median(values: list[float | None]) -> float | None:
    """Median over seeds where a seed that never got there counts as infinitely late; None if that is the median."""
    median = float(np.median([np.inf if v is None else v for v in values]))
    return median if np.isfinite(median) else None


def rows(results: list[SamplerResult], target: float) -> list[list[str]]:
    """One row per pruner: final best (median, q25, q75), epochs spent, epochs to the target, ratios to `none`."""
    spent = {r.pruner: float(np.median(r.epochs[:, -1])) for r in results}
    needed = {r.pruner: epochs_to_reach(r, target, maximize=False) for r in results}
    to_target = {pruner: censored_median(values) for pruner, values in needed.items()}

    def ratio(value: float | None, reference: float | None) -> str:
        return "-" if value is None or not reference else f"{value / reference:.2f}"

    out = []
    for result in results:
        pruner, final = result.pruner, result.curves[:, -1]
        reached = sum(v is not None for v in needed[pruner])
        out.append(
            [
                pruner,
                f"{np.nanmedian(final):.4f}",
                f"{np.nanpercentile(final, 25):.4f}",
                f"{np.nanpercentile(final, 75):.4f}",
                f"{spent[pruner]:g}",
                ratio(spent[pruner], spent.get("none")),
                "-" if to_target[pruner] is None else f"{to_target[pruner]:g}",
                f"{reached}/{len(final)}",
                ratio(to_target[pruner], to_target.get("none")),
            ]
        )
    return out


HEADER = [
    "pruner",
    "best val_loss (median)",
    "q25",
    "q75",
    "epochs spent",
    "vs none",
    "epochs to target",
    "reached",
    "vs none",
]


def figure(results: list[SamplerResult], target: float, title: str, path: Path) -> None:
    """Best val_loss against training epochs spent: the median over seeds and the interquartile band per pruner."""
    from matplotlib.figure import Figure
    from matplotlib.ticker import LogLocator, NullFormatter, ScalarFormatter

    fig = Figure(figsize=(7.5, 4.6), dpi=120, layout="constrained")
    axis = fig.add_subplot()
    top = max(float(r.epochs[:, -1].max()) for r in results)
    for result in results:
        end = float(result.epochs[:, -1].max())  # the line stops where the pruner's last seed stopped
        grid = np.linspace(0, end, max(2, int(400 * end / top)))
        curves = by_epochs(result, grid)
        with warnings.catch_warnings():  # before any seed's first complete trial there is nothing to draw
            warnings.simplefilter("ignore", RuntimeWarning)
            median = np.nanmedian(curves, axis=0)
            low, high = np.nanpercentile(curves, [25, 75], axis=0)
        style = STYLES.get(result.pruner, {"linewidth": 1.6})
        (line,) = axis.plot(
            grid, median, label=f"{result.pruner} ({np.median(result.epochs[:, -1]):g} epochs)", **style
        )
        axis.fill_between(grid, low, high, color=line.get_color(), alpha=0.15, linewidth=0)
        axis.plot([end], [median[-1]], "o", color=line.get_color(), markersize=6)
    axis.axhline(target, color="black", linestyle="--", linewidth=1, label=f"target {target:.4g}")
    finals = np.concatenate([r.curves[:, -1] for r in results])
    axis.set_yscale("log")
    axis.set_ylim(0.8 * float(np.nanmin(finals)), 6 * float(np.nanmax(finals)))  # the approach, not the first trial
    axis.set_xlim(0, top * 1.02)
    axis.set_xlabel("training epochs spent (all trials so far, one seed)")
    axis.set_ylabel("best val_loss so far (log scale)")
    axis.yaxis.set_major_locator(LogLocator(subs=(1.0, 2.0, 5.0), numticks=20))
    axis.yaxis.set_major_formatter(ScalarFormatter())
    axis.yaxis.set_minor_formatter(NullFormatter())
    axis.set_title(title)
    axis.grid(True, which="major", alpha=0.3)
    axis.legend(title="pruner (median epochs spent)", loc="upper right", fontsize="small", title_fontsize="small")
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pruners", default=",".join(PRUNERS))
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--n-trials", type=int, default=20)
    parser.add_argument("--epochs", type=int, default=20)
    parser.add_argument(
        "--target", default="all", help="val_loss to reach: a number, `all` (optflow compare's default: the median "
        "final best over every pruner and seed) or `none` (the median final best without pruning)"
    )  # fmt: skip
    parser.add_argument("--figure", default="docs/images/compare_pruners.png")
    parser.add_argument(
        "--results",
        default="",
        help="pickle of the runs: written, or if it exists loaded instead of running (same --seeds etc.)",
    )
    parser.add_argument("--tracking-uri", default="", help="also log `optflow compare`'s run (its own figures) here")
    args = parser.parse_args()
    pruners = args.pruners.split(",")
    config = study_config(args.n_trials, args.epochs)
    started = time.perf_counter()
    if args.results and Path(args.results).exists():
        with open(args.results, "rb") as handle:
            results = pickle.load(handle)
    else:
        results = run_comparison(config, ["random"], args.seeds, pruners=pruners)
        if args.results:
            with open(args.results, "wb") as handle:
                pickle.dump(results, handle)
    minutes = (time.perf_counter() - started) / 60
    if args.target == "all":
        target = default_target(results)
    elif args.target == "none":
        target = float(np.nanmedian(next(r for r in results if r.pruner == "none").curves[:, -1]))
    else:
        target = float(args.target)
    print(
        f"\nrandom sampler, {args.seeds} seeds x {args.n_trials} trials x {args.epochs} epochs; "
        f"target val_loss {target:.4g} ({args.target}); {minutes:.1f} min"
    )
    print(format_table(HEADER, rows(results, target)))
    title = f"CNN on digits_images: random search, {args.n_trials} trials of {args.epochs} epochs, {args.seeds} seeds"
    figure(results, target, title, Path(args.figure))
    print(f"figure: {args.figure}")
    if args.tracking_uri:
        from optflow.compare import log_comparison

        print(f"MLflow comparison run {log_comparison(args.tracking_uri, config, results, target, args.seeds)}")


if __name__ == "__main__":
    main()
