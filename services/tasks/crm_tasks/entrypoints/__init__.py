"""Inbound entry points beside GraphQL: NATS request/reply endpoints (`rpc.py`), the
consumers of events (`consumers.py`) and the reminder scheduler (`scheduler.py`). They
call the use cases."""
