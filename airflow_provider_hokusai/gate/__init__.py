"""The baseline gate: whether a candidate run beat its baseline, decided by pure rules from one look at MLflow."""
