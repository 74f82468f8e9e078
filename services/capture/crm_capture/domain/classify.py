"""Messages no person wrote to another: bounces, delivery reports, out-of-office and other
automatic replies, mailing-list and bulk mail. They are never captured (RFC 3834 for
automatic responses, RFC 3464 for delivery status notifications, plus what the common
mail systems add)."""

from __future__ import annotations

import re
from collections.abc import Callable
from email.message import EmailMessage

from .addresses import Participant

_BOUNCE_SENDERS = frozenset({"mailer-daemon", "postmaster", "mail-daemon", "mailerdaemon"})
_AUTO_SUBJECT = re.compile(
    r"^\s*(automatic reply|auto(matische)?[ -]?(reply|antwort|response)|auto:|"
    r"out of (the )?office|abwesenheitsnotiz|absence|r[ée]ponse automatique|"
    r"respuesta autom[áa]tica|risposta automatica|undeliverable|undelivered mail|"
    r"delivery status notification|mail delivery (failed|failure|subsystem)|"
    r"returned mail|failure notice|unzustellbar|non remis)",
    re.IGNORECASE,
)


def _header(message: EmailMessage, name: str) -> str:
    return str(message.get(name, "") or "").strip().lower()


def automated_reason(message: EmailMessage, sender: Participant | None) -> str | None:
    """Why the message is not a person's (a short reason), or None when it is."""
    checks: list[tuple[str, Callable[[], bool]]] = [
        ("bounce", lambda: message.get_content_type() == "multipart/report"),
        ("bounce", lambda: sender is not None and sender.email.split("@")[0] in _BOUNCE_SENDERS),
        ("bounce", lambda: _header(message, "return-path") == "<>"),
        ("auto-reply", lambda: _header(message, "auto-submitted") not in ("", "no")),
        ("auto-reply", lambda: bool(message.get("x-autoreply") or message.get("x-autorespond"))),
        ("auto-reply", lambda: _header(message, "precedence") == "auto_reply"),
        ("bulk", lambda: _header(message, "precedence") in ("bulk", "list", "junk")),
        ("bulk", lambda: bool(message.get("list-id"))),
        ("auto-reply", lambda: _AUTO_SUBJECT.match(str(message.get("subject", "")) or "")
            is not None),
    ]  # fmt: skip
    for reason, check in checks:
        if check():
            return reason
    return None
