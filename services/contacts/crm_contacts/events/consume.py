"""Events of other services this service reacts to.

None yet: contacts is upstream of deals and tasks. A consumer, when one is needed, is a
handler registered here and started by `app.py` with `runtime.consume(...)`."""

from __future__ import annotations

from crm_kit.consumer import Handler

HANDLERS: dict[str, Handler] = {}
