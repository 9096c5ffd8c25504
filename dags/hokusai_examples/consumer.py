"""Consumer-side helpers: turn received queue messages into deployments, as Hokusai's token deployer would.

Used by the ``hokusai_token_deployment`` example DAG (imported inside its tasks, so parsing the DAG stays cheap);
kept in a module of its own so that its logic is importable and tested (``tests/unit/test_consumer.py``). It lives
with the example DAGs, not in the provider: a deployer writes its own.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from airflow_provider_hokusai.exceptions import InvalidModelReadyMessage
from airflow_provider_hokusai.messages import ModelReadyToDeployMessage
from airflow_provider_hokusai.signing import SigningKey, verify_model_ready


@dataclass
class DeploymentPlan:
    """What to deploy from one batch, and what was skipped or rejected and why."""

    deploy: list[ModelReadyToDeployMessage] = field(default_factory=list)
    duplicates: list[dict[str, str]] = field(default_factory=list)
    rejected: list[dict[str, str]] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            "deploy": [m.to_dict() for m in self.deploy],
            "duplicates": self.duplicates,
            "rejected": self.rejected,
        }


def bodies_from_asset_events(events: Iterable[Any]) -> list[str]:
    """
    Message bodies carried by asset events raised by ``MessageQueueTrigger`` (SQS).

    The SQS trigger's payload is ``{"message_batch": [{"Body": ..., ...}, ...]}``; a Redis event carries one
    ``{"data": ...}``; plain strings are taken as they are.
    """
    bodies: list[str] = []
    for event in events:
        extra = getattr(event, "extra", event)
        payload = extra.get("payload", extra) if isinstance(extra, Mapping) else extra
        if isinstance(payload, Mapping) and "message_batch" in payload:
            # Odd entries become bodies too, so that each is rejected on its own instead of failing the batch.
            bodies.extend(
                _text(m.get("Body", "") if isinstance(m, Mapping) else m) for m in payload["message_batch"] or ()
            )
        elif isinstance(payload, Mapping) and "data" in payload:
            bodies.append(_text(payload["data"]))
        elif isinstance(payload, str | bytes):
            bodies.append(_text(payload))
    return bodies


def _text(value: Any) -> str:
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)


def version_key(version: str) -> tuple[int, int, str]:
    """
    A total order on every version string the contract accepts, that never raises.

    Versions of ASCII digits compare as numbers ("10" > "9"; "01" equals "1"), above every other string; other
    strings ("1.0", "v2", other scripts' digits such as "\u0661" or "\u00b2", which ``str.isdigit`` accepts and
    ``int`` may not) compare by their text. MLflow's own versions are ASCII digits.
    """
    if version.isascii() and version.isdigit():
        return (1, int(version), "")
    return (0, 0, version)


def read_message(
    body: str, keys: Sequence[SigningKey] = (), *, require_signature: bool = True
) -> ModelReadyToDeployMessage:
    """
    One received body as a validated message; its signature verified first when keys are configured.

    :raises InvalidModelReadyMessage: invalid, or (a subclass) unsigned, signed with an unknown key, or forged.
    """
    if keys:
        return verify_model_ready(body, keys, require_signature=require_signature)
    return ModelReadyToDeployMessage.from_json(body)


def plan_deployments(
    bodies: Iterable[str],
    deployed: Mapping[str, str] | None = None,
    *,
    keys: Sequence[SigningKey] = (),
    require_signature: bool = True,
) -> DeploymentPlan:
    """
    Validate each body against the contract and keep, per ``model_id``, only the newest version not yet deployed.

    :param bodies: Raw JSON message bodies.
    :param deployed: ``model_id`` → version already deployed (from an earlier run); older or equal versions are
        duplicates.
    :param keys: Verification keys (``signing_keys.queue_verification_keys``); when given, every body's signature
        is checked and a forged, unsigned (if ``require_signature``) or unknown-key body is rejected on its own,
        the rest of the batch going on.
    :param require_signature: Reject unsigned bodies when ``keys`` are given.
    """
    plan = DeploymentPlan()
    newest: dict[str, ModelReadyToDeployMessage] = {}
    for body in bodies:
        try:
            message = read_message(body, keys, require_signature=require_signature)
        except Exception as exc:
            # Any body that cannot be read is rejected on its own (dead-letter it); the rest of the batch goes on.
            reason = (
                str(exc) if isinstance(exc, InvalidModelReadyMessage) else f"unreadable body ({type(exc).__name__})"
            )
            plan.rejected.append({"reason": reason, "error": type(exc).__name__, "body": _text(body)[:200]})
            continue
        current = newest.get(message.model_id)
        already = (deployed or {}).get(message.model_id)
        if already is not None and version_key(message.model_version) <= version_key(already):
            plan.duplicates.append({"model_id": message.model_id, "model_version": message.model_version})
        elif current is None or version_key(message.model_version) > version_key(current.model_version):
            if current is not None:
                plan.duplicates.append({"model_id": current.model_id, "model_version": current.model_version})
            newest[message.model_id] = message
        else:
            plan.duplicates.append({"model_id": message.model_id, "model_version": message.model_version})
    plan.deploy = sorted(newest.values(), key=lambda m: m.model_id)
    return plan


def load_deployed(raw: str | None) -> dict[str, str]:
    """Parse the deployed-versions record (JSON object ``model_id`` → version); empty when unset."""
    if not raw:
        return {}
    data = json.loads(raw)
    return {str(k): str(v) for k, v in data.items()} if isinstance(data, dict) else {}


def apply_deployments(
    plan: Mapping[str, Any], deployed: Mapping[str, str]
) -> tuple[list[dict[str, str]], dict[str, str]]:
    """
    What a deployment step does with a plan (``DeploymentPlan.to_dict()``): deploy each planned version that is
    still newer than the deployed one.

    The plan was made on the record as it was when the run started; another run may have deployed a newer version
    since. So ``deployed`` must be read again right before this step, and a planned version not newer than it is
    skipped: a stale run never deploys, nor records, an older version.

    :param plan: The plan, as it travels through XCom.
    :param deployed: ``model_id`` → version deployed now (read again at deploy time).
    :return: The versions deployed now, and the updated ``model_id`` → version record to store (with
        :func:`merge_deployed` on a fresh read).
    """
    record = dict(deployed)
    done = []
    for message in plan["deploy"]:
        model_id, version = message["model_id"], message["model_version"]
        if model_id in record and version_key(version) <= version_key(record[model_id]):
            continue
        record[model_id] = version
        done.append({"model_id": model_id, "model_version": version})
    return done, record


def merge_deployed(stored: Mapping[str, str], update: Mapping[str, str]) -> dict[str, str]:
    """
    The record to write: per ``model_id``, the newer of the stored and the updated version.

    Airflow Variables have no compare-and-set; merging with what is stored, read right before the write, is what
    keeps a writer that read earlier from moving a model backwards. Together with ``max_active_runs=1`` (no two
    runs of the DAG write at once) the record only moves forward.
    """
    merged = dict(stored)
    for model_id, version in update.items():
        if model_id not in merged or version_key(version) > version_key(merged[model_id]):
            merged[model_id] = version
    return merged
