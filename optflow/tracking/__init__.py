"""The MLflow and optuna-dashboard side: runs, metrics, artifacts, models, notes. Knows nothing of training."""
