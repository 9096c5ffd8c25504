"""
MLflow requests per announcement (issue 23), counted at the HTTP layer: a counting reverse proxy in front of a real
``mlflow server``, a real ``redis-server`` behind the queue hook.

A first announcement is one read and two tag writes (the JSON receipt, then the status); an announcement of a version
that already has a receipt is one read; a version that failed before also gets its error cleared (one more write).
"""

from __future__ import annotations

import json

import pytest

from airflow_provider_hokusai.announcement.announcer import ModelReadyAnnouncer, VersionRef
from airflow_provider_hokusai.hooks.mlflow import MLflowHook
from airflow_provider_hokusai.hooks.queue import get_queue_hook
from airflow_provider_hokusai.registry import tags as t
from airflow_provider_hokusai.registry.evidence import RECEIPT_FIELDS, receipt_from_tags
from hokusai_testkit.http_count import CountingProxy
from tests.fixtures.mlflow import MLflowServer, registered_version, validated_tags

pytestmark = pytest.mark.integration

GET_VERSION = ("GET", "/api/2.0/mlflow/model-versions/get")
SET_TAG = ("POST", "/api/2.0/mlflow/model-versions/set-tag")


def announcer(redis_queue_conn: str) -> ModelReadyAnnouncer:
    return ModelReadyAnnouncer(MLflowHook(mlflow_conn_id="mlflow_counted"), get_queue_hook(redis_queue_conn))


def test_a_first_announcement_is_three_requests_and_a_repeat_is_one(
    mlflow_server: MLflowServer, mlflow_proxy: CountingProxy, redis_queue_conn: str
) -> None:
    name, version, _ = registered_version(mlflow_server.url, validated_tags(), "hokusai-requests")
    mlflow_proxy.take()

    first = announcer(redis_queue_conn).announce(VersionRef(name, version))

    assert first.outcome == "published"
    assert mlflow_proxy.take() == [GET_VERSION, SET_TAG, SET_TAG]
    recorded = MLflowHook(mlflow_conn_id="mlflow_counted").get_model_version(name, version).tags
    assert recorded[t.ANNOUNCEMENT_STATUS] == t.ANNOUNCEMENT_PUBLISHED
    assert set(json.loads(recorded[t.ANNOUNCEMENT_RECEIPT])) == set(RECEIPT_FIELDS)
    assert (receipt_from_tags(recorded) or {}).get("message_id") == (first.receipt or {}).get("message_id")
    mlflow_proxy.take()

    again = announcer(redis_queue_conn).announce(VersionRef(name, version))

    assert again.outcome == "already_published"
    assert mlflow_proxy.take() == [GET_VERSION]


def test_a_version_that_failed_before_also_gets_its_error_cleared(
    mlflow_server: MLflowServer, mlflow_proxy: CountingProxy, redis_queue_conn: str
) -> None:
    earlier = {t.ANNOUNCEMENT_STATUS: t.ANNOUNCEMENT_FAILED, t.ANNOUNCEMENT_ERROR: "retryable: QueuePublishError: down"}
    name, version, _ = registered_version(mlflow_server.url, validated_tags(**earlier), "hokusai-requests")
    mlflow_proxy.take()

    assert announcer(redis_queue_conn).announce(VersionRef(name, version)).outcome == "published"

    assert mlflow_proxy.take() == [GET_VERSION, SET_TAG, SET_TAG, SET_TAG]
    recorded = MLflowHook(mlflow_conn_id="mlflow_counted").get_model_version(name, version).tags
    assert (recorded[t.ANNOUNCEMENT_ERROR], recorded[t.ANNOUNCEMENT_STATUS]) == ("", t.ANNOUNCEMENT_PUBLISHED)


def test_the_proxy_counts_what_an_mlflow_client_sends(mlflow_server: MLflowServer, mlflow_proxy: CountingProxy) -> None:
    from mlflow import MlflowClient

    name, version, _ = registered_version(mlflow_server.url, validated_tags(), "hokusai-requests")
    mlflow_proxy.take()
    # MLflow's own client reads the registered model before each tag write (its prompt check): two requests.
    MlflowClient(tracking_uri=mlflow_proxy.url, registry_uri=mlflow_proxy.url).set_model_version_tag(
        name, version, "k", "v"
    )
    assert len(mlflow_proxy.take()) == 2
    MLflowHook(mlflow_conn_id="mlflow_counted").set_model_version_tag(name, version, "k", "w")
    assert mlflow_proxy.take() == [SET_TAG]
