"""Ids derived from what was captured, so the same thing captured twice (by BCC and by
IMAP, by two reps, after a restart) names the same record and the same interaction."""

from __future__ import annotations

import hashlib


def derived_id(*parts: str) -> str:
    """24 hex digits (a valid ObjectId string, as the platform's ids are) from `parts`."""
    digest = hashlib.sha256("\x1f".join(parts).encode("utf-8", "surrogatepass"))
    return digest.hexdigest()[:24]
