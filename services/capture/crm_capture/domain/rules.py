"""Normalisation and validation of what clients send. Each rule names the input field at
fault, so the API can point at it."""

from __future__ import annotations

import re
from urllib.parse import urlsplit

from crm_kit.errors import BadUserInput

_EMAIL = re.compile(r"^[^@\s<>(),;:\"\[\]]+@[^@\s<>(),;:\"\[\]]+\.[^@\s.<>(),;:\"\[\]]+$")
_DOMAIN = re.compile(r"^(?=.{1,253}$)([a-z0-9-]{1,63}\.)+[a-z]{2,63}$")
_HOST = re.compile(r"^(?=.{1,253}$)([a-z0-9-]{1,63}\.)*[a-z0-9-]{1,63}$")


def email_or_none(raw: str | None) -> str | None:
    """The address lower-cased, or None when it is not one."""
    if not raw:
        return None
    email = raw.strip().strip("<>").strip().lower()
    return email if len(email) <= 254 and _EMAIL.match(email) else None


def normalise_email(raw: str, field: str) -> str:
    email = email_or_none(raw)
    if email is None:
        raise BadUserInput(f"{raw!r} is not an email address", field=field)
    return email


def domain_or_none(raw: str | None) -> str | None:
    """`https://www.Acme.com/about` -> `acme.com`; None when it is not a domain."""
    if not raw or not raw.strip():
        return None
    text = raw.strip().lower()
    host = urlsplit(text if "//" in text else f"//{text}").hostname or ""
    host = host.removeprefix("www.")
    return host if _DOMAIN.match(host) else None


def normalise_domain(raw: str, field: str) -> str:
    domain = domain_or_none(raw)
    if domain is None:
        raise BadUserInput(f"{raw!r} is not a domain name", field=field)
    return domain


def normalise_host(raw: str, field: str) -> str:
    host = raw.strip().lower()
    if not _HOST.match(host):
        raise BadUserInput(f"{raw!r} is not a host name", field=field)
    return host


def clean_text(value: str | None, field: str, *, limit: int = 200, required: bool = False) -> str:
    text = " ".join(value.split()) if value else ""
    if required and not text:
        raise BadUserInput("must not be empty", field=field)
    if len(text) > limit:
        raise BadUserInput(f"must be at most {limit} characters", field=field)
    return text


def bounded_int(value: int, field: str, low: int, high: int) -> int:
    if not low <= value <= high:
        raise BadUserInput(f"must be between {low} and {high}", field=field)
    return value


def clip(text: str | None, limit: int) -> str | None:
    """At most `limit` characters (an ellipsis says it was cut); None for nothing."""
    if not text:
        return None
    text = text.strip()
    if not text:
        return None
    return text if len(text) <= limit else text[: max(0, limit - 1)].rstrip() + "…"
