"""The brokers behind the queue hooks: connection settings and forms, client, retries, errors, receipts, keys, checks."""
