"""Inbound entry points beside GraphQL: NATS request/reply endpoints (`rpc.py`,
`win_model_rpc.py`) and the consumers of other services' events (`consumers.py`). They
call the use cases."""
