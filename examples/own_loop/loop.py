"""An own training loop: a tiny GAN-free but two-stage training that does not fit model + data + loss.

Stage one fits a linear model to noisy data in closed form; stage two refines a small network on its residuals
with the learning rate and width the trial chose. optflow only sees the metrics it reports each epoch.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn


def run(params: dict, reporter) -> list[str]:
    """Train for `params["epochs"]` epochs; report `val_loss` (the study's metric) and `residual_norm`."""
    rng = np.random.default_rng(int(params.get("seed", 0)))
    x = rng.uniform(-2, 2, size=(512, 3))
    y = x @ np.array([1.5, -2.0, 0.5]) + np.sin(3 * x[:, 0]) + rng.normal(scale=0.1, size=len(x))
    x_train, x_val, y_train, y_val = x[:400], x[400:], y[:400], y[400:]

    weights, *_ = np.linalg.lstsq(x_train, y_train, rcond=None)  # stage one: the linear part, exactly
    residual = torch.tensor(y_train - x_train @ weights, dtype=torch.float32)
    val_residual = torch.tensor(y_val - x_val @ weights, dtype=torch.float32)
    inputs, val_inputs = torch.tensor(x_train, dtype=torch.float32), torch.tensor(x_val, dtype=torch.float32)

    torch.manual_seed(int(params.get("seed", 0)))
    width = int(params["width"])
    net = nn.Sequential(nn.Linear(3, width), nn.Tanh(), nn.Linear(width, 1))
    optimizer = torch.optim.Adam(net.parameters(), lr=float(params["lr"]))
    for _ in range(int(params["epochs"])):  # stage two: a network on what the linear part left
        for batch in torch.randperm(len(inputs)).split(32):
            loss = nn.functional.mse_loss(net(inputs[batch]).squeeze(-1), residual[batch])
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
        with torch.no_grad():
            val_loss = nn.functional.mse_loss(net(val_inputs).squeeze(-1), val_residual).item()
        reporter.epoch({"val_loss": val_loss, "train_loss": loss.item(), "residual_norm": float(residual.norm())})

    path = f"weights-{reporter.trial_number}.txt"
    np.savetxt(path, weights)
    return [path]  # handed back: logged with the trial's run
