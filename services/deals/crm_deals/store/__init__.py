"""Persistence port (protocol.py), the MongoDB adapter and the in-memory fake."""
