"""
Helpers of the example DAGs, importable because Airflow puts the DAGs folder on ``sys.path``.

Not part of the provider: nothing in ``airflow_provider_hokusai`` imports this package, and ``dags/.airflowignore``
keeps the DAG processor from parsing it for DAGs.

* :mod:`hokusai_examples.consumer` — what the ``hokusai_token_deployment`` DAG does with received messages.
"""

from __future__ import annotations
