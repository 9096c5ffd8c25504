# The official MLflow server image plus the PostgreSQL driver its backend store needs.
FROM ghcr.io/mlflow/mlflow:v3.17.2

RUN pip install --no-cache-dir psycopg2-binary==2.9.10
