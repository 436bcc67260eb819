"""What optflow hands MLflow for a run: the data set input."""

from __future__ import annotations

import json
import warnings

import numpy as np

from optflow.tracking.mlflow_runs import dataset_input


def test_a_csv_data_sets_input_names_its_file_without_mlflow_guessing_its_source(tmp_path):
    path = tmp_path / "iris.csv"
    path.write_text("x,y\n1.0,0\n2.0,1\n")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        entity = dataset_input("iris", np.ones((2, 1), dtype=np.float32), np.array([0, 1]), str(path))
    assert not [w for w in caught if "interpreted in multiple ways" in str(w.message)]
    assert entity.dataset.source_type == "local" and json.loads(entity.dataset.source) == {"uri": str(path)}
