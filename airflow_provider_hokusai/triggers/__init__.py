"""Triggers: the baseline gate waiting in the triggerer."""
