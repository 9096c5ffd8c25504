"""``hokusai-reconcile``: announce the model versions owed an announcement, for engineers on call.

Connections are resolved exactly as ``airflow connections get`` resolves them (``AIRFLOW_CONN_*`` variables,
secrets backends, then the metadata database), also outside a task. Safe to run any number of times: versions with
a receipt are skipped and the queue hooks deduplicate on the deterministic message id.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import sys
from collections.abc import Sequence
from typing import Any

from airflow_provider_hokusai.cli.common import (
    EXIT_FAILED,
    EXIT_OK,
    HelpFormatter,
    OneLineParser,
    add_version,
    bounded_int,
    fail,
    resolve_connections,
)

__all__ = ["MAX_VERSIONS_LIMIT", "build_parser", "main", "resolve_connections"]

#: Upper bound of ``--max-versions``: one run's worth of versions; more is a registry to page through in several runs.
MAX_VERSIONS_LIMIT = 100_000
PROG = "hokusai-reconcile"
DESCRIPTION = """\
Announce the MLflow model versions owed a model_ready_to_deploy announcement (pending or failed), once each.

Connections are read like `airflow connections get` reads them: AIRFLOW_CONN_* variables, a secrets backend, then
the metadata database (never created when it does not exist). Safe to run any number of times: versions with a
receipt are skipped and the queue deduplicates on the message id. A JSON summary is printed on stdout; logs go to
stderr."""
EPILOG = """\
exit codes:
  0  done: everything owed was announced (or listed, marked, tested)
  1  something is still owed: a version could not be announced, or a connection test failed
  2  usage or configuration error (a missing or invalid connection, a bad option): nothing was done

examples:
  hokusai-reconcile --dry-run                                   list what is owed (reads MLflow only)
  hokusai-reconcile --queue-conn-id hokusai_queue               announce it
  hokusai-reconcile --queue-conn-id hokusai_queue --check       test the MLflow and queue connections
  hokusai-reconcile --backfill --model my-model                 once, for a registry older than the pending index"""


def build_parser() -> argparse.ArgumentParser:
    """The command's arguments (``--help`` shows them with their defaults, exit codes and examples)."""
    parser = OneLineParser(prog=PROG, description=DESCRIPTION, epilog=EPILOG, formatter_class=HelpFormatter)
    parser.add_argument(
        "--queue-conn-id",
        metavar="CONN_ID",
        help="Airflow connection of the queue (type redis, rediss, hokusai_redis, aws or hokusai_sqs); "
        "required unless --dry-run or --backfill",
    )
    parser.add_argument(
        "--queue-name", metavar="NAME", help="Redis list or SQS queue name or URL (default: the connection's)"
    )
    parser.add_argument(
        "--mlflow-conn-id", metavar="CONN_ID", default="mlflow_default", help="Airflow connection of MLflow"
    )
    parser.add_argument(
        "--model", dest="registered_model_name", metavar="NAME", help="only this registered model (default: all)"
    )
    parser.add_argument(
        "--max-versions",
        metavar="N",
        type=bounded_int(1, MAX_VERSIONS_LIMIT),
        default=1000,
        help=f"upper bound of versions handled, an integer from 1 to {MAX_VERSIONS_LIMIT}",
    )
    action = parser.add_mutually_exclusive_group()
    action.add_argument("--dry-run", action="store_true", help="list what would be announced; publish nothing")
    action.add_argument(
        "--backfill",
        action="store_true",
        help="mark pending the validated versions of a registry older than the pending index",
    )
    action.add_argument("--check", action="store_true", help="test both connections, as the UI's Test button does")
    add_version(parser)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point: print a JSON summary; exit 0 when done, 1 when something is still owed, 2 on an error."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.queue_conn_id is None and not (args.dry_run or args.backfill):
        parser.error("--queue-conn-id is required (except with --dry-run or --backfill)")
    # stdout carries only the JSON summary, for scripts and jq; Airflow's and MLflow's logs go to stderr.
    with contextlib.redirect_stdout(sys.stderr):
        code, summary = _run(args)
    if summary is not None:
        print(json.dumps(summary, indent=2, sort_keys=True))
    return code


def _run(args: argparse.Namespace) -> tuple[int, dict[str, Any] | None]:
    from airflow_provider_hokusai.exceptions import HokusaiError
    from airflow_provider_hokusai.utils.redaction import describe

    try:
        resolve_connections(*[c for c in (args.queue_conn_id, args.mlflow_conn_id) if c])
        return _act(args)
    except HokusaiError as exc:
        return fail(PROG, describe(exc)), None


def _act(args: argparse.Namespace) -> tuple[int, dict[str, Any] | None]:
    from airflow_provider_hokusai.announcement.announcer import ModelReadyAnnouncer
    from airflow_provider_hokusai.announcement.reconcile import backfill_pending, find_unannounced, reconcile
    from airflow_provider_hokusai.hooks.mlflow import MLflowHook
    from airflow_provider_hokusai.hooks.queue import get_queue_hook

    mlflow_hook = MLflowHook(mlflow_conn_id=args.mlflow_conn_id)
    # Read now: a missing or invalid mlflow connection is a configuration error (exit 2), not a failed check.
    mlflow_hook.settings  # noqa: B018
    if args.backfill:
        return EXIT_OK, {"marked_pending": backfill_pending(mlflow_hook, args.registered_model_name)}
    if args.dry_run:
        owed = find_unannounced(mlflow_hook, args.registered_model_name, args.max_versions)
        would = [{"model_name": r.model_name, "model_version": r.model_version} for r in owed.refs]
        return EXIT_OK, {"found": len(owed.refs), "would_publish": would, "truncated": owed.truncated}
    queue_hook = get_queue_hook(args.queue_conn_id, queue_name=args.queue_name)
    if args.check:
        checks = {"queue": queue_hook.test_connection(), "mlflow": mlflow_hook.test_connection()}
        summary = {name: {"ok": ok, "message": text} for name, (ok, text) in checks.items()}
        return (EXIT_OK if all(ok for ok, _ in checks.values()) else EXIT_FAILED), summary
    result = reconcile(ModelReadyAnnouncer(mlflow_hook, queue_hook), args.registered_model_name, args.max_versions)
    return (EXIT_FAILED if result["failed"] else EXIT_OK), result


if __name__ == "__main__":
    sys.exit(main())
