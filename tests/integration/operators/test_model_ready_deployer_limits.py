"""
Real sensor → register → publish evidence that the token deployer would refuse is not published (issue 11, item 5).

Each case writes registry evidence on a real ``mlflow server`` that used to become a published message the
deployer's Joi schema rejects (an unsafe number, an empty tag value, a blank id, a case-folded token symbol), runs
:class:`PublishModelReadyOperator` against a real redis-server, and checks the typed error naming the field, and
that nothing reached the queue.
"""

from __future__ import annotations

from typing import Any

import pytest

from airflow_provider_hokusai.exceptions import HokusaiPermanentError, InvalidModelReadyMessage
from airflow_provider_hokusai.operators.model_ready import PublishModelReadyOperator
from airflow_provider_hokusai.registry import tags as t
from tests.fixtures.mlflow import MLflowServer, RecordingTI, registered_version
from tests.fixtures.mlflow import validated_tags as shared_validated_tags
from tests.fixtures.redis import RedisProcess

pytestmark = pytest.mark.integration

CASES = [
    # (id, version tag overrides, operator kwargs, field named)
    ("unsafe-improvement", {t.BENCHMARK_VALUE: "1e-15", t.CURRENT_VALUE: "1"}, {}, "improvement_percentage"),
    ("unsafe-current", {t.BENCHMARK_VALUE: "1", t.CURRENT_VALUE: "1e17"}, {}, "current_value"),
    ("unsafe-both", {t.BENCHMARK_VALUE: "9007199254740993", t.CURRENT_VALUE: "1e16"}, {}, "baseline_value"),
    ("empty-tag-value", {}, {"extra_tags": {"team": ""}}, "tags"),
    ("blank-model-id-arg", {}, {"model_id": "   "}, "model_id"),
    ("blank-model-id-tag", {t.MODEL_ID: "\u3000"}, {}, "model_id"),
    ("blank-run-id-tag", {t.RUN_ID: " \t "}, {}, "mlflow_run_id"),
    ("blank-experiment-tag", {t.EXPERIMENT_NAME: "\u00a0"}, {}, "experiment_name"),
    ("casefolded-token", {t.TOKEN_ID: "\u0131d"}, {}, "token_symbol"),
    ("astral-model-id", {}, {"model_id": "\U0001f600" * 257}, "model_id"),
]


@pytest.mark.parametrize(("overrides", "kwargs", "field"), [pytest.param(o, k, f, id=i) for i, o, k, f in CASES])
def test_evidence_the_deployer_refuses_is_never_published(
    mlflow_conn: MLflowServer,
    redis_queue_conn: str,
    redis_server: RedisProcess,
    overrides: dict[str, str],
    kwargs: dict[str, Any],
    field: str,
) -> None:
    name, version, _ = registered_version(
        mlflow_conn.url, shared_validated_tags(**{t.TOKEN_ID: "HKLIM", **overrides}), "hokusai-limits"
    )
    op = PublishModelReadyOperator(
        task_id="announce", model_name=name, model_version=version, queue_conn_id=redis_queue_conn, **kwargs
    )

    with pytest.raises(InvalidModelReadyMessage) as raised:
        op.execute({"ti": RecordingTI()})  # type: ignore[typeddict-item]

    assert isinstance(raised.value, HokusaiPermanentError)
    assert any(f == field or f.startswith(f"{field}.") for f in raised.value.fields), raised.value.fields
    assert redis_server.client().llen("hokusai:model_ready_queue") == 0


# Numeric evidence read strictly (no float() guessing). announce.py's own pattern handles the ASCII cases; other
# scripts' digits ("\d" in Python) need announce.message_from_version_tags to read the numbers with
# airflow_provider_hokusai.messages.parse_tag_number (the announce path's owner; issue 11 item 5).
# strict=True: once that call is in, these pass and the marker must go.
STRICT_NUMBERS = [
    pytest.param({t.BENCHMARK_VALUE: "0.9_0"}, "baseline_value", id="underscore"),
    pytest.param({t.CURRENT_VALUE: " 0.95\n"}, "current_value", id="padded"),
    pytest.param({t.CURRENT_VALUE: "+0.95"}, "current_value", id="plus-sign"),
    pytest.param({t.CURRENT_VALUE: "NaN"}, "current_value", id="nan"),
    pytest.param(
        {t.CURRENT_VALUE: "\u0660.\u0669\u0665"},
        "current_value",
        id="arabic-indic-digits",
    ),
    pytest.param(
        {t.BENCHMARK_VALUE: "\uff10.\uff19"},
        "baseline_value",
        id="fullwidth-digits",
    ),
]


@pytest.mark.parametrize(("overrides", "field"), STRICT_NUMBERS)
def test_numeric_evidence_is_parsed_strictly(
    mlflow_conn: MLflowServer,
    redis_queue_conn: str,
    redis_server: RedisProcess,
    overrides: dict[str, str],
    field: str,
) -> None:
    name, version, _ = registered_version(
        mlflow_conn.url, shared_validated_tags(**{t.TOKEN_ID: "HKLIM", **overrides}), "hokusai-strict"
    )
    op = PublishModelReadyOperator(
        task_id="announce", model_name=name, model_version=version, queue_conn_id=redis_queue_conn
    )

    with pytest.raises(InvalidModelReadyMessage) as raised:
        op.execute({"ti": RecordingTI()})  # type: ignore[typeddict-item]

    assert field in raised.value.fields
    assert redis_server.client().llen("hokusai:model_ready_queue") == 0
