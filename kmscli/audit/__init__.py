"""The audit log: CloudTrail-shaped events in chained JSON lines."""
