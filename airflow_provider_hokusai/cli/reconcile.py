"""``hokusai-reconcile``: announce the model versions owed an announcement, for engineers on call.

Connections are resolved exactly as ``airflow connections get`` resolves them (``AIRFLOW_CONN_*`` variables,
secrets backends, then the metadata database), also outside a task. Safe to run any number of times: versions with
a receipt are skipped and the queue hooks deduplicate on the deterministic message id.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import sys
from collections.abc import Callable, Sequence
from typing import Annotated, Any, NoReturn

from pydantic import Field, TypeAdapter, ValidationError

#: Upper bound of ``--max-versions``: one run's worth of versions; more is a registry to page through in several runs.
MAX_VERSIONS_LIMIT = 100_000


class OneLineParser(argparse.ArgumentParser):
    """An ``ArgumentParser`` whose refusals are one line on stderr (``<prog>: error: <rule>``), exit code 2."""

    def error(self, message: str) -> NoReturn:
        """Print ``message`` as one line and exit 2 (argparse's own ``error`` prints the usage first)."""
        self.exit(2, f"{self.prog}: error: {' '.join(message.split())}\n")


def bounded_int(low: int, high: int) -> Callable[[str], int]:
    """
    An argparse ``type``: the argument as an integer from ``low`` to ``high``, checked by pydantic as it is read.

    :raises argparse.ArgumentTypeError: naming the rule; argparse adds the option's name.
    """
    adapter: TypeAdapter[int] = TypeAdapter(Annotated[int, Field(strict=False, ge=low, le=high)])

    def parse(text: str) -> int:
        try:
            return adapter.validate_python(text.strip())
        except ValidationError:
            raise argparse.ArgumentTypeError(f"must be an integer from {low} to {high}") from None

    return parse


__all__ = ["build_parser", "main", "resolve_connections"]


def build_parser() -> argparse.ArgumentParser:
    parser = OneLineParser(prog="hokusai-reconcile", description=__doc__.splitlines()[0])
    parser.add_argument("--queue-conn-id", required=True, help="Airflow connection of the queue (redis or aws).")
    parser.add_argument("--queue-name", help="Redis list or SQS queue name/URL; defaults to the connection's.")
    parser.add_argument("--mlflow-conn-id", default="mlflow_default", help="Airflow connection of MLflow.")
    parser.add_argument("--model", dest="registered_model_name", help="Only this registered model.")
    parser.add_argument(
        "--max-versions",
        type=bounded_int(1, MAX_VERSIONS_LIMIT),
        default=1000,
        help=f"Upper bound of versions handled, 1 to {MAX_VERSIONS_LIMIT}.",
    )
    action = parser.add_mutually_exclusive_group()
    action.add_argument("--dry-run", action="store_true", help="List what would be announced; publish nothing.")
    action.add_argument(
        "--backfill", action="store_true", help="Mark validated versions of a registry from before the pending index."
    )
    action.add_argument("--check", action="store_true", help="Test both connections (the UI's Test button).")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point; prints a JSON summary and exits 1 when any version could not be announced, 2 on an error."""
    args = build_parser().parse_args(argv)
    # stdout carries only the JSON summary, for scripts and jq; Airflow's and MLflow's logs go to stderr.
    with contextlib.redirect_stdout(sys.stderr):
        code, summary = _run(args)
    if summary is not None:
        print(json.dumps(summary, indent=2, sort_keys=True))
    return code


def resolve_connections(*conn_ids: str) -> None:
    """
    Make ``conn_ids`` visible to the hooks as ``airflow connections get`` sees them.

    Outside a task the Task SDK looks up connections in ``AIRFLOW_CONN_*`` variables and secrets backends only, not
    in the metadata database; Airflow core's lookup covers all three, and its answer is handed to the hooks through
    the process's own ``AIRFLOW_CONN_<ID>`` variable. A connection that is nowhere is left to the hooks' typed error.
    """
    from airflow.exceptions import AirflowNotFoundException
    from airflow.models.connection import Connection

    from airflow_provider_hokusai.utils.redaction import mask_connection

    for conn_id in conn_ids:
        variable = f"AIRFLOW_CONN_{conn_id.upper()}"
        if variable in os.environ:
            continue
        try:
            conn = Connection.get_connection_from_secrets(conn_id)
        except AirflowNotFoundException:
            continue
        mask_connection(conn)
        os.environ[variable] = conn.as_json()


def _run(args: argparse.Namespace) -> tuple[int, dict[str, Any] | None]:
    from airflow_provider_hokusai.exceptions import HokusaiError
    from airflow_provider_hokusai.utils.redaction import describe

    try:
        resolve_connections(args.queue_conn_id, args.mlflow_conn_id)
        return _act(args)
    except HokusaiError as exc:
        print(f"hokusai-reconcile: {describe(exc)}", file=sys.stderr)
        return 2, None


def _act(args: argparse.Namespace) -> tuple[int, dict[str, Any] | None]:
    from airflow_provider_hokusai.announcement.announcer import ModelReadyAnnouncer
    from airflow_provider_hokusai.announcement.reconcile import backfill_pending, find_unannounced, reconcile
    from airflow_provider_hokusai.hooks.mlflow import MLflowHook
    from airflow_provider_hokusai.hooks.queue import get_queue_hook

    mlflow_hook = MLflowHook(mlflow_conn_id=args.mlflow_conn_id)
    if args.backfill:
        return 0, {"marked_pending": backfill_pending(mlflow_hook, args.registered_model_name)}
    queue_hook = get_queue_hook(args.queue_conn_id, queue_name=args.queue_name)
    if args.check:
        checks = {"queue": queue_hook.test_connection(), "mlflow": mlflow_hook.test_connection()}
        summary = {name: {"ok": ok, "message": text} for name, (ok, text) in checks.items()}
        return (0 if all(ok for ok, _ in checks.values()) else 1), summary
    if args.dry_run:
        owed = find_unannounced(mlflow_hook, args.registered_model_name, args.max_versions)
        would = [{"model_name": r.model_name, "model_version": r.model_version} for r in owed.refs]
        return 0, {"found": len(owed.refs), "would_publish": would, "truncated": owed.truncated}
    result = reconcile(ModelReadyAnnouncer(mlflow_hook, queue_hook), args.registered_model_name, args.max_versions)
    return (1 if result["failed"] else 0), result


if __name__ == "__main__":
    sys.exit(main())
