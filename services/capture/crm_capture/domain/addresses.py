"""Who takes part in a message or meeting: addresses with display names, their domains,
and which of them belong to the workspace itself."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from email.headerregistry import Address as HeaderAddress

from .rules import email_or_none

# Free-mail providers: an address there says nothing about the company a person is at,
# so such domains are never matched to a company (nor suggested as one).
FREE_MAIL = frozenset(
    {
        "gmail.com",
        "googlemail.com",
        "yahoo.com",
        "yahoo.co.uk",
        "yahoo.fr",
        "ymail.com",
        "hotmail.com",
        "hotmail.co.uk",
        "hotmail.fr",
        "outlook.com",
        "live.com",
        "msn.com",
        "icloud.com",
        "me.com",
        "mac.com",
        "aol.com",
        "proton.me",
        "protonmail.com",
        "gmx.de",
        "gmx.net",
        "gmx.com",
        "web.de",
        "t-online.de",
        "mail.com",
        "mail.ru",
        "yandex.ru",
        "yandex.com",
        "qq.com",
        "163.com",
        "126.com",
        "zoho.com",
        "fastmail.com",
        "hey.com",
        "orange.fr",
        "free.fr",
        "laposte.net",
        "libero.it",
        "btinternet.com",
        "comcast.net",
        "verizon.net",
    }
)


@dataclass(frozen=True)
class Participant:
    email: str  # lower-case
    name: str | None = None

    @property
    def domain(self) -> str:
        return self.email.rsplit("@", 1)[1]

    @property
    def free_mail(self) -> bool:
        return self.domain in FREE_MAIL

    @property
    def label(self) -> str:
        return f"{self.name} <{self.email}>" if self.name else self.email


def participant(email: str | None, name: str | None = None) -> Participant | None:
    address = email_or_none(email)
    if address is None:
        return None
    display = " ".join((name or "").split()).strip("'\" ")[:200] or None
    return Participant(address, display if display and display.lower() != address else None)


def from_header(addresses: Iterable[HeaderAddress]) -> list[Participant]:
    """The participants of a parsed address header (groups flattened, invalid ones out)."""
    found = []
    for address in addresses:
        made = participant(address.addr_spec, address.display_name)
        if made is not None:
            found.append(made)
    return found


def unique(participants: Iterable[Participant]) -> list[Participant]:
    """Each address once, the first (named) occurrence kept."""
    seen: dict[str, Participant] = {}
    for person in participants:
        kept = seen.get(person.email)
        if kept is None or (kept.name is None and person.name):
            seen[person.email] = person
    return list(seen.values())
