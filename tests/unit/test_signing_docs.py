"""
docs/signing.md stays honest: its test vector is checked by independent implementations, not by the provider alone.

* Python's standard library (``hmac``, ``hashlib``, ``base64``, ``json``) over the documented canonical bytes;
* the page's own Node verifier, run by ``node`` (skipped when Node is not installed), on the vector and on
  messages the provider signs with awkward numbers and text.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from airflow_provider_hokusai.messages import ModelReadyToDeployMessage, build_model_ready_message
from airflow_provider_hokusai.signing import sign_model_ready, signing_key, verify_model_ready

DOCS = Path(__file__).resolve().parents[2] / "docs"
PAGE = (DOCS / "signing.md").read_text()
VECTOR = dict(re.findall(r"<!-- vector:(\w+) -->\n```\w*\n(.*?)\n```", PAGE, re.DOTALL))
NODE = shutil.which("node")


def contract_example() -> str:
    return re.findall(r"```json\n(.*?)\n```", (DOCS / "contract.md").read_text(), re.DOTALL)[0]


def test_the_page_holds_the_whole_vector() -> None:
    assert set(VECTOR) == {"key_id", "secret", "canonical", "signature", "body"}


def test_stdlib_hmac_over_the_documented_bytes_gives_the_documented_signature() -> None:
    mac = hmac.new(VECTOR["secret"].encode(), VECTOR["canonical"].encode(), hashlib.sha256).digest()
    assert "v1," + base64.b64encode(mac).decode() == VECTOR["signature"]


def test_the_documented_canonical_bytes_are_the_body_without_its_signature_sorted_and_compact() -> None:
    # An independent canonicalization with json.dumps; valid here because every number of the vector is written
    # the same by Python's repr and JavaScript (no "2.0", no exponent): the test checks the page, not the rule.
    body = json.loads(VECTOR["body"])
    assert body["tags"].pop("signature") == VECTOR["signature"]
    assert body["tags"]["key_id"] == VECTOR["key_id"]
    expected = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    assert expected == VECTOR["canonical"]


def test_the_provider_signs_the_contract_example_into_the_documented_body() -> None:
    key = signing_key(VECTOR["key_id"], VECTOR["secret"])
    message = ModelReadyToDeployMessage.from_json(contract_example())
    assert sign_model_ready(message, key).to_json() == VECTOR["body"]
    assert verify_model_ready(VECTOR["body"], [key]) == ModelReadyToDeployMessage.from_json(VECTOR["body"])


NODE_HARNESS = """
const input = JSON.parse(require("fs").readFileSync(0, "utf8"));
process.stdout.write(JSON.stringify(input.bodies.map((body) => {
  try { verifyModelReady(body, input.keys); return "ok"; } catch (e) { return e.message; }
})));
"""


def run_node_verifier(bodies: list[str], keys: dict[str, str]) -> list[str]:
    snippet = re.findall(r"```javascript\n(.*?)```", PAGE, re.DOTALL)[0]
    done = subprocess.run(
        [str(NODE), "-e", snippet + NODE_HARNESS],
        input=json.dumps({"bodies": bodies, "keys": keys}),
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    result: list[str] = json.loads(done.stdout)
    return result


def awkward(version: int, **fields: Any) -> ModelReadyToDeployMessage:
    values: dict[str, Any] = {
        "model_name": "modèle-ß-😀",
        "model_version": version,
        "mlflow_run_id": "run\t1",
        "token_symbol": "AWK",
        "metric_name": "accuracy",
        "current_value": 2.0,
        "baseline_value": 1e-7,
        "tags": {"9": "nine", "10": "ten", "quote": '"\\\n\x01\u2028', "\uff01": "x", "\U0001f600": "y"},
        **fields,
    }
    return build_model_ready_message(**values)


@pytest.mark.skipif(NODE is None, reason="node is not installed")
def test_the_documented_node_verifier_accepts_the_vector_and_what_the_provider_signs() -> None:
    key = signing_key(VECTOR["key_id"], VECTOR["secret"])
    signed = [
        sign_model_ready(m, key).to_json()
        for m in (awkward(1), awkward(2, current_value=123456.789, baseline_value=1e-5))
    ]
    forged = VECTOR["body"].replace('"model_version":"3"', '"model_version":"4"')
    other_key = VECTOR["body"].replace(VECTOR["key_id"], "someone-else")
    results = run_node_verifier([VECTOR["body"], *signed, forged, other_key], {VECTOR["key_id"]: VECTOR["secret"]})
    assert results == ["ok", "ok", "ok", "bad signature", "unknown key id"]
