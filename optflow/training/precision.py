"""Mixed precision as one object the loop calls: autocast around forward passes, and for fp16 a gradient
scaler around backward and step (bf16 keeps fp32's exponent range and needs none), as torch.amp prescribes."""

from __future__ import annotations

import contextlib
from collections.abc import Iterable
from typing import Any

import torch

DTYPES = {"bf16": torch.bfloat16, "fp16": torch.float16}


class Precision:
    """`precision: fp32 | bf16 | fp16` on one device; fp32 costs nothing (no context, no scaler)."""

    def __init__(self, name: str, device: torch.device) -> None:
        self.name = name
        self._device_type = device.type
        self.scaler = torch.amp.GradScaler(device.type) if name == "fp16" else None

    def autocast(self) -> contextlib.AbstractContextManager[Any]:
        if self.name == "fp32":
            return contextlib.nullcontext()
        return torch.autocast(self._device_type, dtype=DTYPES[self.name])

    def backward(self, loss: torch.Tensor) -> None:
        (self.scaler.scale(loss) if self.scaler else loss).backward()

    def unscale(self, optimizer: torch.optim.Optimizer) -> None:
        """Gradients in their true units, before clipping reads their norm."""
        if self.scaler:
            self.scaler.unscale_(optimizer)

    def state_dict(self) -> dict[str, Any]:
        """The gradient scaler's state (its scale and growth tracker), for a checkpoint; empty without one."""
        return self.scaler.state_dict() if self.scaler else {}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        if self.scaler and state:
            self.scaler.load_state_dict(state)

    def step(self, optimizer: torch.optim.Optimizer) -> None:
        if self.scaler:
            self.scaler.step(optimizer)  # skipped when the scaled gradients overflowed
            self.scaler.update()
        else:
            optimizer.step()


def clip(parameters: Iterable[torch.nn.Parameter], max_norm: float) -> torch.Tensor:
    """Scale the gradients so that their global L2 norm is at most `max_norm`; returns the norm before."""
    return torch.nn.utils.clip_grad_norm_(list(parameters), max_norm)
