"""The model registry's webhook calls (``hokusai-webhook setup``), on MLflow's public registry store: I/O only."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from mlflow.entities.webhook import Webhook, WebhookTestResult
    from mlflow.store.entities import PagedList

    from airflow_provider_hokusai.registry.stores import MLflowStores

__all__ = ["MLflowWebhookCalls"]


def _events(events: Sequence[Any]) -> list[Any]:
    """MLflow's ``WebhookEvent`` of each event given as text (``"model_version.created"``) or as one already."""
    from mlflow.entities.webhook import WebhookEvent

    return [WebhookEvent.from_str(e) if isinstance(e, str) else e for e in events]  # type: ignore[arg-type]


def _status(status: Any) -> Any:
    """MLflow's ``WebhookStatus`` of ``status`` given as text (``"ACTIVE"``), else ``status`` as it is."""
    from mlflow.entities.webhook import WebhookStatus

    return WebhookStatus(status) if isinstance(status, str) else status


class MLflowWebhookCalls:
    """The webhook calls of :class:`~airflow_provider_hokusai.hooks.mlflow_stores.MLflowStoreHook`, on its stores."""

    if TYPE_CHECKING:

        @property
        def stores(self) -> MLflowStores: ...

    def list_webhooks(self, max_results: int | None = None, page_token: str | None = None) -> PagedList[Webhook]:
        """One page of the registry's webhooks."""
        return self.stores.registry.list_webhooks(max_results, page_token)

    def create_webhook(
        self, name: str, url: str, events: Sequence[Any], secret: str | None = None, status: Any = None
    ) -> Webhook:
        """Create a webhook posting ``events`` (``"model_version.created"``...) to ``url``."""
        return self.stores.registry.create_webhook(
            name=name, url=url, events=_events(events), secret=secret, status=_status(status)
        )

    def update_webhook(
        self,
        webhook_id: str,
        url: str | None = None,
        events: Sequence[Any] | None = None,
        secret: str | None = None,
        status: Any = None,
    ) -> Webhook:
        """Change a webhook's ``url``, ``events``, ``secret`` or ``status``."""
        return self.stores.registry.update_webhook(
            webhook_id=webhook_id,
            url=url,
            events=_events(events) if events is not None else None,
            secret=secret,
            status=_status(status),
        )

    def test_webhook(self, webhook_id: str, event: Any = None) -> WebhookTestResult:
        """Have MLflow send a test delivery of ``event`` (the webhook's first event when None)."""
        return self.stores.registry.test_webhook(webhook_id, _events([event])[0] if event is not None else None)
