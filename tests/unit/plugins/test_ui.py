"""
The Hokusai page's data logic and app: rows from tags, MLflow filters, paging through a real (embedded) registry,
and the app's answers with a fake authorizer (Airflow's real auth manager is in tests/integration/plugins).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from fastapi.security import HTTPAuthorizationCredentials
from fastapi.testclient import TestClient
from starlette.requests import Request

from airflow_provider_hokusai.exceptions import RegistryUnavailableError
from airflow_provider_hokusai.hooks.mlflow import MLflowHook
from airflow_provider_hokusai.plugins import ui
from airflow_provider_hokusai.plugins._ui_app import create_app, static_file
from airflow_provider_hokusai.plugins.plugin import HokusaiPlugin
from airflow_provider_hokusai.plugins.ui_reader import RegistryReader
from airflow_provider_hokusai.plugins.ui_rows import (
    ORDER_BY,
    VersionPage,
    VersionQuery,
    search_filter,
    version_row,
)
from airflow_provider_hokusai.registry import tags as t
from airflow_provider_hokusai.registry.entities import RegistryVersion
from hokusai_testkit.mlflow import create_sqlite_store, validated_tags
from hokusai_testkit.ports import free_port

SECRET = "ui-Pa55-word-3e9a"
RECEIPT = {
    t.ANNOUNCEMENT_MESSAGE_ID: "m-1",
    t.ANNOUNCEMENT_BACKEND: "redis",
    t.ANNOUNCEMENT_QUEUE: "hokusai:model_ready_queue",
    t.ANNOUNCEMENT_BROKER_ID: "",
    t.ANNOUNCED_AT: "2026-01-01T00:00:00Z",
    t.ANNOUNCEMENT_STATUS: t.ANNOUNCEMENT_PUBLISHED,
}


def no_link(name: str, version: str) -> str | None:
    return None


def test_filters_read_the_pending_index_or_page_the_registry() -> None:
    assert search_filter(VersionQuery()) == ""
    assert search_filter(VersionQuery(status="failed")) == f"tags.`{t.ANNOUNCEMENT_STATUS}` = 'failed'"
    assert search_filter(VersionQuery(status="pending", model="it's")) == (
        f"tags.`{t.ANNOUNCEMENT_STATUS}` = 'pending' AND name = \"it's\""
    )
    assert search_filter(VersionQuery(model="m", page_token=" ")) == "name = 'm'"


@pytest.mark.parametrize("bad", [{"status": "gone"}, {"page_size": 0}, {"page_size": 101}, {"page_token": "x" * 2001}])
def test_bad_queries_are_refused(bad: dict[str, Any]) -> None:
    with pytest.raises(ValueError):
        VersionQuery(**bad)


def test_rows_say_validated_announced_failed_and_why() -> None:
    announced = version_row(RegistryVersion("m", "1", 1767225600000, "r1", {**validated_tags(), **RECEIPT}), no_link)
    assert (announced["validation"], announced["announcement"], announced["retryable"]) == (
        "validated",
        "announced",
        False,
    )
    assert announced["receipt"]["message_id"] == "m-1"
    assert (announced["baseline"], announced["current"], announced["token_symbol"]) == (0.9, 0.95, "HOK")
    assert announced["created_at"] == "2026-01-01T00:00:00Z"

    reason = f"retryable: QueueUnavailableError: redis://u:{SECRET}@host down password={SECRET}"
    failed_tags = validated_tags(**{t.ANNOUNCEMENT_STATUS: t.ANNOUNCEMENT_FAILED, t.ANNOUNCEMENT_ERROR: reason})
    failed = version_row(RegistryVersion("m", "2", tags=failed_tags), lambda n, v: f"http://mlflow/{n}/{v}")
    assert (failed["announcement"], failed["retryable"], failed["receipt"]) == ("failed", True, None)
    assert failed["failure_reason"].startswith("retryable: QueueUnavailableError")
    assert SECRET not in str(failed)
    assert failed["mlflow_url"] == "http://mlflow/m/2"

    invalid = {t.STATUS: t.STATUS_FAILED, t.VALIDATION_ERROR: "accuracy 0.8 does not beat 0.9"}
    refused = version_row(RegistryVersion("m", "3", tags=invalid), no_link)
    assert (refused["validation"], refused["announcement"], refused["retryable"]) == ("failed", "not owed", False)
    assert refused["validation_error"] == "accuracy 0.8 does not beat 0.9"


def test_task_link_only_when_the_version_names_its_task() -> None:
    provenance = {t.AIRFLOW_DAG_ID: "release", t.AIRFLOW_RUN_ID: "manual__2026/01", t.AIRFLOW_TASK_ID: "register"}
    row = version_row(RegistryVersion("m", "1", tags=validated_tags(**provenance)), no_link)
    assert row["task_path"] == "/dags/release/runs/manual__2026%2F01/tasks/register"
    assert version_row(RegistryVersion("m", "1", tags=validated_tags()), no_link)["task_path"] is None


def test_reader_pages_an_embedded_registry(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from mlflow import MlflowClient

    uri = create_sqlite_store(tmp_path)
    client = MlflowClient(tracking_uri=uri, registry_uri=uri)
    client.create_registered_model("ui-model")
    for number in range(5):
        status = t.ANNOUNCEMENT_FAILED if number % 2 else t.ANNOUNCEMENT_PENDING
        client.create_model_version("ui-model", "s3://x", tags=validated_tags(**{t.ANNOUNCEMENT_STATUS: status}))
    monkeypatch.setenv("AIRFLOW_CONN_UI_SQLITE", f'{{"conn_type": "mlflow", "host": "{uri}"}}')
    reader = RegistryReader(MLflowHook("ui_sqlite"))

    first = reader.search_versions("", 3, None, ORDER_BY)
    assert [v.version for v in first.versions] == ["5", "4", "3"]
    second = reader.search_versions("", 3, first.next_page_token, ORDER_BY)
    assert ([v.version for v in second.versions], second.next_page_token) == (["2", "1"], None)
    failed = reader.search_versions(search_filter(VersionQuery(status="failed", model="ui-model")), 10, None, ORDER_BY)
    assert [v.version for v in failed.versions] == ["4", "2"]
    assert reader.model_names() == ["ui-model"]


def test_unreachable_registry_fails_fast_without_credentials(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AIRFLOW_CONN_UI_DOWN", f"mlflow://user:{SECRET}@127.0.0.1:{free_port()}")
    reader = RegistryReader(MLflowHook("ui_down"), timeout=2)
    with pytest.raises(RegistryUnavailableError) as caught:
        reader.search_versions("", 10, None, ORDER_BY)
    assert "127.0.0.1" in str(caught.value)
    assert SECRET not in str(caught.value)


class FakeAuth:
    def __init__(self, token: str | None = "t", read: bool = True, trigger: bool = True) -> None:
        self.token, self.read, self.trigger = token, read, trigger

    async def user(self, request: Request, credentials: HTTPAuthorizationCredentials | None) -> Any:
        from fastapi import HTTPException

        if credentials is None or credentials.credentials != self.token:
            raise HTTPException(401, "Not authenticated")
        return "someone"

    def may(self, user: Any, method: str, dag_id: str, *, run: bool = False) -> bool:
        return self.read if method == "GET" else self.trigger


class FakeReader:
    def __init__(self, error: Exception | None = None) -> None:
        self.error = error
        self.calls: list[tuple[Any, ...]] = []
        self.hook = self

    def model_version_url(self, name: str, version: str) -> str:
        return f"http://mlflow/{name}/{version}"

    def search_versions(self, *args: Any) -> VersionPage:
        self.calls.append(args)
        if self.error:
            raise self.error
        return VersionPage([RegistryVersion("m", "1", tags=validated_tags())], "next")

    def model_names(self) -> list[str]:
        if self.error:
            raise self.error
        return ["m"]


def client_for(auth: FakeAuth, reader: FakeReader, deployed: tuple[str, ...] | None = None) -> TestClient:
    """The page's app; ``deployed``: the DAGs Airflow knows (all of them when None)."""
    app = create_app(
        authorizer=auth,
        settings_loader=ui.UiSettings,
        reader_factory=lambda settings: reader,  # type: ignore[arg-type,return-value]
        dag_state_fn=lambda dag_id: {
            "dag_id": dag_id,
            "exists": deployed is None or dag_id in deployed,
            "is_paused": False if deployed is None or dag_id in deployed else None,
        },
        login_url_fn=lambda next_path: f"/auth/login?next={next_path}",
    )
    return TestClient(app, follow_redirects=False)


def test_without_a_token_the_page_sends_to_login_and_the_data_is_refused() -> None:
    with client_for(FakeAuth(), FakeReader()) as client:
        page = client.get("/")
        assert (page.status_code, page.headers["location"]) == (303, "/auth/login?next=/hokusai/ui/")
        for path in ("/api/versions", "/api/models", "/api/actions"):
            assert client.get(path).status_code == 401
        assert client.get("/static/hokusai.js").status_code == 200  # code, no data


def test_with_a_token_the_data_and_the_permissions() -> None:
    reader = FakeReader()
    headers = {"Authorization": "Bearer t"}
    with client_for(FakeAuth(trigger=False), reader) as client:
        assert "Reconcile now" in client.get("/", headers=headers).text
        # The token as MLflow makes them (base64 of {"offset": 10}): the app reads it before passing it on.
        token = "eyJvZmZzZXQiOiAxMH0="
        body = client.get(
            f"/api/versions?status=failed&model=m&page_size=10&page_token={token}", headers=headers
        ).json()
        assert body["next_page_token"] == "next"
        assert body["versions"][0]["mlflow_url"] == "http://mlflow/m/1"
        assert reader.calls == [(f"tags.`{t.ANNOUNCEMENT_STATUS}` = 'failed' AND name = 'm'", 10, token, ORDER_BY)]
        actions = client.get("/api/actions", headers=headers).json()
        assert actions["reconcile"] == {
            "dag_id": "hokusai_reconcile_announcements",
            "exists": True,
            "is_paused": False,
            "can_trigger": False,
            "note": None,
        }
        assert client.get("/api/versions?status=nope", headers=headers).status_code == 400
    with client_for(FakeAuth(read=False), reader) as client:
        assert client.get("/api/versions", headers=headers).status_code == 403


def test_an_action_whose_dag_is_not_deployed_says_how_to_deploy_it() -> None:
    with client_for(FakeAuth(), FakeReader(), deployed=("hokusai_reconcile_announcements",)) as client:
        actions = client.get("/api/actions", headers={"Authorization": "Bearer t"}).json()
    assert (actions["reconcile"]["exists"], actions["reconcile"]["note"]) == (True, None)
    assert actions["retry"]["exists"] is False
    assert actions["retry"]["note"] == (
        "DAG hokusai_announce_only is not deployed: add the one-line DAG file, see docs/installation.md"
    )
    # The page shows that note as it is (static/hokusai.js), and docs/installation.md has the line.
    assert "r.note" in static_file("hokusai.js").decode() and "retry.note" in static_file("hokusai.js").decode()


def test_mlflow_unreachable_is_a_plain_503() -> None:
    error = RegistryUnavailableError("could not read the MLflow registry at http://127.0.0.1:1 (ConnectionError)")
    with client_for(FakeAuth(), FakeReader(error)) as client:
        answer = client.get("/api/versions", headers={"Authorization": "Bearer t"})
        assert answer.status_code == 503
        assert answer.json()["kind"] == "mlflow_unavailable"
        assert "MLflow could not be read" in answer.json()["error"]


def test_plugin_mounts_the_page_before_hokusai_and_lists_it_in_the_nav() -> None:
    prefixes = [entry["url_prefix"] for entry in HokusaiPlugin.fastapi_apps]
    assert prefixes.index("/hokusai/ui") < prefixes.index("/hokusai")
    assert HokusaiPlugin.external_views == [ui.EXTERNAL_VIEW]
    assert ui.EXTERNAL_VIEW["href"] == "/hokusai/ui/" and ui.EXTERNAL_VIEW["destination"] == "nav"
    for name in ("index.html", "hokusai.js", "hokusai.css", "hokusai.svg"):
        assert static_file(name)


def test_register_records_the_task_instance_when_it_has_one() -> None:
    from types import SimpleNamespace

    from airflow_provider_hokusai.registry.registration import provenance_tags

    ti = SimpleNamespace(dag_id="release", run_id="manual__1", task_id="register")
    assert provenance_tags({"ti": ti}) == {  # type: ignore[arg-type]
        t.AIRFLOW_DAG_ID: "release",
        t.AIRFLOW_RUN_ID: "manual__1",
        t.AIRFLOW_TASK_ID: "register",
    }
    assert provenance_tags({"ti": SimpleNamespace()}) == {}  # type: ignore[arg-type]
