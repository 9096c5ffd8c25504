"""Apache Airflow provider for the Hokusai ML platform."""

from __future__ import annotations

import warnings

__version__ = "0.1.0"

# A hokusai_sqs connection is an aws connection under the provider's type (for its Test button); the official AWS
# hooks reading it (the queue hook's SqsHook, MessageQueueTrigger) would warn that they expected type 'aws'.
warnings.filterwarnings("ignore", message=r".*expected connection type 'aws', got 'hokusai_sqs'", category=UserWarning)
