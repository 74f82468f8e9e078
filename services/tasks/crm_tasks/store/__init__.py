"""Persistence: the store port, its MongoDB adapter and an in-memory fake."""
