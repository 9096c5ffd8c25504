"""``hokusai-webhook setup``: point MLflow's model-registry webhook at the Airflow API server, in one command.

Creates (or updates, found by name) the MLflow webhook that posts ``model_version.created`` and
``model_version_tag.set`` to ``<api-url>/hokusai/webhooks/mlflow``, signed with the current secret of the Airflow
connection the receiver reads (``hokusai_mlflow_webhook``), then has MLflow send a test delivery
(``MlflowClient.test_webhook``) and reports the receiver's answer. Connections are resolved like
``airflow connections get``. JSON on stdout; never the secret.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import sys
from collections.abc import Sequence
from typing import Any

from airflow_provider_hokusai.cli.common import HelpFormatter, OneLineParser, add_version, fail

__all__ = ["build_parser", "main"]

PROG = "hokusai-webhook"
_DEFAULT_NAME = "hokusai-registry-events"
#: The receiver's connection id, ``registry.events.DEFAULT_CONN_ID``, spelled here so that ``--help`` imports nothing
#: heavy (tests/unit/test_cli.py checks that the two agree).
SECRET_CONN_ID = "hokusai_mlflow_webhook"
DESCRIPTION = """\
Point MLflow's model-registry webhook at the Airflow API server, in one command.

setup creates (or updates, found by name) the MLflow webhook that posts model_version.created and
model_version_tag.set to <api-url>/hokusai/webhooks/mlflow, signed with the current secret of the Airflow
connection the receiver reads, then has MLflow send a test delivery and reports the receiver's answer. Connections
are read like `airflow connections get` reads them. A JSON summary is printed on stdout, never the secret."""
EPILOG = """\
exit codes:
  0  the webhook is set up and its test delivery was accepted (or --no-test)
  1  the webhook is set up but the test delivery was refused: see "test" in the summary
  2  usage or configuration error (a missing connection or secret, MLflow refusing the webhook)

examples:
  hokusai-webhook setup --api-url https://airflow.example.com
  hokusai-webhook setup --api-url http://airflow-api:8080 --mlflow-conn-id mlflow_default --no-test"""
#: Event used for the test delivery: verified by the receiver, then answered 202 (MLflow's example tag is not a
#: candidate tag), so the test records no asset event.
_TEST_EVENT = "model_version_tag.set"
_MAX_TEXT = 500


def build_parser() -> argparse.ArgumentParser:
    """The command's arguments (``--help`` shows them with their defaults, exit codes and examples)."""
    parser = OneLineParser(prog=PROG, description=DESCRIPTION, epilog=EPILOG, formatter_class=HelpFormatter)
    add_version(parser)
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    setup = commands.add_parser(
        "setup",
        help="create or update the MLflow webhook, then test it",
        description=DESCRIPTION,
        epilog=EPILOG,
        formatter_class=HelpFormatter,
    )
    setup.add_argument(
        "--api-url", metavar="URL", required=True, help="base URL of the Airflow API server, as MLflow reaches it"
    )
    setup.add_argument(
        "--conn-id", metavar="CONN_ID", default=SECRET_CONN_ID, help="Airflow connection holding the webhook secret"
    )
    setup.add_argument(
        "--mlflow-conn-id", metavar="CONN_ID", default="mlflow_default", help="Airflow connection of MLflow"
    )
    setup.add_argument("--name", default=_DEFAULT_NAME, help="name of the MLflow webhook (found and updated by it)")
    setup.add_argument("--no-test", action="store_true", help="do not send MLflow's test delivery")
    return parser


def _receiver_url(api_url: str) -> str:
    """The receiver's URL under an API server base URL."""
    from airflow_provider_hokusai.plugins.webhooks import ROUTE, URL_PREFIX

    return f"{api_url.rstrip('/')}{URL_PREFIX}{ROUTE}"


def _find_webhook(client: Any, name: str) -> Any | None:
    """The MLflow webhook called ``name``, paging through them all; None when there is none."""
    token: str | None = None
    while True:
        page = client.list_webhooks(max_results=100, page_token=token)
        for webhook in page:
            if webhook.name == name:
                return webhook
        token = getattr(page, "token", None)
        if not token:
            return None


def _setup_webhook(client: Any, *, name: str, url: str, secret: str, test: bool = True) -> tuple[dict[str, Any], bool]:
    """
    Create or update webhook ``name`` → ``url`` with ``secret``; test it. Returns the summary and whether it works.

    :param client: The registry's ``MLflowHook`` (or an ``mlflow.MlflowClient``).
    """
    from airflow_provider_hokusai.registry.events import SUBSCRIBED_EVENTS

    events = list(SUBSCRIBED_EVENTS)
    existing = _find_webhook(client, name)
    if existing is None:
        webhook = client.create_webhook(name=name, url=url, events=events, secret=secret, status="ACTIVE")
    else:
        webhook = client.update_webhook(existing.webhook_id, url=url, events=events, secret=secret, status="ACTIVE")
    summary: dict[str, Any] = {
        "webhook_id": webhook.webhook_id,
        "name": name,
        "url": url,
        "events": events,
        "action": "created" if existing is None else "updated",
    }
    if not test:
        return summary, True
    result = client.test_webhook(webhook.webhook_id, event=_TEST_EVENT)
    summary["test"] = _test_summary(result)
    return summary, bool(result.success)


def _test_summary(result: Any) -> dict[str, Any]:
    from airflow_provider_hokusai.utils.redaction import redact_text

    return {
        "success": bool(result.success),
        "response_status": result.response_status,
        "response_body": redact_text(str(result.response_body or ""), _MAX_TEXT),
        "error": redact_text(str(result.error_message), _MAX_TEXT) if result.error_message else None,
    }


def _setup(args: argparse.Namespace) -> tuple[int, dict[str, Any] | None]:
    from airflow_provider_hokusai.cli.common import resolve_connections
    from airflow_provider_hokusai.exceptions import HokusaiError
    from airflow_provider_hokusai.hooks.mlflow import MLflowHook
    from airflow_provider_hokusai.registry.events import load_webhook_secrets
    from airflow_provider_hokusai.utils.redaction import describe

    try:
        resolve_connections(args.conn_id, args.mlflow_conn_id)
        secret = load_webhook_secrets(args.conn_id)[0]
        hook = MLflowHook(mlflow_conn_id=args.mlflow_conn_id)
        summary, works = _setup_webhook(
            hook, name=args.name, url=_receiver_url(args.api_url), secret=secret, test=not args.no_test
        )
    except HokusaiError as exc:
        return fail(PROG, describe(exc)), None
    except Exception as exc:
        return fail(PROG, f"MLflow refused the webhook: {describe(exc)}"), None
    return (0 if works else 1), summary


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point: exit 0 when the webhook is set up and its test delivery was accepted, 1 when not, 2 on an error."""
    # stdout carries only the JSON summary; Airflow's and MLflow's logs go to stderr. The parser imports no Airflow
    # (tests/unit/test_cli.py), but Airflow's logging set-up binds its handlers to the sys.stdout of the moment it is
    # imported: should building the parser ever import it, that must already be stderr.
    with contextlib.redirect_stdout(sys.stderr):
        parser = build_parser()
    # Parsed outside: --help and --version are answers, on stdout.
    args = parser.parse_args(argv)
    with contextlib.redirect_stdout(sys.stderr):
        code, summary = _setup(args)
    if summary is not None:
        print(json.dumps(summary, indent=2, sort_keys=True))
    return code


if __name__ == "__main__":
    sys.exit(main())
