"""The environments agree: `mlflow run .` builds its environment from conda.yaml, pip from pyproject.toml."""

from __future__ import annotations

import tomllib
import yaml
from conftest import ROOT
from packaging.requirements import Requirement


def names(requirements: list[str]) -> dict[str, str]:
    parsed = [Requirement(line) for line in requirements]
    return {f"{r.name}{sorted(r.extras) if r.extras else ''}".lower(): str(r.specifier) for r in parsed}


def test_conda_yaml_installs_what_pyproject_declares():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    declared = names(project["dependencies"] + project["optional-dependencies"]["postgres"])
    conda = yaml.safe_load((ROOT / "conda.yaml").read_text())
    pip = next(item["pip"] for item in conda["dependencies"] if isinstance(item, dict))
    listed = names(pip)
    assert set(listed) == set(declared)
    pins = [line for line in (ROOT / "constraints.txt").read_text().splitlines() if line.startswith("torch")]
    assert [f"torch{listed.pop('torch')}"] == pins  # the pinned CPU build, as the install command pins it
    declared.pop("torch")
    assert listed == declared
