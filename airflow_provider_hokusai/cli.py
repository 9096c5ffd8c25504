"""``hokusai-reconcile``: announce validated model versions that have no receipt, for engineers on call.

Connections come from Airflow as everywhere else (``AIRFLOW_CONN_*`` variables, or the metadata database where
one is configured). Safe to run any number of times: versions with a receipt are skipped and the queue hooks
deduplicate on the deterministic message id.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import sys
from collections.abc import Sequence


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="hokusai-reconcile", description=__doc__.splitlines()[0])
    parser.add_argument("--queue-conn-id", required=True, help="Airflow connection of the queue (redis or aws).")
    parser.add_argument("--queue-name", help="Redis list or SQS queue name/URL; defaults to the connection's.")
    parser.add_argument("--mlflow-conn-id", default="mlflow_default", help="Airflow connection of MLflow.")
    parser.add_argument("--model", dest="registered_model_name", help="Only this registered model.")
    parser.add_argument("--max-versions", type=int, default=1000, help="Upper bound of versions handled.")
    parser.add_argument("--dry-run", action="store_true", help="List what would be announced; publish nothing.")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point; prints a JSON summary and exits 1 when any version could not be announced."""
    args = build_parser().parse_args(argv)
    # stdout carries only the JSON summary, for scripts and jq; Airflow's and MLflow's logs go to stderr.
    with contextlib.redirect_stdout(sys.stderr):
        code, summary = _run(args)
    if summary is not None:
        print(json.dumps(summary, indent=2, sort_keys=True))
    return code


def _run(args: argparse.Namespace) -> tuple[int, dict[str, object] | None]:
    from airflow_provider_hokusai.announce import ModelReadyAnnouncer
    from airflow_provider_hokusai.exceptions import HokusaiError
    from airflow_provider_hokusai.hooks.mlflow import MLflowHook
    from airflow_provider_hokusai.hooks.queue import get_queue_hook

    try:
        announcer = ModelReadyAnnouncer(
            MLflowHook(mlflow_conn_id=args.mlflow_conn_id),
            get_queue_hook(args.queue_conn_id, queue_name=args.queue_name),
        )
        if args.dry_run:
            refs = announcer.find_unannounced(args.registered_model_name, max_results=args.max_versions)
            summary: dict[str, object] = {
                "found": len(refs),
                "would_publish": [{"model_name": r.model_name, "model_version": r.model_version} for r in refs],
            }
            failed = False
        else:
            result = announcer.reconcile(args.registered_model_name, max_versions=args.max_versions)
            summary, failed = result, bool(result["failed"])
    except HokusaiError as exc:
        print(f"hokusai-reconcile: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 2, None
    return (1 if failed else 0), summary


if __name__ == "__main__":
    sys.exit(main())
