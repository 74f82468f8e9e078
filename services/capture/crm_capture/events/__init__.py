"""Outbound events: the service's domain events as the public contract's CloudEvents
(`publish.encode`, given to the writer; the outbox relay publishes what it stores)."""
