"""A PostgreSQL database of one's own on the machine's server: created with a unique name, dropped afterwards."""

from __future__ import annotations

import contextlib
import os
import uuid
from collections.abc import Iterator
from dataclasses import dataclass

from hokusai_testkit.ports import LOOPBACK

#: The machine's server; trust authentication on loopback. Override with HOKUSAI_TEST_PG_PORT / _USER.
PG_PORT = int(os.environ.get("HOKUSAI_TEST_PG_PORT", "5432"))
PG_USER = os.environ.get("HOKUSAI_TEST_PG_USER", "postgres")


@dataclass(frozen=True)
class OwnDatabase:
    """
    A database this process created.

    :param name: Its name (``<prefix>_<hex>``).
    """

    name: str

    @property
    def sqlalchemy_url(self) -> str:
        """The SQLAlchemy URL of the database (psycopg2 driver), as Airflow's ``sql_alchemy_conn`` takes it."""
        return f"postgresql+psycopg2://{PG_USER}@{LOOPBACK}:{PG_PORT}/{self.name}"


def _admin(statement: str) -> None:
    import psycopg2

    connection = psycopg2.connect(host=LOOPBACK, port=PG_PORT, user=PG_USER, dbname="postgres", connect_timeout=10)
    try:
        connection.autocommit = True
        with connection.cursor() as cursor:
            cursor.execute(statement)
    finally:
        connection.close()


@contextlib.contextmanager
def own_database(prefix: str) -> Iterator[OwnDatabase]:
    """
    Create a database with a name no one else uses, and drop it (closing its sessions) when the block ends, whatever
    happened in it. Nothing else on the server is touched.

    :param prefix: Letters, digits and underscores; the start of the name.
    """
    database = OwnDatabase(f"{prefix}_{uuid.uuid4().hex[:10]}")
    _admin(f'CREATE DATABASE "{database.name}"')
    try:
        yield database
    finally:
        _admin(f'DROP DATABASE IF EXISTS "{database.name}" WITH (FORCE)')
