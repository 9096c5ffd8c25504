"""PublishModelReadyOperator against a real mlflow server and a real redis-server: the registry is the truth."""

from __future__ import annotations

import json
from typing import Any

import pytest

from airflow_provider_hokusai.exceptions import AnnouncementRefusedError, InvalidModelReadyMessage
from airflow_provider_hokusai.hooks.mlflow import MLflowHook
from airflow_provider_hokusai.links import MODEL_VERSION_URL_XCOM_KEY, MLflowModelVersionLink
from airflow_provider_hokusai.messages import ModelReadyToDeployMessage, message_id_for
from airflow_provider_hokusai.operators.model_ready import PublishModelReadyOperator
from airflow_provider_hokusai.registry import tags as t
from airflow_provider_hokusai.registry.evidence import receipt_from_tags
from tests.fixtures.mlflow import MLflowServer, RecordingTI, registered_version
from tests.fixtures.mlflow import validated_tags as shared_validated_tags
from tests.fixtures.redis import RedisProcess

pytestmark = pytest.mark.integration

REDIS_LIST = "hokusai:model_ready_queue"


def version_with_tags(server: MLflowServer, version_tags: dict[str, str]) -> tuple[str, str, str]:
    return registered_version(server.url, version_tags, "hokusai-op")


def validated_tags(**overrides: str) -> dict[str, str]:
    return shared_validated_tags(**{t.TOKEN_ID: "HKOP", **overrides})


def publish(name: str, version: str, conn_id: str, **kwargs: Any) -> tuple[dict[str, Any], RecordingTI]:
    op = PublishModelReadyOperator(
        task_id="announce", model_name=name, model_version=version, queue_conn_id=conn_id, **kwargs
    )
    ti = RecordingTI()
    return op.execute({"ti": ti}), ti  # type: ignore[arg-type]


def test_publishes_the_registry_evidence_once_and_records_the_receipt(
    mlflow_conn: MLflowServer, redis_queue_conn: str, redis_server: RedisProcess
) -> None:
    name, version, run_id = version_with_tags(mlflow_conn, validated_tags())

    result, ti = publish(name, version, redis_queue_conn, extra_tags={"team": "vision"})

    json.dumps(result)  # the XCom value must be JSON-serializable
    assert result["outcome"] == "published"
    bodies = redis_server.client().lrange(REDIS_LIST, 0, -1)
    assert len(bodies) == 1
    message = ModelReadyToDeployMessage.from_json(bodies[0])
    assert (message.model_name, message.model_version, message.mlflow_run_id) == (name, version, run_id)
    assert (message.baseline_value, message.current_value, message.token_symbol) == (0.9, 0.95, "HKOP")
    assert message.tags is not None and message.tags["team"] == "vision"
    assert result["receipt"]["message_id"] == message.message_id == message_id_for(name, version)
    recorded = MLflowHook().get_model_version(name, version).tags
    assert recorded[t.ANNOUNCEMENT_STATUS] == t.ANNOUNCEMENT_PUBLISHED
    assert receipt_from_tags(recorded)["queue"] == REDIS_LIST
    assert ti.xcoms[MODEL_VERSION_URL_XCOM_KEY] == f"{mlflow_conn.url}/#/models/{name}/versions/{version}"
    assert any(isinstance(link, MLflowModelVersionLink) for link in PublishModelReadyOperator.operator_extra_links)

    again, _ = publish(name, version, redis_queue_conn)
    assert again["outcome"] == "already_published"
    assert again["receipt"]["message_id"] == message.message_id
    assert redis_server.client().llen(REDIS_LIST) == 1


@pytest.mark.parametrize(
    ("version_tags", "error"),
    [
        pytest.param({t.TOKEN_ID: "HKOP"}, AnnouncementRefusedError, id="not-validated"),
        pytest.param(validated_tags(**{t.CURRENT_VALUE: ""}), AnnouncementRefusedError, id="evidence-missing"),
        pytest.param(validated_tags(**{t.CURRENT_VALUE: "0.85"}), InvalidModelReadyMessage, id="no-longer-beats"),
        pytest.param(validated_tags(**{t.TOKEN_ID: "TOO-LONG-SYMBOL"}), InvalidModelReadyMessage, id="bad-token"),
    ],
)
def test_refuses_a_version_whose_evidence_does_not_hold_and_sends_nothing(
    mlflow_conn: MLflowServer,
    redis_queue_conn: str,
    redis_server: RedisProcess,
    version_tags: dict[str, str],
    error: type[Exception],
) -> None:
    name, version, _ = version_with_tags(mlflow_conn, version_tags)

    with pytest.raises(error) as raised:
        publish(name, version, redis_queue_conn)

    assert redis_server.client().dbsize() == 0
    recorded = MLflowHook().get_model_version(name, version).tags
    assert recorded[t.ANNOUNCEMENT_STATUS] == t.ANNOUNCEMENT_FAILED
    assert recorded[t.ANNOUNCEMENT_ERROR].startswith(f"permanent: {type(raised.value).__name__}")
    assert receipt_from_tags(recorded) is None


def test_a_bad_contributor_override_is_named_and_nothing_is_sent(
    mlflow_conn: MLflowServer, redis_queue_conn: str, redis_server: RedisProcess
) -> None:
    name, version, _ = version_with_tags(mlflow_conn, validated_tags())

    with pytest.raises(InvalidModelReadyMessage) as raised:
        publish(name, version, redis_queue_conn, contributor_address="0x123")

    assert "contributor_address" in raised.value.fields
    assert redis_server.client().dbsize() == 0
