"""The commands explain themselves: plain-text help with defaults, exit codes and examples, ``--version``, usage
errors with exit 2, and ``--help`` that imports no Airflow (the speed itself is measured by ``bench/cli.py``)."""

from __future__ import annotations

import argparse
import re
import subprocess
import sys

import pytest

from airflow_provider_hokusai import __version__
from airflow_provider_hokusai.cli import reconcile, webhook

PARSERS = {"hokusai-reconcile": reconcile.build_parser, "hokusai-webhook": webhook.build_parser}


def help_texts() -> dict[str, str]:
    texts = {name: build().format_help() for name, build in PARSERS.items()}
    commands = next(a for a in webhook.build_parser()._actions if isinstance(a, argparse._SubParsersAction))
    setup = commands.choices["setup"]
    texts["hokusai-webhook setup"] = setup.format_help()
    return texts


@pytest.mark.parametrize("name", ["hokusai-reconcile", "hokusai-webhook", "hokusai-webhook setup"])
def test_help_is_plain_text_with_exit_codes_and_examples(name: str) -> None:
    text = help_texts()[name]
    assert re.search(r"``|:param|:class:|:func:|:mod:", text) is None
    assert re.search(r"exit codes:\n  0  .+\n  1  .+\n  2  .+", text)
    assert "examples:\n  hokusai-" in text


def test_help_shows_the_defaults() -> None:
    texts = {name: " ".join(text.split()) for name, text in help_texts().items()}  # argparse wraps lines
    assert "(default: 1000)" in texts["hokusai-reconcile"]
    assert "(default: mlflow_default)" in texts["hokusai-reconcile"]
    assert "(default: hokusai_mlflow_webhook)" in texts["hokusai-webhook setup"]
    assert "(default: None)" not in "".join(texts.values())


@pytest.mark.parametrize("module", [reconcile, webhook])
def test_version(module: object, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as done:
        module.main(["--version"])  # type: ignore[attr-defined]
    assert done.value.code == 0
    assert capsys.readouterr().out.split() == [module.PROG, __version__]  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    ("argv", "says"),
    [
        ([], "--queue-conn-id is required"),
        (["--dry-run", "--max-versions=-1"], "--max-versions: must be an integer from 1 to 100000"),
        (["--dry-run", "--max-versions=0"], "--max-versions: must be an integer from 1 to 100000"),
        (["--dry-run", "--max-versions=many"], "--max-versions: must be an integer from 1 to 100000"),
        (["--dry-run", "--check"], "not allowed with argument"),
    ],
)
def test_reconcile_usage_errors_exit_2_naming_the_option(
    argv: list[str], says: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as done:
        reconcile.main(argv)
    assert done.value.code == 2
    assert says in capsys.readouterr().err.splitlines()[-1]


def test_webhook_setup_without_api_url_exits_2(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as done:
        webhook.main(["setup"])
    assert done.value.code == 2
    assert "--api-url" in capsys.readouterr().err.splitlines()[-1]


def test_webhook_default_secret_connection_is_the_receivers() -> None:
    from airflow_provider_hokusai.registry.events import DEFAULT_CONN_ID

    assert webhook.SECRET_CONN_ID == DEFAULT_CONN_ID


def test_help_imports_neither_airflow_nor_mlflow() -> None:
    probe = (
        "import sys\n"
        "from airflow_provider_hokusai.cli import reconcile, webhook\n"
        "reconcile.build_parser().format_help(); webhook.build_parser().format_help()\n"
        "print(sorted({m.split('.')[0] for m in sys.modules} & {'airflow', 'mlflow', 'boto3', 'redis', 'pydantic'}))\n"
    )
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=120, check=True)
    assert done.stdout.strip() == "[]"
