"""persistence_warning: what a Redis's INFO persistence / CONFIG GET replies mean for acknowledged announcements."""

from __future__ import annotations

from typing import Any

import pytest
from redis import exceptions as rex

from airflow_provider_hokusai.queue.persistence import APPENDFSYNC_NO, APPENDONLY_OFF, persistence_warning

REFUSED = rex.NoPermissionError("this user has no permissions to run the 'config|get' command")


@pytest.mark.parametrize(
    ("info", "config", "warning"),
    [
        ({"aof_enabled": 0}, {"appendonly": "no", "appendfsync": "everysec"}, APPENDONLY_OFF),
        ({"aof_enabled": 0}, REFUSED, APPENDONLY_OFF),
        ({"aof_enabled": 1}, {"appendonly": "yes", "appendfsync": "always"}, None),
        ({"aof_enabled": 1}, {"appendonly": "yes", "appendfsync": "everysec"}, None),
        ({"aof_enabled": 1}, {"appendonly": "yes", "appendfsync": "no"}, APPENDFSYNC_NO),
        ({"aof_enabled": 1}, REFUSED, None),  # AOF on, fsync policy not readable (ElastiCache: everysec)
        (rex.ResponseError("unknown command 'INFO'"), {"appendonly": "no"}, APPENDONLY_OFF),
        (REFUSED, {"appendonly": b"yes", "appendfsync": b"no"}, APPENDFSYNC_NO),
    ],
)
def test_persistence_warning(info: Any, config: Any, warning: str | None) -> None:
    assert persistence_warning(info, config) == warning


def test_both_refused_is_persistence_unknown_naming_the_refusal() -> None:
    text = persistence_warning(rex.NoPermissionError("no permissions to run the 'info' command"), REFUSED)
    assert text is not None and text.startswith("persistence unknown: ")
    assert "NoPermissionError" in text and "+info" in text
