"""
Secrets kept out of the API server's own logs, for the records of the loggers the plugin's apps drive.

In Airflow 3.3's API server, log records do not pass through Airflow's secrets masker (it masks task logs): a
secret registered with it, logged by the provider or printed by botocore at DEBUG (endpoint URLs with userinfo,
``X-Amz-Security-Token`` headers), would reach the log as is. :func:`install_log_redaction`, called by each plugin
app's ``create_app`` (never at import), puts a :class:`RedactingFilter` in front of those records: each record's
full text (message, arguments, traceback) goes through
:func:`~airflow_provider_hokusai.utils.redaction.redact_text`, i.e. Airflow's secrets masker (every registered secret)
and then the removal of URI userinfo and ``key=value`` / ``key: value`` secrets.

A filter on a logger does not see the records of its descendants, and some descendants only appear later (an
Airflow hook's logger, ``airflow.task.hooks.<module>.<class>``, is created with the hook). So the filter is
installed on every covered logger that exists when an app is created, and on the root logger's handlers, where it
acts on the covered loggers' records only: every record of a logger created later still reaches it as it
propagates. Nothing is imported for it: a client library the app has not loaded yet has logged nothing yet.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterable

from airflow_provider_hokusai.utils.redaction import redact_text

__all__ = ["COVERED_LOGGERS", "RedactingFilter", "covered", "install_log_redaction", "record_text"]

#: Loggers (and their descendants) whose records are redacted: the provider's own, the Airflow hooks it uses, and
#: the client libraries its apps drive (SQS: boto3/botocore/aiobotocore over urllib3; Redis: redis-py; MLflow's
#: REST calls: requests over urllib3; httpx/httpcore where MLflow or Airflow use them).
COVERED_LOGGERS = (
    "airflow_provider_hokusai",
    "airflow.task.hooks.airflow_provider_hokusai",
    "airflow.task.hooks.airflow.providers.amazon",
    "airflow.task.hooks.airflow.providers.redis",
    "boto3",
    "botocore",
    "aiobotocore",
    "urllib3",
    "requests",
    "redis",
    "mlflow",
    "httpx",
    "httpcore",
)
_DONE = "_hokusai_redacted"
_FORMATTER = logging.Formatter()
_LOCK = threading.Lock()


def covered(name: str, prefixes: Iterable[str] = COVERED_LOGGERS) -> bool:
    """Whether the logger called ``name`` is one of ``prefixes`` or a descendant of one."""
    return any(name == prefix or name.startswith(prefix + ".") for prefix in prefixes)


def record_text(record: logging.LogRecord) -> str:
    """Everything a handler would print of ``record`` besides its metadata: message, traceback, stack."""
    try:
        text = record.getMessage()
    except Exception:
        # A bad format string: the handler would print an error instead; keep what was logged, redacted.
        text = f"{record.msg!s} {record.args!r}"
    if record.exc_info:
        text += "\n" + _FORMATTER.formatException(record.exc_info)
    elif record.exc_text:
        text += "\n" + record.exc_text
    if record.stack_info:
        text += "\n" + record.stack_info
    return text


class RedactingFilter(logging.Filter):
    """
    Replaces a covered record's message with its redacted full text (arguments, traceback and stack folded in, so
    no formatter renders them again from the raw values); other records pass untouched.

    :param prefixes: The loggers whose records (their descendants' too) are redacted.
    """

    def __init__(self, prefixes: Iterable[str] = COVERED_LOGGERS) -> None:
        super().__init__()
        self.prefixes = tuple(prefixes)

    def filter(self, record: logging.LogRecord) -> bool:
        """Redact ``record`` in place when it is covered; never drops a record."""
        if record.__dict__.get(_DONE) or not covered(record.name, self.prefixes):
            return True
        record.msg = redact_text(record_text(record))
        record.args = ()
        record.exc_info = record.exc_text = record.stack_info = None
        record.__dict__[_DONE] = True
        return True


LOG_FILTER = RedactingFilter()


def install_log_redaction() -> RedactingFilter:
    """
    Install :data:`LOG_FILTER` on every covered logger that exists now and on the root logger's handlers;
    idempotent (``addFilter`` skips a filter already there), so each app's ``create_app`` calls it.
    """
    with _LOCK:
        names = set(COVERED_LOGGERS) | {name for name in list(logging.Logger.manager.loggerDict) if covered(name)}
        for name in sorted(names):
            logging.getLogger(name).addFilter(LOG_FILTER)
        for handler in logging.getLogger().handlers:
            handler.addFilter(LOG_FILTER)
    return LOG_FILTER
