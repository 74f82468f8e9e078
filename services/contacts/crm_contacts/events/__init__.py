"""Events this service publishes (through the outbox) and consumes."""
