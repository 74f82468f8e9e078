"""The end-to-end stack fixture lives in tests/conftest.py (shared with tests/security)."""

from __future__ import annotations

from ..conftest import Stack

__all__ = ["Stack"]
