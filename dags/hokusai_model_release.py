"""
Hokusai model release: train → validate against the baseline → register in MLflow → announce to the deployer.

Everything is configured through the run's params and Airflow connections:

* ``mlflow_default`` (connection type ``mlflow``): the tracking server, or an embedded sqlite store;
* ``hokusai_queue`` (type ``redis`` or ``aws``): where ``model_ready_to_deploy`` is published.

Each task retries with exponential backoff and has an execution timeout; a failing task calls the Hokusai
failure notifier, and a Deadline Alert fires when a run is not done within two hours of being queued.

``validate`` is deferrable: a run trained by ``train`` has finished, so it is decided at once; to see it wait in the
triggerer (task state ``deferred``), trigger with ``candidate_run_id`` = a run that is still RUNNING (a model logged
as ``model``, the metric logged), then end the run: the triggerer notices within ``poke_interval`` (5 s).
Heavy libraries (scikit-learn, mlflow) are imported inside the tasks, so this file parses fast.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pendulum
from airflow.sdk import DAG, Param, task
from airflow.sdk.definitions.deadline import AsyncCallback, DeadlineAlert, DeadlineReference  # Airflow 3.1-3.3

from airflow_provider_hokusai.notifications import HokusaiFailureNotifier, hokusai_deadline_missed
from airflow_provider_hokusai.operators.mlflow import RegisterModelOperator
from airflow_provider_hokusai.operators.model_ready import PublishModelReadyOperator
from airflow_provider_hokusai.sensors.mlflow import MLflowBaselineSensor

DAG_ID = "hokusai_model_release"
MLFLOW_CONN_ID = "mlflow_default"
QUEUE_CONN_ID = "hokusai_queue"

default_args: dict[str, Any] = {
    "owner": "hokusai-ml",
    "retries": 3,
    "retry_delay": timedelta(seconds=10),
    "retry_exponential_backoff": True,
    "max_retry_delay": timedelta(minutes=5),
    "execution_timeout": timedelta(minutes=10),
    "on_failure_callback": HokusaiFailureNotifier(),
}

with DAG(
    dag_id=DAG_ID,
    description="Train, validate against the baseline, register in MLflow and announce model_ready_to_deploy.",
    schedule=None,
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
    max_active_runs=1,
    default_args=default_args,
    render_template_as_native_obj=True,
    tags=["hokusai", "mlops"],
    deadline=DeadlineAlert(
        reference=DeadlineReference.DAGRUN_QUEUED_AT,
        interval=timedelta(hours=2),
        callback=AsyncCallback(
            hokusai_deadline_missed,
            kwargs={"dag_id": DAG_ID, "deadline_description": "within 2 hours of being queued"},
        ),
    ),
    params={
        "queue_name": Param(None, type=["null", "string"], description="Queue/list name; connection default."),
        "experiment_name": Param("hokusai-breast-cancer", type="string"),
        "registered_model_name": Param("hokusai-breast-cancer-classifier", type="string"),
        "token_symbol": Param("HKBC", type="string", pattern=r"^[A-Za-z0-9-]{1,10}$"),
        "metric_name": Param("accuracy", type="string", description="Benchmark metric logged by training."),
        "baseline_value": Param(0.9, type="number", exclusiveMinimum=0, description="Value the model must beat."),
        "min_improvement": Param(0.0, type="number", minimum=0, description="Required gain, percent of baseline."),
        "regularization_c": Param(1.0, type="number", exclusiveMinimum=0, description="Inverse L2 strength."),
        "contributor_address": Param(None, type=["null", "string"], description="0x + 40 hex, optional."),
        "candidate_run_id": Param(
            None,
            type=["null", "string"],
            description="Skip training and release this already logged MLflow run (re-validate, re-announce). "
            "A run still RUNNING (training elsewhere) makes validate defer to the triggerer until it ends.",
        ),
    },
    doc_md=__doc__,
) as dag:

    @task(execution_timeout=timedelta(minutes=15))
    def train(params: dict[str, Any] | None = None) -> str:
        """Train a logistic regression on scikit-learn's bundled breast-cancer data; log it to MLflow."""
        assert params is not None
        if params.get("candidate_run_id"):
            # Releasing an existing run again goes through the same validation, registration (idempotent: the same
            # version) and announcement (idempotent: the existing receipt) as a fresh one.
            return str(params["candidate_run_id"])

        import tempfile
        import warnings

        import mlflow.sklearn
        from sklearn.datasets import load_breast_cancer
        from sklearn.linear_model import LogisticRegression
        from sklearn.metrics import accuracy_score, f1_score, log_loss, roc_auc_score
        from sklearn.model_selection import train_test_split
        from sklearn.pipeline import make_pipeline
        from sklearn.preprocessing import StandardScaler

        from airflow_provider_hokusai.hooks.mlflow import MLflowHook

        x, y = load_breast_cancer(return_X_y=True)
        x_train, x_test, y_train, y_test = train_test_split(x, y, test_size=0.25, random_state=42, stratify=y)
        model = make_pipeline(StandardScaler(), LogisticRegression(C=float(params["regularization_c"]), max_iter=500))
        model.fit(x_train, y_train)
        proba = model.predict_proba(x_test)[:, 1]
        predicted = model.predict(x_test)
        metrics = {
            "accuracy": float(accuracy_score(y_test, predicted)),
            "f1": float(f1_score(y_test, predicted)),
            "auroc": float(roc_auc_score(y_test, proba)),
            "log_loss": float(log_loss(y_test, proba)),
        }
        # Everything goes through the hook's stores, which carry the connection's credentials; MLflow's fluent API
        # (mlflow.start_run, mlflow.log_metric, mlflow.sklearn.log_model) would run without them.
        hook = MLflowHook(mlflow_conn_id=MLFLOW_CONN_ID)
        run = hook.create_run(hook.get_or_create_experiment(params["experiment_name"]), run_name="breast-cancer-logreg")
        run_id = run.info.run_id
        try:
            hook.log_batch(
                run_id, metrics=metrics, params={"model": "logistic_regression", "C": params["regularization_c"]}
            )
            with tempfile.TemporaryDirectory() as tmp, warnings.catch_warnings():
                # MLflow's skops serializer looks functions up by getattr on every loaded module, which trips each
                # of Airflow's deprecated-import shims: a thousand FutureWarnings in the task log, none about us.
                warnings.simplefilter("ignore", FutureWarning)
                mlflow.sklearn.save_model(model, f"{tmp}/model", input_example=x_test[:2])
                hook.log_model(run_id, f"{tmp}/model", name="model")
        except BaseException:
            hook.set_terminated(run_id, "FAILED")
            raise
        hook.set_terminated(run_id)
        return str(run_id)

    run_id = train()

    validate = MLflowBaselineSensor(
        task_id="validate",
        run_id=run_id,
        metric_name="{{ params.metric_name }}",
        baseline_value="{{ params.baseline_value }}",
        min_improvement="{{ params.min_improvement }}",
        mlflow_conn_id=MLFLOW_CONN_ID,
        poke_interval=5,
        timeout=timedelta(minutes=30).total_seconds(),
        # Waits in the triggerer while the candidate run is still RUNNING (a freshly trained run has finished, so
        # it is decided at once; see candidate_run_id to watch it defer).
        deferrable=True,
    )

    register = RegisterModelOperator(
        task_id="register",
        model_uri="runs:/{{ ti.xcom_pull(task_ids='train') }}/model",
        registered_model_name="{{ params.registered_model_name }}",
        token_symbol="{{ params.token_symbol }}",
        evidence=validate.output,
        contributor_address="{{ params.contributor_address }}",
        alias="candidate",
        mlflow_conn_id=MLFLOW_CONN_ID,
    )

    announce = PublishModelReadyOperator(
        task_id="announce",
        model_name="{{ ti.xcom_pull(task_ids='register')['model_name'] }}",
        model_version="{{ ti.xcom_pull(task_ids='register')['model_version'] }}",
        queue_conn_id=QUEUE_CONN_ID,
        queue_name="{{ params.queue_name }}",
        mlflow_conn_id=MLFLOW_CONN_ID,
        extra_tags={"pipeline": DAG_ID, "run_id": "{{ run_id }}"},
    )

    validate >> register >> announce
