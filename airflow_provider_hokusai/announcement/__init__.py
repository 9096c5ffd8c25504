"""Announcing: the one path from a validated model version to one message on the queue and a receipt in the registry."""
