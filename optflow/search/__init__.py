"""The search: config entries -> Optuna distributions, samplers and pruners by name. Knows nothing of MLflow."""
