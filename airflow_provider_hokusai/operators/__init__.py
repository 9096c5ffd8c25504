"""Operators: register a validated model version, announce it, reconcile what is owed."""
