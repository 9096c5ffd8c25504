"""Operator extra links to MLflow."""

from __future__ import annotations

from typing import TYPE_CHECKING

from airflow.sdk import BaseOperatorLink

if TYPE_CHECKING:
    from airflow.sdk import BaseOperator
    from airflow.sdk.types import TaskInstanceKey

__all__ = ["MODEL_VERSION_URL_XCOM_KEY", "MLflowModelVersionLink"]

#: XCom key under which operators push the MLflow UI URL of the model version they worked on.
MODEL_VERSION_URL_XCOM_KEY = "model_version_url"


class MLflowModelVersionLink(BaseOperatorLink):
    """
    "MLflow model version": opens the model version in the MLflow UI.

    Generic: any operator that pushes the URL to XCom under :data:`MODEL_VERSION_URL_XCOM_KEY` (None or absent
    when the tracking store has no UI) gets a working link by listing this class in ``operator_extra_links``.
    """

    name = "MLflow model version"
    key = MODEL_VERSION_URL_XCOM_KEY

    def get_link(self, operator: BaseOperator, *, ti_key: TaskInstanceKey) -> str:
        from airflow.sdk.execution_time.xcom import XCom

        url = XCom.get_value(key=self.key, ti_key=ti_key)
        return str(url) if url else ""
