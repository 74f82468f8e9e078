"""Deals made for answering reads (the board's cards, the lists): a deal's histories (its
stage changes, owner changes, field changes, activity log) are converted from its stored
document when first asked for, not when the deal is made.

A board of 140 cards asks for none of them, yet converting each card's whole stage
history was ~12 % of the deals service's CPU at 200 users (issue 14). A `ReadDeal` is a
`Deal` in every other respect: the same values, equal to the `Deal` made from the same
document, and a history once asked for (or set) is an ordinary list the deal keeps.
Writes read their deal with `documents.deal_from_doc` as before.

The read index holds each deal's stored document until the deal changes, when it holds
a new one (`crm_kit.read_index`: a held record is replaced, never changed in place). So
the read deal of a held document is made once (`held_read_deal`) and served to every
request asking for it while that document is held: a board's 140 cards are made per
board otherwise (profiled: with their GraphQL objects, ~10 % of the deals service's CPU
under the mix). A read deal is never changed by a read (writes make their own deal).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import fields
from typing import Any, Generic, TypeVar, overload

from ..domain.deal import Activity, Deal, FieldChange, OwnerChange, StageChange
from .documents import HISTORIES, deal_fields

T = TypeVar("T")
# The stored document a read deal converts its histories from (in its `__dict__`).
_SOURCE = "_source_doc"
_COMPARED = tuple(f.name for f in fields(Deal) if f.compare)
# Read deals of held documents, by the document's identity (the document kept beside its
# deal, so that the identity is not reused while the entry stands). Bounded: the oldest
# made goes first; a board or a page is a few hundred deals.
HELD_DEALS_KEPT = 20_000
_HELD: dict[int, tuple[Mapping[str, Any], Deal]] = {}


class _Converted(Generic[T]):
    """A history attribute converted from the deal's document on first access."""

    def __init__(self, convert: Callable[[Mapping[str, Any]], list[Any]]) -> None:
        self._convert = convert
        self._name = ""

    def __set_name__(self, owner: type, name: str) -> None:
        self._name = name

    @overload
    def __get__(self, deal: None, owner: type) -> _Converted[T]: ...
    @overload
    def __get__(self, deal: ReadDeal, owner: type) -> list[T]: ...
    def __get__(self, deal: ReadDeal | None, owner: type) -> _Converted[T] | list[T]:
        if deal is None:
            return self
        held = deal.__dict__
        try:
            return held[self._name]  # type: ignore[no-any-return]
        except KeyError:
            value: list[T] = self._convert(held[_SOURCE])
            held[self._name] = value
            return value

    def __set__(self, deal: ReadDeal, value: list[T]) -> None:
        deal.__dict__[self._name] = value


class ReadDeal(Deal):
    # Never changed once made (a read changes nothing; writes make their own deal): what
    # is made from it may be kept on it (`crm_deals.graphql.entities.Deal.of`).
    keeps_views = True

    stage_history = _Converted[StageChange](HISTORIES["stage_history"])  # type: ignore[assignment]
    owner_changes = _Converted[OwnerChange](HISTORIES["owner_changes"])  # type: ignore[assignment]
    field_changes = _Converted[FieldChange](HISTORIES["field_changes"])  # type: ignore[assignment]
    activity_log = _Converted[Activity](HISTORIES["activity_log"])  # type: ignore[assignment]

    def __eq__(self, other: object) -> bool:
        # The dataclass's equality holds only between two objects of one class: a read
        # deal equals the `Deal` of the same fields (either side of `==`).
        if not isinstance(other, Deal):
            return NotImplemented
        return all(getattr(self, name) == getattr(other, name) for name in _COMPARED)

    __hash__ = None  # type: ignore[assignment]  # mutable, as `Deal`


def read_deal_from_doc(doc: Mapping[str, Any]) -> Deal:
    """The deal of a stored document, its histories converted when first asked for."""
    deal = ReadDeal(**deal_fields(doc))
    held = deal.__dict__
    for name in HISTORIES:  # set to their defaults by `__init__`: not converted yet
        del held[name]
    held[_SOURCE] = doc
    return deal


def held_read_deal(doc: Mapping[str, Any]) -> Deal:
    """The read deal of a document the read index holds (made once while it is held)."""
    found = _HELD.get(id(doc))
    if found is not None and found[0] is doc:
        return found[1]
    deal = read_deal_from_doc(doc)
    if len(_HELD) >= HELD_DEALS_KEPT:
        del _HELD[next(iter(_HELD))]
    _HELD[id(doc)] = (doc, deal)
    return deal
