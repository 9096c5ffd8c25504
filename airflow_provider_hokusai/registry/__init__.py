"""The MLflow model registry as the provider reads and writes it: connection, syntax, tags, evidence, events, errors."""
