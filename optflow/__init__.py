"""optflow: hyperparameter search for PyTorch models as an MLflow workflow, driven by Optuna."""

__version__ = "0.1.0"
