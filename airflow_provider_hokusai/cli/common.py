"""What both commands share: plain-text help with defaults, ``--version``, one-line errors, connection lookup.

Nothing here imports Airflow at module level: ``--help`` and ``--version`` answer without it.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, NoReturn
from urllib.parse import urlsplit

__all__ = [
    "EXIT_FAILED",
    "EXIT_OK",
    "EXIT_USAGE",
    "HelpFormatter",
    "OneLineParser",
    "add_version",
    "bounded_int",
    "fail",
    "metadata_database_exists",
    "resolve_connections",
]

#: Everything done.
EXIT_OK = 0
#: Something is still owed or failed (a version not announced, a connection test failed, a test delivery refused).
EXIT_FAILED = 1
#: A usage or configuration error: nothing was done; the one-line message on stderr says what to fix.
EXIT_USAGE = 2


class HelpFormatter(argparse.RawDescriptionHelpFormatter):
    """The description and epilog printed as written; ``(default: X)`` after an option's help when it has one."""

    def _get_help_string(self, action: argparse.Action) -> str | None:
        text = action.help or ""
        if action.default in (None, False, argparse.SUPPRESS) or "default" in text:
            return text
        return f"{text} (default: %(default)s)"


def add_version(parser: argparse.ArgumentParser) -> None:
    """Add ``--version``, which prints the provider's version."""
    from airflow_provider_hokusai import __version__

    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")


class OneLineParser(argparse.ArgumentParser):
    """An ``ArgumentParser`` whose refusals are one line on stderr (``<prog>: error: <rule>``), exit code 2."""

    def error(self, message: str) -> NoReturn:
        """Print ``message`` as one line and exit 2 (argparse's own ``error`` prints the usage first)."""
        self.exit(EXIT_USAGE, f"{self.prog}: error: {' '.join(message.split())}\n")


def bounded_int(low: int, high: int) -> Callable[[str], int]:
    """
    An argparse ``type``: the argument as an integer from ``low`` to ``high``, checked by pydantic as it is read
    (imported then, not for ``--help``).

    :raises argparse.ArgumentTypeError: naming the rule; argparse adds the option's name.
    """

    def parse(text: str) -> int:
        from pydantic import Field, TypeAdapter, ValidationError

        adapter: TypeAdapter[int] = TypeAdapter(Annotated[int, Field(strict=False, ge=low, le=high)])
        try:
            return adapter.validate_python(text.strip())
        except ValidationError:
            raise argparse.ArgumentTypeError(f"must be an integer from {low} to {high}") from None

    return parse


def fail(prog: str, text: str) -> int:
    """Print ``prog: error: text`` on one line of stderr; return :data:`EXIT_USAGE`."""
    print(f"{prog}: error: {' '.join(text.split())}", file=sys.stderr)
    return EXIT_USAGE


def metadata_database_exists() -> bool:
    """
    Whether Airflow's metadata database can be read without creating it: a sqlite file that is not there yet would
    be created by the first query, so it counts as absent; any other database is a server's and counts as present.
    """
    from airflow.configuration import conf

    url = conf.get("database", "sql_alchemy_conn", fallback="") or ""
    if not url.startswith("sqlite"):
        return bool(url)
    path = urlsplit(url).path
    # sqlite:////abs/path.db → //abs/path.db; sqlite:///rel.db → /rel.db
    path = path[1:] if path.startswith("//") else path.lstrip("/")
    return bool(path) and path != ":memory:" and Path(path).is_file()


def resolve_connections(*conn_ids: str) -> None:
    """
    Make ``conn_ids`` visible to the hooks as ``airflow connections get`` sees them.

    Outside a task the Task SDK looks up connections in ``AIRFLOW_CONN_*`` variables and secrets backends only, not
    in the metadata database. This lookup goes through Airflow's secrets backends in Airflow's order (environment
    variables, a configured secrets backend, then the metadata database) and hands the answer to the hooks through
    the process's own ``AIRFLOW_CONN_<ID>`` variable. The metadata database is read only for a connection found
    nowhere else, and only when it exists: a missing sqlite file is never created. A connection that is nowhere is
    left to the hooks' typed error.
    """
    missing = [conn_id for conn_id in conn_ids if f"AIRFLOW_CONN_{conn_id.upper()}" not in os.environ]
    if not missing:
        return
    from airflow.configuration import ensure_secrets_loaded
    from airflow.secrets.metastore import MetastoreBackend

    from airflow_provider_hokusai.utils.redaction import mask_connection

    backends = [
        backend
        for backend in ensure_secrets_loaded()
        if not isinstance(backend, MetastoreBackend) or metadata_database_exists()
    ]
    for conn_id in missing:
        for backend in backends:
            conn = backend.get_connection(conn_id=conn_id)
            if conn is not None:
                mask_connection(conn)
                os.environ[f"AIRFLOW_CONN_{conn_id.upper()}"] = conn.as_json()
                break
