"""Normalisation and validation of what clients send. Each rule names the input field at
fault, so the API can point at it."""

from __future__ import annotations

import re
import unicodedata
from urllib.parse import urlsplit

import phonenumbers

from crm_kit import bounds
from crm_kit.errors import BadUserInput
from crm_kit.ids import is_id

_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s.]+$")
_DOMAIN = re.compile(r"^(?=.{1,253}$)([a-z0-9-]{1,63}\.)+[a-z]{2,63}$")
MAX_NAME = 200
MAX_TEXT = 10_000


def require_id(value: str, field: str) -> str:
    if not isinstance(value, str) or not is_id(value):
        raise BadUserInput("not a valid id", field=field)
    return value


def clean_text(
    value: str | None, field: str, *, required: bool = False, limit: int = MAX_NAME
) -> str | None:
    text = " ".join(value.split()) if value is not None else ""
    if not text:
        if required:
            raise BadUserInput("must not be empty", field=field)
        return None
    if len(text) > limit:
        raise BadUserInput(f"must be at most {limit} characters", field=field)
    return text


def normalise_email(raw: str, field: str) -> str:
    email = raw.strip().lower()
    if len(email) > 254 or not _EMAIL.match(email):
        raise BadUserInput(f"{raw!r} is not an email address", field=field)
    return email


def normalise_emails(raws: list[str], field: str) -> list[str]:
    bounds.count(raws, bounds.MAX_EMAILS, field)
    out: list[str] = []
    for index, raw in enumerate(raws):
        email = normalise_email(raw, f"{field}[{index}]")
        if email not in out:
            out.append(email)
    return out


def normalise_phone(raw: str, region: str, field: str) -> str:
    bounds.text(raw, 50, field)  # far above any dialable number; spares the parser
    try:
        number = phonenumbers.parse(raw, region)
    except phonenumbers.NumberParseException:
        raise BadUserInput(f"{raw!r} is not a phone number", field=field) from None
    if not phonenumbers.is_valid_number(number):
        raise BadUserInput(f"{raw!r} is not a valid phone number", field=field)
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def normalise_phones(raws: list[str], region: str, field: str) -> list[str]:
    bounds.count(raws, bounds.MAX_PHONES, field)
    out: list[str] = []
    for index, raw in enumerate(raws):
        phone = normalise_phone(raw, region, f"{field}[{index}]")
        if phone not in out:
            out.append(phone)
    return out


def normalise_domain(raw: str | None, field: str) -> str | None:
    """`https://www.Acme.com/about` -> `acme.com`."""
    if raw is None or not raw.strip():
        return None
    text = raw.strip().lower()
    host = urlsplit(text if "//" in text else f"//{text}").hostname or ""
    host = host.removeprefix("www.")
    if not _DOMAIN.match(host):
        raise BadUserInput(f"{raw!r} is not a domain name", field=field)
    return host


def normalise_tags(raws: list[str], field: str) -> list[str]:
    bounds.count(raws, bounds.MAX_TAGS, field)
    out: list[str] = []
    for index, raw in enumerate(raws):
        tag = clean_text(raw, f"{field}[{index}]", required=True, limit=64)
        assert tag is not None
        tag = tag.lower()
        if tag not in out:
            out.append(tag)
    return out


def name_key(name: str) -> str:
    """Key for exact, case-insensitive name matching (company look-up, de-duplication)."""
    return " ".join(name.split()).casefold()


def search_text(parts: list[str]) -> str:
    """Lower-case words for the text filter (names, emails...), whitespace collapsed."""
    return " ".join(" ".join(parts).split()).lower()


def fold(text: str) -> str:
    """Lower-case without accents and punctuation: 'José-Luis' -> 'jose luis'."""
    decomposed = unicodedata.normalize("NFKD", text)
    plain = "".join(ch for ch in decomposed if not unicodedata.combining(ch))
    return " ".join(re.sub(r"[^\w\s]", " ", plain.casefold()).split())


def slug(text: str) -> str:
    return "-".join(fold(text).replace("_", " ").split())


def search_query(value: str | None, field: str) -> str | None:
    """A search text: trimmed, inner whitespace collapsed, lower-cased; empty means none."""
    text = clean_text(value, field, limit=200)
    return text.lower() if text else None
