"""A model that runs out of CUDA memory on large batches, for the tests of the retry on half the batch."""

from __future__ import annotations

import torch


class RunsOutOfMemory(torch.nn.Module):
    """A network whose device has room for batches of at most 32 rows: larger ones raise CUDA's error."""

    def __init__(self, n_in: int, n_out: int) -> None:
        super().__init__()
        self.net = torch.nn.Linear(n_in, n_out)
        self.batches: list[int] = []

    def forward(self, x):
        if self.training:
            self.batches.append(len(x))
            if len(x) > 32:
                raise torch.cuda.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")
        return self.net(x)
