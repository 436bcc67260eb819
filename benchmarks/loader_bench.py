"""The DataLoader path (a data factory's torch Datasets) on a file larger than the memory it may use, and its speed
against the in-memory path.

    python benchmarks/loader_bench.py                             # both parts: a 4 GiB file, then 200k x 64
    python benchmarks/loader_bench.py --part memory --gigabytes 8
    python benchmarks/loader_bench.py --part throughput --repeats 3

Part 1 (memory): a float32 file of `--gigabytes` GiB (rows of 1024 features; labels x0 + x1 > 0 in a small .npy
beside it) is written in 64 MiB chunks to a temporary directory (deleted at the end). Each case drops the file
from the page cache (fsync, then posix_fadvise DONTNEED: the first epoch reads from disk) and runs
`optflow.train(config, data=load, tracking=False)` in a fresh child process: a data factory returning
`DataSplits` of torch Datasets over the file (98 % train, 2 % val), a linear model, batch 256, SGD, one epoch,
one thread. The readers:

- mmap rows: `np.memmap`, `__getitem__` copies one row (as tests/training/test_loaders.py does);
- mmap batches: the same memmap, plus `__getitems__`, which the DataLoader calls with a whole batch's indices
  (torch >= 2.0; optflow passes the Dataset to `DataLoader` untouched), read with one numpy fancy index;
- file reads: no mapping; `__getitems__` reads each row with `os.preadv` into a batch buffer.

Memory: `ru_maxrss` is the child's own `getrusage(RUSAGE_SELF)` peak (VmHWM: anonymous memory plus the pages of
mapped files it touched, which for a memmap means the data it has read), and `workers` its
`getrusage(RUSAGE_CHILDREN)` (the largest DataLoader worker, once joined). The /proc columns are peaks of sums
over the child and its live workers, polled every 0.1 s: RssAnon (memory the processes own: Python, torch,
batches), RssFile (mapped file pages: shared, clean, reclaimable page cache) and Pss (each shared page counted
once). A memmap's RssFile grows with what has been read while memory is free, because the kernel keeps clean
file pages mapped until it needs the memory; reading with preadv leaves them in the page cache, not in RSS.

Part 2 (throughput): samples/second of `optflow.training.fit` on 200,000 x 64 float32 rows (10 classes, 50,000
validation rows) held in memory, as tensors (the whole-tensor path) and as map-style Datasets over the same
arrays (the DataLoader path) with 0 and 2 workers: MLP 64-128-10, batch 64, SGD, one epoch with its validation
pass, one thread, best of `--repeats`.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import Dataset as TorchDataset
from torch.utils.data import TensorDataset
from trainer_bench import best_of  # the house timer

import optflow
from optflow.config import Config, ModelConfig, TrainingConfig
from optflow.data import Dataset
from optflow.models import build_model
from optflow.training import fit

COLUMNS = 1024  # part 1: a row is 4 KiB, one page
CHUNK_BYTES = 64 << 20
VAL_SHARE = 0.02
POLL_SECONDS = 0.1
MIB = 1 << 20


# ------------------------------------------------------------------------------------------------ datasets


class Rows(TorchDataset):
    """Rows start..stop of a float32 matrix (an array or a memmap) and their labels, one row copied per item."""

    def __init__(self, x, y: np.ndarray, start: int = 0, stop: int | None = None) -> None:
        self.x, self.y = x, y
        self.start, self.stop = start, len(y) if stop is None else stop

    def __len__(self) -> int:
        return self.stop - self.start

    def __getitem__(self, index: int):
        row = self.start + index
        return torch.from_numpy(np.array(self.x[row])), int(self.y[row])


class Batches(Rows):
    """The same rows, a batch at a time: `DataLoader` calls `__getitems__` with a batch's indices."""

    def __getitems__(self, indices: list[int]):
        rows = np.asarray(indices) + self.start
        x, y = torch.from_numpy(np.asarray(self.x[rows])), torch.from_numpy(self.y[rows])
        return list(zip(x.unbind(0), y.unbind(0), strict=True))  # the default collate stacks them again


class FileReads(Rows):
    """Rows read from the file with `preadv`, without mapping it: read pages stay in the page cache, out of RSS."""

    def __init__(self, path: str, columns: int, y: np.ndarray, start: int = 0, stop: int | None = None) -> None:
        super().__init__(None, y, start, stop)
        self.path, self.columns, self._fd = path, columns, None

    def __getitems__(self, indices: list[int]):
        if self._fd is None:
            self._fd = os.open(self.path, os.O_RDONLY)  # pread takes offsets: forked workers may share it
        width = self.columns * 4
        x = np.empty((len(indices), self.columns), dtype=np.float32)
        for k, index in enumerate(indices):
            os.preadv(self._fd, [x[k]], (self.start + index) * width)
        y = torch.from_numpy(self.y[np.asarray(indices) + self.start])
        return list(zip(torch.from_numpy(x).unbind(0), y.unbind(0), strict=True))

    def __getitem__(self, index: int):
        return self.__getitems__([index])[0]


READERS = {"mmap rows": Rows, "mmap batches": Batches, "file reads": FileReads}
MEMORY_CASES = [("mmap rows", 0), ("mmap batches", 0), ("mmap batches", 2), ("file reads", 0)]


# ------------------------------------------------------------------------------------------------ part 1: memory


def write_file(directory: Path, gigabytes: float) -> tuple[Path, Path, int]:
    """A float32 file of `gigabytes` GiB written chunk by chunk (never whole in memory), and its labels."""
    rows = int(gigabytes * (1 << 30)) // (COLUMNS * 4)
    path, labels = directory / "x.f32", directory / "y.npy"
    rng = np.random.default_rng(0)
    y = np.empty(rows, dtype=np.int64)
    step = CHUNK_BYTES // (COLUMNS * 4)
    with open(path, "wb") as out:
        for start in range(0, rows, step):
            chunk = rng.standard_normal((min(step, rows - start), COLUMNS), dtype=np.float32)
            y[start : start + len(chunk)] = chunk[:, 0] + chunk[:, 1] > 0
            chunk.tofile(out)
        out.flush()
        os.fsync(out.fileno())
    np.save(labels, y)
    return path, labels, rows


def drop_from_page_cache(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
        os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
    finally:
        os.close(fd)


def load(params):
    """The data factory the child trains from: torch Datasets over the file, labels in memory (8 bytes a row)."""
    y = np.load(params["labels"])
    rows, columns, split = len(y), params["columns"], len(y) - max(1, int(len(y) * VAL_SHARE))
    if params["reader"] == "file reads":
        train = FileReads(params["file"], columns, y, 0, split)
        val = FileReads(params["file"], columns, y, split, rows)
    else:
        x = np.memmap(params["file"], dtype=np.float32, mode="r", shape=(rows, columns))
        reader = READERS[params["reader"]]
        train, val = reader(x, y, 0, split), reader(x, y, split, rows)
    return optflow.DataSplits(train=train, val=val, task="classification", n_outputs=2, name="memmap")


def child(arguments: str) -> None:
    """In the child process: one `optflow.train` run, then its numbers as one JSON line."""
    params = json.loads(arguments)
    workers, batch = params.pop("workers"), params.pop("batch_size")
    config = {
        "data": {"params": params},
        "model": {"kind": "linear"},
        "training": {
            "epochs": 1,
            "batch_size": batch,
            "optimizer": "sgd",
            "lr": 0.05,
            "num_workers": workers,
        },
    }
    started = time.perf_counter()
    result = optflow.train(config, data=load, tracking=False)
    record = result.records[-1]
    out = {
        "seconds": time.perf_counter() - started,
        "epoch_seconds": record.seconds,
        "steps": record.steps,
        "val_accuracy": record.val_accuracy,
        "maxrss_kib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss,
        "workers_maxrss_kib": resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss,
    }
    print("RESULT " + json.dumps(out), flush=True)


def _descendants(pid: int) -> list[int]:
    """`pid` and its live descendants (DataLoader workers), from the parent ids in /proc/*/stat."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as handle:
                    parent = int(handle.read().rpartition(")")[2].split()[1])
            except (OSError, ValueError, IndexError):  # gone meanwhile
                continue
            children.setdefault(parent, []).append(int(entry))
    found, todo = [], [pid]
    while todo:
        found.append(todo.pop())
        todo += children.get(found[-1], [])
    return found


def _fields(path: str, names: tuple[str, ...]) -> dict[str, int]:
    """kB fields of /proc/<pid>/status or smaps_rollup."""
    out = {}
    try:
        with open(path) as handle:
            for line in handle:
                key, _, rest = line.partition(":")
                if key in names:
                    out[key] = int(rest.split()[0])
    except OSError:
        pass
    return out


class Poller:
    """Peaks (KiB) of a process's RssAnon and RssFile, and of the Pss, Pss_Anon and Pss_File summed over it and
    its descendants (each page shared between them, as forked workers share their parent's, counted once)."""

    MAIN, TREE = ("RssAnon", "RssFile"), ("Pss", "Pss_Anon", "Pss_File")

    def __init__(self, pid: int) -> None:
        self.pid, self.peaks, self.samples = pid, dict.fromkeys(self.MAIN + self.TREE, 0), 0
        self.done = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self) -> None:
        while not self.done.wait(POLL_SECONDS):
            now = _fields(f"/proc/{self.pid}/status", self.MAIN)
            now.update(dict.fromkeys(self.TREE, 0))
            for pid in _descendants(self.pid):
                for key, value in _fields(f"/proc/{pid}/smaps_rollup", self.TREE).items():
                    now[key] += value
            for key, value in now.items():
                self.peaks[key] = max(self.peaks[key], value)
            self.samples += 1

    def stop(self) -> dict[str, int]:
        self.done.set()
        self.thread.join()
        return self.peaks


def memory_case(path: Path, labels: Path, reader: str, workers: int, batch: int) -> dict:
    drop_from_page_cache(path)
    params = {"file": str(path), "labels": str(labels), "columns": COLUMNS, "reader": reader}
    arguments = json.dumps({**params, "workers": workers, "batch_size": batch})
    started = time.perf_counter()
    process = subprocess.Popen(
        [sys.executable, __file__, "--child", arguments], stdout=subprocess.PIPE, text=True, cwd=Path(__file__).parent
    )
    poller = Poller(process.pid)
    stdout, _ = process.communicate()
    peaks = poller.stop()
    if process.returncode != 0:
        raise SystemExit(f"the child for {reader}, {workers} workers failed (exit {process.returncode})")
    line = next(line for line in stdout.splitlines() if line.startswith("RESULT "))
    return {**json.loads(line[len("RESULT ") :]), "wall": time.perf_counter() - started, "peaks": peaks}


def memory_part(gigabytes: float, batch: int, directory: str | None) -> None:
    tmp = Path(tempfile.mkdtemp(prefix="optflow-loader-bench-", dir=directory))
    try:
        started = time.perf_counter()
        path, labels, rows = write_file(tmp, gigabytes)
        size = path.stat().st_size
        print(
            f"memory: {size / (1 << 30):.2f} GiB float32 file ({rows:,} rows x {COLUMNS}) written in "
            f"{time.perf_counter() - started:.1f} s to {tmp}; 1 epoch of optflow.train (linear model, batch {batch}, "
            f"{rows - max(1, int(rows * VAL_SHARE)):,} train rows) from a cold page cache, in a child process",
            flush=True,
        )
        print(
            f"{'reader':14} {'workers':>7} {'epoch s':>8} {'rows/s':>9} {'val acc':>7} | {'peak RSS':>8} "
            f"{'anon':>6} {'file':>6} {'workers':>8} | {'PSS':>6} {'anon':>6} {'file':>6}",
            flush=True,
        )
        for reader, workers in MEMORY_CASES:
            out = memory_case(path, labels, reader, workers, batch)
            peak = {key: value / 1024 for key, value in out["peaks"].items()}
            train_rows = rows - max(1, int(rows * VAL_SHARE))
            print(
                f"{reader:14} {workers:>7} {out['epoch_seconds']:>8.1f} {train_rows / out['epoch_seconds']:>9,.0f} "
                f"{out['val_accuracy']:>7.3f} | {out['maxrss_kib'] / 1024:>8,.0f} {peak['RssAnon']:>6,.0f} "
                f"{peak['RssFile']:>6,.0f} {out['workers_maxrss_kib'] / 1024:>8,.0f} | {peak['Pss']:>6,.0f} "
                f"{peak['Pss_Anon']:>6,.0f} {peak['Pss_File']:>6,.0f}   (child {out['wall']:.0f} s)",
                flush=True,
            )
        print(
            "MiB. peak RSS: the training process's ru_maxrss; anon, file: its RssAnon and RssFile peaks (polled); "
            "workers: its RUSAGE_CHILDREN ru_maxrss (the largest forked child, pages shared with the parent "
            "included); PSS, anon, file: peaks of Pss, Pss_Anon and Pss_File summed over it and its workers"
        )
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


# ------------------------------------------------------------------------------------------------ part 2: throughput


def in_memory_set(n_train: int, n_val: int, features: int, classes: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    x = rng.standard_normal((n_train + n_val, features), dtype=np.float32)
    y = (x @ rng.standard_normal((features, classes), dtype=np.float32)).argmax(axis=1).astype(np.int64)
    return x, y


def throughput_part(repeats: int, n_train: int = 200_000, n_val: int = 50_000, features: int = 64) -> None:
    torch.set_num_threads(1)
    x, y = in_memory_set(n_train, n_val, features, 10)
    xt, yt = torch.from_numpy(x), torch.from_numpy(y)
    sample = xt[:64], yt[:64]
    config = TrainingConfig(epochs=1, batch_size=64, optimizer="sgd", lr=0.05)
    model_config = Config(model=ModelConfig(kind="mlp", hidden=(128,)), training=config)

    def loader_data(make, workers):
        train, val = make(0, n_train), make(n_train, n_train + n_val)
        data = Dataset("loader", "classification", *sample, *sample, (), 10, train_set=train, val_set=val)
        return data, TrainingConfig(**{**config.__dict__, "num_workers": workers})

    cases = {
        "in-memory tensors": (
            Dataset("tensors", "classification", xt[:n_train], yt[:n_train], xt[n_train:], yt[n_train:], (), 10),
            config,
        ),
        "rows, 0 workers": loader_data(lambda a, b: Rows(x, y, a, b), 0),
        "rows, 2 workers": loader_data(lambda a, b: Rows(x, y, a, b), 2),
        "batches, 0 workers": loader_data(lambda a, b: Batches(x, y, a, b), 0),
        "batches, 2 workers": loader_data(lambda a, b: Batches(x, y, a, b), 2),
        "TensorDataset, 0 workers": loader_data(lambda a, b: TensorDataset(xt[a:b], yt[a:b]), 0),
    }
    print(
        f"throughput: {n_train:,} x {features} float32 in memory (+{n_val:,} val), MLP {features}-128-10, batch 64, "
        f"SGD, 1 epoch + validation, one thread, best of {repeats}"
    )
    print(f"{'path':38} {'samples/s':>12} {'vs in-memory':>13}")
    reference = None
    for name, (data, training) in cases.items():

        def run(data=data, training=training):
            for _ in fit(build_model(model_config, data.spec), data, training):
                pass

        run()  # warm-up
        rate = n_train / best_of(repeats, run)
        reference = reference or rate
        label = name if name.startswith("in-memory") else f"DataLoader: {name}"
        print(f"{label:38} {rate:>12,.0f} {rate / reference:>12.2f}x", flush=True)


# ------------------------------------------------------------------------------------------------ main


def machine() -> str:
    lines = Path("/proc/cpuinfo").read_text().splitlines()
    model = next((line.split(":", 1)[1].strip() for line in lines if line.startswith("model name")), "?")
    load = ", ".join(f"{v:.2f}" for v in os.getloadavg())
    return f"{model}, {os.cpu_count()} cores, torch {torch.__version__}, numpy {np.__version__}, load average {load}"


def main() -> None:
    if len(sys.argv) == 3 and sys.argv[1] == "--child":
        child(sys.argv[2])
        return
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--part", choices=["memory", "throughput", "all"], default="all")
    parser.add_argument("--gigabytes", type=float, default=4.0, help="size of the memory-mapped file, GiB")
    parser.add_argument("--batch-size", type=int, default=256, help="part 1's batch size")
    parser.add_argument("--dir", default=None, help="where part 1 writes its file (default: the temp directory)")
    parser.add_argument("--rows", type=int, default=200_000, help="part 2's training rows (a quarter more for val)")
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    print(machine(), flush=True)
    started = time.perf_counter()
    if args.part in ("memory", "all"):
        memory_part(args.gigabytes, args.batch_size, args.dir)
    if args.part in ("throughput", "all"):
        throughput_part(args.repeats, args.rows, args.rows // 4)
    print(f"done in {time.perf_counter() - started:.0f} s; load average now {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
