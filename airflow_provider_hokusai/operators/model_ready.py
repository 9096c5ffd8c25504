"""Operators that announce validated model versions as ``model_ready_to_deploy`` messages."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from airflow.sdk import BaseOperator

from airflow_provider_hokusai.exceptions import ReconciliationIncompleteError
from airflow_provider_hokusai.links import MODEL_VERSION_URL_XCOM_KEY, MLflowModelVersionLink
from airflow_provider_hokusai.operators.mlflow import MLflowHookMixin
from airflow_provider_hokusai.registry.connection import DEFAULT_CONN_ID

if TYPE_CHECKING:
    from airflow.sdk import Context

    from airflow_provider_hokusai.announcement.announcer import ModelReadyAnnouncer
    from airflow_provider_hokusai.queue.retry import RetryPolicy

__all__ = ["PublishModelReadyOperator", "ReconcileAnnouncementsOperator"]


class _AnnouncingOperator(MLflowHookMixin, BaseOperator):
    """What both announcing operators share: the two hooks and the announcer built from them."""

    def __init__(
        self,
        *,
        queue_conn_id: str,
        queue_name: str | None = None,
        mlflow_conn_id: str = DEFAULT_CONN_ID,
        dedup_ttl_seconds: int | None = None,
        publish_retry: RetryPolicy | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.queue_conn_id = queue_conn_id
        self.queue_name = queue_name
        self.mlflow_conn_id = mlflow_conn_id
        self.dedup_ttl_seconds = dedup_ttl_seconds
        self.publish_retry = publish_retry

    def _announcer(self) -> ModelReadyAnnouncer:
        # Imported here: a DAG file that imports the operators parses without the announcement path's modules.
        from airflow_provider_hokusai.announcement.announcer import ModelReadyAnnouncer
        from airflow_provider_hokusai.hooks.queue import get_queue_hook

        queue_hook = get_queue_hook(
            self.queue_conn_id,
            queue_name=self.queue_name,
            retry=self.publish_retry,
            dedup_ttl_seconds=self.dedup_ttl_seconds,
        )
        return ModelReadyAnnouncer(self.hook, queue_hook)


class PublishModelReadyOperator(_AnnouncingOperator):
    """
    Announce one registered, validated model version to Hokusai's token deployer, exactly once.

    The registry is the source of truth: the operator reads the version's Hokusai tags (written by
    :class:`~airflow_provider_hokusai.operators.mlflow.RegisterModelOperator`), rebuilds and validates the
    ``model_ready_to_deploy`` message, publishes it through the queue hook that matches the connection's type
    (``redis`` or ``aws``), and records the receipt on the version. A version that already has a receipt is not
    published again; a retry after a crash between publish and receipt is absorbed by the hook's deduplication.

    :param model_name: Registered model name. (templated)
    :param model_version: Registered model version. (templated)
    :param queue_conn_id: A ``redis`` or ``aws`` connection; the backend follows its type. (templated)
    :param queue_name: Redis list or SQS queue name/URL; defaults to the connection's or the backend's. (templated)
    :param model_id: Stable model identity in the message; defaults to the version's tag, then the model name.
        (templated)
    :param contributor_address: Contributor wallet address (``0x`` + 40 hex). (templated)
    :param extra_tags: Extra string metadata for the message's ``tags``. (templated)
    :param mlflow_conn_id: MLflow connection. (templated)
    :param dedup_ttl_seconds: How long the broker-side dedup marker lives (Redis); default from the connection.
    :param publish_retry: Bounded in-task retry of the publish itself; Airflow's task retries come on top.
    :return: The announcement (XCom): ``outcome`` (``published`` or ``already_published``), the ``receipt``
        (message id, backend, queue, broker id, duplicate, attempts, duration, time) and the version.
    """

    template_fields: Sequence[str] = (
        "model_name",
        "model_version",
        "queue_conn_id",
        "queue_name",
        "model_id",
        "contributor_address",
        "extra_tags",
        "mlflow_conn_id",
    )
    ui_color = "#d8f3dc"
    operator_extra_links = (MLflowModelVersionLink(),)

    def __init__(
        self,
        *,
        model_name: str,
        model_version: str | int,
        model_id: str | None = None,
        contributor_address: str | None = None,
        extra_tags: Mapping[str, str] | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.model_name = model_name
        self.model_version = model_version
        self.model_id = model_id
        self.contributor_address = contributor_address
        self.extra_tags = extra_tags

    def execute(self, context: Context) -> dict[str, Any]:
        from airflow_provider_hokusai.announcement.announcer import VersionRef

        ref = VersionRef(
            model_name=str(self.model_name),
            model_version=str(self.model_version),
            model_id=self.model_id or None,
            contributor_address=self.contributor_address or None,
            extra_tags={str(k): str(v) for k, v in (self.extra_tags or {}).items()},
        )
        announcer = self._announcer()
        result = announcer.announce(ref)
        url = announcer.mlflow_hook.model_version_url(ref.model_name, ref.model_version)
        context["ti"].xcom_push(key=MODEL_VERSION_URL_XCOM_KEY, value=url)
        return result.to_dict()


class ReconcileAnnouncementsOperator(_AnnouncingOperator):
    """
    Heal missed announcements: find validated versions without a receipt and announce each through the same path.

    Safe to run at any time, any number of times: versions with a receipt are skipped and the queue hooks
    deduplicate on the deterministic message id.

    :param queue_conn_id: A ``redis`` or ``aws`` connection. (templated)
    :param queue_name: Redis list or SQS queue name/URL. (templated)
    :param registered_model_name: Only this registered model; all models when None. (templated)
    :param max_versions: Upper bound of versions handled in one run. (templated)
    :param fail_on_error: Fail the task when any version could not be announced (after announcing the others).
    :param mlflow_conn_id: MLflow connection. (templated)
    :param dedup_ttl_seconds: How long the broker-side dedup marker lives (Redis); default from the connection.
    :param publish_retry: Bounded in-task retry of each publish; Airflow's task retries come on top.
    :return: Summary (XCom): versions ``found`` owed an announcement (pending or failed, no receipt),
        ``published``, ``failed`` (with reasons), ``truncated`` (the ``max_versions`` bound left some for next run),
        ``settled`` (versions found with a receipt under a stale pending or failed status, now marked published).
    """

    template_fields: Sequence[str] = (
        "queue_conn_id",
        "queue_name",
        "registered_model_name",
        "max_versions",
        "mlflow_conn_id",
    )
    ui_color = "#b7e4c7"

    def __init__(
        self,
        *,
        registered_model_name: str | None = None,
        max_versions: int | str = 1000,
        fail_on_error: bool = True,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.registered_model_name = registered_model_name
        self.max_versions = max_versions
        self.fail_on_error = fail_on_error

    def execute(self, context: Context) -> dict[str, Any]:
        from airflow_provider_hokusai.announcement.reconcile import reconcile

        summary = reconcile(self._announcer(), self.registered_model_name or None, max_versions=int(self.max_versions))
        self.log.info(
            "Reconciliation: %s unannounced, %s published, %s failed%s",
            summary["found"],
            summary["published"],
            len(summary["failed"]),
            " (stopped at max_versions; the next run continues)" if summary["truncated"] else "",
        )
        if self.fail_on_error and summary["failed"]:
            raise ReconciliationIncompleteError(
                f"{len(summary['failed'])} version(s) could not be announced: "
                + "; ".join(f"{f['model_name']} v{f['model_version']}: {f['error']}" for f in summary["failed"])
            )
        return summary
