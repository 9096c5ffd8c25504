"""Names of the MLflow model-version tags the provider reads and writes.

The registry is the source of truth for the announcement: RegisterModelOperator writes the validation evidence,
PublishModelReadyOperator reads it back and records its receipt (or failure) next to it. The first three names
are the existing Hokusai platform's and must not change.
"""

from __future__ import annotations

__all__ = [
    "AIRFLOW_DAG_ID",
    "AIRFLOW_RUN_ID",
    "AIRFLOW_TASK_ID",
    "ANNOUNCED_AT",
    "ANNOUNCEMENT_BACKEND",
    "ANNOUNCEMENT_BROKER_ID",
    "ANNOUNCEMENT_ERROR",
    "ANNOUNCEMENT_FAILED",
    "ANNOUNCEMENT_MESSAGE_ID",
    "ANNOUNCEMENT_PENDING",
    "ANNOUNCEMENT_PUBLISHED",
    "ANNOUNCEMENT_QUEUE",
    "ANNOUNCEMENT_RECEIPT",
    "ANNOUNCEMENT_STATUS",
    "BENCHMARK_METRIC",
    "BENCHMARK_VALUE",
    "CONTRIBUTOR_ADDRESS",
    "CURRENT_VALUE",
    "DIRECTION",
    "EXPERIMENT_NAME",
    "IMPROVEMENT_PERCENTAGE",
    "MAX_REASON_CHARS",
    "MODEL_ID",
    "RUN_ID",
    "STATUS",
    "STATUS_FAILED",
    "STATUS_VALIDATED",
    "TOKEN_ID",
    "UNANNOUNCED_STATUSES",
    "VALIDATION_ERROR",
]

# Backward-compatible names from the existing platform.
TOKEN_ID = "hokusai_token_id"
BENCHMARK_METRIC = "benchmark_metric"
BENCHMARK_VALUE = "benchmark_value"

# Validation evidence written at registration.
STATUS = "hokusai_status"
STATUS_VALIDATED = "validated"
#: Written by the registry-event path (airflow_provider_hokusai.announcement.candidates) on a version that misses its
#: baseline, with the reason in VALIDATION_ERROR; nothing is published for it.
STATUS_FAILED = "failed"
VALIDATION_ERROR = "hokusai_validation_error"
CURRENT_VALUE = "hokusai_current_value"
DIRECTION = "hokusai_direction"
IMPROVEMENT_PERCENTAGE = "hokusai_improvement_percentage"
RUN_ID = "hokusai_run_id"
MODEL_ID = "hokusai_model_id"
EXPERIMENT_NAME = "hokusai_experiment_name"
CONTRIBUTOR_ADDRESS = "hokusai_contributor_address"

# Announcement bookkeeping written by PublishModelReadyOperator / reconciliation. The status is also the pending
# index reconciliation searches: "pending" from registration until the receipt ("published") or a failure ("failed").
# A version is announced when its receipt is complete (message id and announced_at), whatever the status reads: a
# failure never overwrites a receipt, so once published a version stays published.
ANNOUNCEMENT_STATUS = "hokusai_announcement_status"
ANNOUNCEMENT_PENDING = "pending"
ANNOUNCEMENT_PUBLISHED = "published"
ANNOUNCEMENT_FAILED = "failed"
#: Status values reconciliation looks for (the pending index).
UNANNOUNCED_STATUSES = (ANNOUNCEMENT_PENDING, ANNOUNCEMENT_FAILED)
#: The receipt, one JSON object (message_id, backend, queue, broker_message_id, published_at), written before the
#: status. Earlier builds of the provider wrote a receipt as the five separate tags below; those still read.
ANNOUNCEMENT_RECEIPT = "hokusai_announcement_receipt"
ANNOUNCEMENT_MESSAGE_ID = "hokusai_announcement_message_id"
ANNOUNCEMENT_BACKEND = "hokusai_announcement_backend"
ANNOUNCEMENT_QUEUE = "hokusai_announcement_queue"
ANNOUNCEMENT_BROKER_ID = "hokusai_announcement_broker_id"
ANNOUNCED_AT = "hokusai_announced_at"
#: Longest reason the provider writes into ANNOUNCEMENT_ERROR or VALIDATION_ERROR.
MAX_REASON_CHARS = 1000
ANNOUNCEMENT_ERROR = "hokusai_announcement_error"

# Provenance written by RegisterModelOperator when it runs as an Airflow task: the Hokusai page in the Airflow UI
# links a version to the task instance that registered it.
AIRFLOW_DAG_ID = "hokusai_airflow_dag_id"
AIRFLOW_RUN_ID = "hokusai_airflow_run_id"
AIRFLOW_TASK_ID = "hokusai_airflow_task_id"
