# Airflow 3.3.2 with this provider installed from the repository (build context: the repository root).
FROM apache/airflow:3.3.2-python3.11

# requirements/lock.txt pins the stack the test suite runs against, Airflow 3.3.2 included, so installing under
# it cannot move Airflow or a provider away from the versions the image and the tests agree on.
COPY --chown=airflow:0 requirements/lock.txt /opt/hokusai/requirements/lock.txt
COPY --chown=airflow:0 pyproject.toml README.md CHANGELOG.md LICENSE /opt/hokusai/
COPY --chown=airflow:0 airflow_provider_hokusai /opt/hokusai/airflow_provider_hokusai

# [all]: both queue backends (the Redis and Amazon providers are extras). common-messaging: the example consumer DAG's
# MessageQueueTrigger. scikit-learn: the example release DAG trains with it inside its task.
RUN pip install --no-cache-dir --constraint /opt/hokusai/requirements/lock.txt "/opt/hokusai[all]" \
    apache-airflow-providers-common-messaging scikit-learn \
    && mkdir -p /opt/airflow/simple-auth
