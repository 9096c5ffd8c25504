"""Command-line tools for engineers on call: ``hokusai-reconcile`` and ``hokusai-webhook``."""
