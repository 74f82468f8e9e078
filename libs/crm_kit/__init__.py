"""Thin runtime kit shared by the CRM services: settings, Mongo and NATS plumbing, the
outbox, consumers, request context, auth, logging and HTTP health. No domain types."""
