"""Workers take the GPUs in turn; on the CPU nothing changes, and `--devices` is checked like any input."""

from __future__ import annotations

import pytest
import torch

from optflow.config import build_config
from optflow.errors import UsageError
from optflow.study.devices import parse_devices, pinned
from optflow.training import resolve_device


@pytest.fixture
def three_gpus(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 3)


@pytest.mark.parametrize("device", ["cuda", "auto"])
def test_workers_take_every_visible_gpu_in_turn(three_gpus, device):
    config = build_config({"training": {"device": "cpu"}})
    config = config.with_params({"device": device})
    assert [pinned(config, worker).training.device for worker in range(5)] == [
        "cuda:0", "cuda:1", "cuda:2", "cuda:0", "cuda:1",
    ]  # fmt: skip


def test_devices_name_the_gpus_to_take(three_gpus):
    config = build_config({"training": {"device": "cuda"}})
    assert [pinned(config, worker, parse_devices("2,0")).training.device for worker in range(3)] == [
        "cuda:2", "cuda:0", "cuda:2",
    ]  # fmt: skip
    with pytest.raises(UsageError, match=r"^--devices must be CUDA device indices in \[0, 3\) .*; got '1,3'$"):
        parse_devices("1,3")


@pytest.mark.parametrize("searched", ["cuda", "auto"])
def test_a_searched_device_stays_on_the_workers_gpu(three_gpus, monkeypatch, searched):
    # a pinned worker made its GPU the current one (`use_device`); a trial whose searched device is plain `cuda`
    # or `auto` trains there, and says which
    monkeypatch.setattr(torch.cuda, "current_device", lambda: 2)
    assert resolve_device(searched) == torch.device("cuda", 2)
    assert resolve_device("cuda:1") == torch.device("cuda", 1) and resolve_device("cpu") == torch.device("cpu")


def test_a_cpu_study_stays_on_the_cpu(three_gpus):
    config = build_config({"training": {"device": "cpu"}})
    assert pinned(config, 1) is config


def test_devices_without_a_gpu_are_refused_in_one_line(workdir, capsys):
    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA devices")
    from optflow.cli import main

    assert main(["tune", "--devices", "0", "--set", "training.device=auto", "--n-trials", "1", "--quiet"]) == 2
    err = capsys.readouterr().err
    assert err == "optflow: error: --devices needs CUDA devices (torch sees none on this machine); got '0'\n"
    assert not (workdir / "optuna.db").exists()


def test_devices_for_a_cpu_study_are_refused(three_gpus):
    with pytest.raises(UsageError, match=r"^--devices needs training.device cuda or auto .*; got '0'$"):
        parse_devices("0", "cpu")
