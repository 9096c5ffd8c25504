from airflow_provider_hokusai.dags import *  # noqa: F403 -- the Hokusai provider's DAGs (docs/installation.md)
