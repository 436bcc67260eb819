"""`training.compile`: the model through torch.compile, or eager with one clear warning where it cannot compile
(no compiler toolchain, an unsupported platform or Python, an operator the backend refuses)."""

from __future__ import annotations

import warnings
from typing import Any

import torch
from torch import nn


class CompiledModel:
    """Calls the compiled model; the first call that fails to compile switches to eager for good. The model
    itself (its parameters, state dict, train/eval mode) stays the caller's."""

    def __init__(self, model: nn.Module) -> None:
        self.model = model
        import torch._dynamo

        torch._dynamo.reset()  # each trial's model compiles afresh: no recompile limit reached across trials
        self._compiled: Any = torch.compile(model)

    def __call__(self, x: Any) -> Any:
        if self._compiled is None:
            return self.model(x)
        try:
            return self._compiled(x)
        except torch.cuda.OutOfMemoryError:
            raise  # the batch, not the compiler: the trial's out-of-memory handling takes it
        except Exception as error:  # noqa: BLE001 - a backend failure, or the model's own error
            output = self.model(x)  # the model's own error is raised here, without a word about compiling
            _warn(error)
            self._compiled = None
            return output

    def train(self, mode: bool = True) -> CompiledModel:
        self.model.train(mode)
        return self

    def eval(self) -> CompiledModel:
        return self.train(False)


def compiled(model: nn.Module) -> CompiledModel | nn.Module:
    """`model` compiled, or `model` itself with a warning when torch.compile is not available here."""
    try:
        return CompiledModel(model)
    except Exception as error:  # noqa: BLE001 - e.g. RuntimeError on a Python torch.compile does not support
        _warn(error)
        return model


def _warn(error: BaseException) -> None:
    first_line = (str(error).strip().splitlines() or [""])[0][:200]
    warnings.warn(
        f"training.compile: torch.compile cannot compile this model here ({type(error).__name__}: {first_line}); "
        "training without it",
        RuntimeWarning,
        stacklevel=3,
    )
