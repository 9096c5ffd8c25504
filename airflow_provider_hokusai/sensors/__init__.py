"""Sensors: the baseline gate as a sensor (poke, reschedule or deferrable)."""
