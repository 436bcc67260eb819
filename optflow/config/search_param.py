"""One searched field of the `search` section, as validated: its distribution, grid points and condition."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class SearchParam:
    """One searched field: an Optuna distribution plus the grid points the grid sampler uses."""

    name: str
    type: str
    low: float | None = None
    high: float | None = None
    log: bool = False
    step: float | None = None
    choices: tuple[Any, ...] = ()
    grid: tuple[Any, ...] = ()
    n_points: int = 3
    when: tuple[tuple[str, tuple[Any, ...]], ...] = ()
    """Condition: sample only when each named field has one of the listed values (else keep the fixed one)."""

    def grid_values(self) -> list[Any]:
        """The values the grid sampler visits: `grid`, the choices, or `n_points` evenly spaced (log-spaced when
        `log`; integers rounded, duplicates dropped)."""
        if self.grid:
            return list(self.grid)
        if self.type == "categorical":
            return list(self.choices)
        import numpy as np

        values = (np.geomspace if self.log else np.linspace)(self.low, self.high, self.n_points)
        if self.type == "int":
            return sorted({int(round(v)) for v in values})
        return [float(v) for v in values]

    def declaration(self) -> dict[str, Any]:
        """What the entry declares about the space, without the grid sampler's points (YAML-ready)."""
        out: dict[str, Any] = {"type": self.type}
        if self.type == "categorical":
            out["choices"] = list(self.choices)
        else:
            out.update(low=self.low, high=self.high, log=self.log)
            if self.step is not None:
                out["step"] = self.step
        if self.when:
            out["when"] = {name: list(values) for name, values in self.when}
        return out

    def to_dict(self) -> dict[str, Any]:
        """The entry as the resolved config shows it: its declaration and the grid sampler's points."""
        out = self.declaration()
        if self.type != "categorical":
            out["n_points"] = self.n_points
        if self.grid:
            out["grid"] = list(self.grid)
        if "when" in out:  # after the grid, as before
            out["when"] = out.pop("when")
        return out
