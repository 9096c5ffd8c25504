"""
The provider plugin's apps in a process of their own, logging as Airflow's API server does (for the log-leak tests).

``python -m tests.integration.plugin_app_server <port>``: imports Airflow (which configures logging from ``[logging]``,
``logging_level`` included, exactly as ``airflow api-server`` starts), mounts ``HokusaiPlugin.fastapi_apps`` the way
``airflow.api_fastapi.app.init_plugins`` does, and serves them with uvicorn as ``airflow api-server`` runs it
(``log_config=None``, no access log). Everything logged lands on the process's stdout/stderr for the test to read.
"""

from __future__ import annotations

import sys


def main(port: int) -> None:
    import airflow  # noqa: F401  (its import configures logging, as in the API server)
    import uvicorn
    from airflow.configuration import conf
    from fastapi import FastAPI

    from airflow_provider_hokusai.plugins.plugin import HokusaiPlugin

    root = FastAPI()
    for mount in HokusaiPlugin.fastapi_apps:
        root.mount(mount["url_prefix"], mount["app"])
    level = conf.get("logging", "uvicorn_logging_level", fallback="info").lower()
    uvicorn.run(root, host="127.0.0.1", port=port, log_level=level, access_log=False, log_config=None)


if __name__ == "__main__":
    main(int(sys.argv[1]))
