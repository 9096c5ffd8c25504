"""Hooks: the provider's I/O with MLflow and the queue brokers, built on the official hooks; no decisions."""
