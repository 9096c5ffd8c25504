"""The brokers behind the queue hooks: settings, connection forms, client, retries, errors, receipts, keys, checks."""
