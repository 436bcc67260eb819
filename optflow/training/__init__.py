"""The training loop and its techniques. Knows nothing of Optuna or MLflow: plain params in, records out."""

from optflow.training.loop import TrainingDiverged, check_device, check_precision, fit, resolve_device

__all__ = ["TrainingDiverged", "check_device", "check_precision", "fit", "resolve_device"]
