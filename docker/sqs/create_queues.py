"""
Create the compose stack's SQS queues (run once by the ``sqs-init`` service; safe to run again).

The model_ready_to_deploy FIFO queue gets a FIFO dead-letter queue that receives a message after
``HOKUSAI_SQS_MAX_RECEIVE_COUNT`` failed receives. Settings come from the environment:

* ``HOKUSAI_SQS_ENDPOINT_URL`` (default ``http://sqs:5000``), ``AWS_DEFAULT_REGION`` (default ``us-east-1``);
* ``HOKUSAI_SQS_QUEUE`` (default ``hokusai-model-ready.fifo``), ``HOKUSAI_SQS_DEAD_LETTER_QUEUE``
  (default ``hokusai-model-ready-dlq.fifo``), ``HOKUSAI_SQS_MAX_RECEIVE_COUNT`` (default 5).
"""

from __future__ import annotations

import json
import os
import sys
import time


def main() -> int:
    import boto3
    from botocore.config import Config
    from botocore.exceptions import BotoCoreError, ClientError

    endpoint = os.environ.get("HOKUSAI_SQS_ENDPOINT_URL", "http://sqs:5000")
    queue = os.environ.get("HOKUSAI_SQS_QUEUE", "hokusai-model-ready.fifo")
    dead_letter = os.environ.get("HOKUSAI_SQS_DEAD_LETTER_QUEUE", "hokusai-model-ready-dlq.fifo")
    max_receive = int(os.environ.get("HOKUSAI_SQS_MAX_RECEIVE_COUNT", "5"))
    sqs = boto3.client(
        "sqs",
        endpoint_url=endpoint,
        region_name=os.environ.get("AWS_DEFAULT_REGION", "us-east-1"),
        config=Config(retries={"mode": "standard", "max_attempts": 10}),
    )

    fifo = {"FifoQueue": "true", "ContentBasedDeduplication": "false"}
    # The service may accept connections a moment before it answers; retry briefly rather than fail the stack.
    for attempt in range(30):
        try:
            dlq_url = sqs.create_queue(QueueName=dead_letter, Attributes=fifo)["QueueUrl"]
            dlq_arn = sqs.get_queue_attributes(QueueUrl=dlq_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
            redrive = json.dumps({"deadLetterTargetArn": dlq_arn, "maxReceiveCount": str(max_receive)})
            url = sqs.create_queue(QueueName=queue, Attributes={**fifo, "RedrivePolicy": redrive})["QueueUrl"]
        except (BotoCoreError, ClientError) as exc:
            print(f"SQS not ready ({type(exc).__name__}), attempt {attempt + 1}/30", file=sys.stderr)
            time.sleep(2)
            continue
        print(f"queue {url} (dead letters: {dlq_url} after {max_receive} receives)")
        return 0
    print("could not create the SQS queues", file=sys.stderr)
    return 1


if __name__ == "__main__":
    sys.exit(main())
