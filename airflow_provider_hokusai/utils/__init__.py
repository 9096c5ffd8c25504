"""Helpers every room uses: typed errors from pydantic, redaction of secrets, metric names."""
