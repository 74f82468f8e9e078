"""A workspace's webhook settings."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class WorkspaceSettings:
    id: str  # the workspace id
    workspace_id: str
    # Deliver to private, loopback and link-local addresses too (an on-premises receiver).
    allow_private_networks: bool = False
