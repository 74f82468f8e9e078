"""Inbound entry points beside GraphQL: the capture service's doors (inbound SMTP,
`smtp.py`; the tracking endpoints behind the gateway, `tracking.py`), the IMAP poller
(`imap.py`), NATS request/reply (`rpc.py`) and the consumers of other services' events
(`consumers.py`). They call the use cases."""
