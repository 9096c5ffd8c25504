"""A real moto server (the SQS API) on a free loopback port, and the queues the tests use on it."""

from __future__ import annotations

import json
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any

from hokusai_testkit.ports import LOOPBACK, free_port, stop_process, wait_for_port

REGION = "us-east-1"
ACCESS_KEY = "hokusai-test-access-key"
SECRET_KEY = "hokusai-test-Secret-7f3a"
STANDARD_QUEUE = "hokusai-model-ready"
FIFO_QUEUE = "hokusai-model-ready.fifo"
DEAD_LETTER_QUEUE = "hokusai-model-ready-dlq"
FIFO_DEAD_LETTER_QUEUE = "hokusai-model-ready-dlq.fifo"
MOTO_SERVER = Path(sys.executable).parent / "moto_server"


@dataclass
class MotoServer:
    """
    A ``moto_server`` process on loopback; also a context manager that starts it and stops it.

    :param port: Loopback port to listen on.
    :param process: The running process, once started.
    """

    port: int
    process: subprocess.Popen[bytes] | None = field(default=None, repr=False)

    @property
    def endpoint(self) -> str:
        """The server's URL, the ``endpoint_url`` of its clients."""
        return f"http://{LOOPBACK}:{self.port}"

    def start(self) -> MotoServer:
        """
        Start the server and wait until it accepts connections.

        :raises TimeoutError: It did not listen within 60 s (the process is killed).
        """
        self.process = subprocess.Popen(
            [str(MOTO_SERVER), "-H", LOOPBACK, "-p", str(self.port)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            wait_for_port(self.port, timeout=60)
        except TimeoutError:
            self.process.kill()
            raise
        return self

    def reset(self) -> None:
        """Forget every queue and message (moto slows down as queues grow)."""
        import httpx

        httpx.post(f"{self.endpoint}/moto-api/reset", timeout=10).raise_for_status()

    def client(self) -> Any:
        """A boto3 SQS client of this server (dummy keys)."""
        import boto3

        return boto3.client(
            "sqs",
            endpoint_url=self.endpoint,
            region_name=REGION,
            aws_access_key_id=ACCESS_KEY,
            aws_secret_access_key=SECRET_KEY,
        )

    def conn(self, **extra: Any) -> dict[str, Any]:
        """An Airflow ``aws`` connection pointing at this server (dummy keys in login/password)."""
        return {
            "conn_type": "aws",
            "login": ACCESS_KEY,
            "password": SECRET_KEY,
            "extra": {"endpoint_url": self.endpoint, "region_name": REGION, **extra},
        }

    def conn_json(self, **extra: Any) -> str:
        """:meth:`conn` as the JSON an ``AIRFLOW_CONN_*`` variable takes."""
        return json.dumps(self.conn(**extra))

    def stop(self) -> None:
        """Terminate the server (SIGTERM, then SIGKILL after 10 s)."""
        if self.process is not None:
            stop_process(self.process)

    @property
    def running(self) -> bool:
        """Whether the process was started and has not exited."""
        return self.process is not None and self.process.poll() is None

    def __enter__(self) -> MotoServer:
        """Start the server unless it is already running."""
        return self if self.running else self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, traceback: TracebackType | None
    ) -> None:
        self.stop()


def start_moto(port: int | None = None) -> MotoServer:
    """
    A started moto server.

    :param port: Loopback port; a free one by default.
    """
    return MotoServer(port=port if port is not None else free_port()).start()


@dataclass
class SqsQueues:
    """The queues of one test: standard and FIFO, each with a redrive policy to its dead-letter queue."""

    server: MotoServer
    conn_id: str
    standard_url: str
    fifo_url: str
    dead_letter_url: str
    fifo_dead_letter_url: str

    def drain(self, url: str, min_polls: int = 1) -> list[dict[str, Any]]:
        """
        Receive and delete every message on ``url`` (with attributes), as a consumer would.

        Polls until a poll comes back empty, and at least ``min_polls`` times (a standard queue may answer empty
        while messages are still on other hosts).
        """
        client, messages = self.server.client(), []
        polls = 0
        while True:
            batch = client.receive_message(
                QueueUrl=url, MaxNumberOfMessages=10, MessageAttributeNames=["All"], VisibilityTimeout=60
            ).get("Messages", [])
            polls += 1
            messages += batch
            for message in batch:
                client.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])
            if not batch and polls >= min_polls:
                return messages


def create_queues(server: MotoServer) -> tuple[str, str, str, str]:
    """
    Create the standard and FIFO queues, each redriving to its dead-letter queue after two receives.

    :return: URLs of the standard, FIFO, dead-letter and FIFO dead-letter queues.
    """
    client = server.client()
    urls = []
    for dlq, queue, fifo in ((DEAD_LETTER_QUEUE, STANDARD_QUEUE, False), (FIFO_DEAD_LETTER_QUEUE, FIFO_QUEUE, True)):
        fifo_attrs = {"FifoQueue": "true"} if fifo else {}
        dlq_url = client.create_queue(QueueName=dlq, Attributes=fifo_attrs)["QueueUrl"]
        arn = client.get_queue_attributes(QueueUrl=dlq_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        redrive = json.dumps({"deadLetterTargetArn": arn, "maxReceiveCount": "2"})
        url = client.create_queue(QueueName=queue, Attributes={**fifo_attrs, "RedrivePolicy": redrive})["QueueUrl"]
        urls += [url, dlq_url]
    standard, dead, fifo_url, fifo_dead = urls
    return standard, fifo_url, dead, fifo_dead
