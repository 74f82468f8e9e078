"""The record-sharing and field-permission policy (`crm_kit.sharing`) and its projection
(`crm_kit.access_view`): the matrix sharing level x role x who holds the record, checked
both ways a service asks (one record: `sees`; a list: the filter, on in-memory documents
with the semantics MongoDB gives it)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from crm_contracts import tasks as contract
from crm_kit.access_view import AccessViews
from crm_kit.context import RequestContext
from crm_kit.errors import BadUserInput, Forbidden
from crm_kit.filters import stored_field
from crm_kit.memory_db import MemoryDatabase
from crm_kit.sharing import (
    EVERYONE,
    OWN,
    TEAM,
    AccessSettings,
    TeamMembers,
    access_of,
    readable_fields,
    validate_field_roles,
    validate_level,
    visibility,
)

# Team "east": manager mia, members ann and bob. Team "west": manager max, member cat.
TEAMS = (
    TeamMembers("east", "mia", ("ann", "bob")),
    TeamMembers("west", "max", ("cat",)),
)
# Deals by owner; one nobody holds.
OWNERS = ("ann", "bob", "cat", "mia", "max", None)


def caller(subject: str, *roles: str) -> RequestContext:
    return RequestContext("w1", subject, frozenset(roles))


def seen_by(who: RequestContext, level: str) -> set[str | None]:
    seen = visibility(who, level, TEAMS)
    return {owner for owner in OWNERS if seen.sees([owner])}


def listed_for(who: RequestContext, level: str) -> set[str | None]:
    where = visibility(who, level, TEAMS).filter(["owner_id"])
    docs = [{"_id": str(i), "owner_id": owner} for i, owner in enumerate(OWNERS)]
    if where is None:
        return set(OWNERS)
    return {doc["owner_id"] for doc in docs if where.matches(stored_field(doc))}


ALL_OWNERS = set(OWNERS)
MATRIX = [
    # level, caller, what they see
    (EVERYONE, caller("ann", "rep"), ALL_OWNERS),
    (EVERYONE, caller("mia", "manager"), ALL_OWNERS),
    (EVERYONE, caller("zed", "admin"), ALL_OWNERS),
    (EVERYONE, caller("vic", "viewer"), ALL_OWNERS),
    (TEAM, caller("ann", "rep"), {"ann", "bob", "mia", None}),
    (TEAM, caller("cat", "rep"), {"cat", "max", None}),
    (TEAM, caller("lone", "rep"), {None}),
    (TEAM, caller("mia", "manager"), {"ann", "bob", "mia", None}),
    (TEAM, caller("zed", "admin"), ALL_OWNERS),
    (OWN, caller("ann", "rep"), {"ann", None}),
    (OWN, caller("cat", "rep"), {"cat", None}),
    # A manager sees the teams they manage, whatever the level.
    (OWN, caller("mia", "manager"), {"ann", "bob", "mia", None}),
    (OWN, caller("max", "manager"), {"cat", "max", None}),
    # Managing no team: their own records only.
    (OWN, caller("new", "manager"), {None}),
    (OWN, caller("zed", "admin"), ALL_OWNERS),
    (OWN, caller("vic", "viewer"), {None}),
]


@pytest.mark.parametrize(("level", "who", "expected"), MATRIX)
def test_the_sharing_matrix_is_the_same_for_one_record_and_for_a_list(
    level: str, who: RequestContext, expected: set[str | None]
) -> None:
    assert seen_by(who, level) == expected
    assert listed_for(who, level) == expected


def test_a_record_with_several_holders_is_seen_by_any_of_them() -> None:
    seen = visibility(caller("ann", "rep"), OWN, TEAMS)
    assert seen.sees(["bob", "ann"])  # assigned to bob, created by ann
    assert not seen.sees(["bob", "cat"])
    where = seen.filter(["assignee_id", "created_by"])
    assert where is not None
    task = {"assignee_id": "bob", "created_by": "ann"}
    other = {"assignee_id": "bob", "created_by": "cat"}
    unheld = {"assignee_id": None, "created_by": None}
    assert where.matches(stored_field(task))
    assert not where.matches(stored_field(other))
    assert where.matches(stored_field(unheld))


def test_the_filter_compiles_to_one_mongo_condition() -> None:
    where = visibility(caller("ann", "rep"), OWN, TEAMS).filter(["owner_id"])
    assert where is not None
    assert where.to_mongo() == {"$or": [{"owner_id": {"$in": ["ann"]}}, {"owner_id": None}]}
    assert visibility(caller("ann", "rep"), EVERYONE, TEAMS).filter(["owner_id"]) is None


def test_sensitive_fields_default_to_every_role_and_admins_always_read_them() -> None:
    assert readable_fields(caller("ann", "rep"), AccessSettings()) == {
        "deal.amount",
        "contact.email",
        "contact.phone",
    }
    settings = AccessSettings(field_roles={"deal.amount": frozenset({"manager", "admin"})})
    assert "deal.amount" not in readable_fields(caller("ann", "rep"), settings)
    assert "deal.amount" in readable_fields(caller("mia", "manager"), settings)
    only_reps = AccessSettings(field_roles={"contact.phone": frozenset({"rep"})})
    assert "contact.phone" in readable_fields(caller("zed", "admin"), only_reps)


def test_filtering_on_a_hidden_field_is_refused_naming_it() -> None:
    settings = AccessSettings(field_roles={"deal.amount": frozenset({"admin"})})
    access = access_of(caller("ann", "rep"), settings, TEAMS)
    with pytest.raises(Forbidden) as refused:
        access.require_field("deal.amount", "filter.amountMin")
    assert refused.value.field == "filter.amountMin"
    access_of(caller("zed", "admin"), settings, TEAMS).require_field("deal.amount", "orderBy")


def test_settings_are_validated() -> None:
    with pytest.raises(BadUserInput):
        validate_level("invoice", OWN)
    with pytest.raises(BadUserInput):
        validate_level("deal", "nobody")
    with pytest.raises(BadUserInput):
        validate_field_roles("deal.title", ["rep"])
    with pytest.raises(BadUserInput):
        validate_field_roles("deal.amount", ["root"])
    # Admins cannot be locked out of a field.
    assert validate_field_roles("deal.amount", []) == {"admin"}


async def test_the_projection_applies_events_in_their_own_order() -> None:
    views = AccessViews(MemoryDatabase())
    now = datetime(2026, 1, 1, tzinfo=UTC)
    newer = contract.TeamChanged(
        id="east", name="East", manager_id="mia", member_ids=["ann"], updated_at=now
    )
    older = contract.TeamChanged(
        id="east",
        name="East",
        manager_id="mia",
        member_ids=["ann", "bob"],
        updated_at=now - timedelta(minutes=1),
    )
    await views.team_changed("w1", newer)
    await views.team_changed("w1", older)  # late: ignored
    await views.team_changed("w1", newer)  # repeated: no change
    own = contract.AccessSettingsChanged(sharing={"deal": "own"}, field_roles=[], version=2)
    stale = contract.AccessSettingsChanged(sharing={}, field_roles=[], version=1)
    await views.settings_changed("w1", own)
    await views.settings_changed("w1", stale)

    access = await views.access(caller("mia", "manager"))
    assert access.of("deal").holders == {"mia", "ann"}
    assert access.of("contact").everything
    # Another workspace is untouched.
    assert (
        (await views.access(RequestContext("w2", "mia", frozenset({"manager"}))))
        .of("deal")
        .everything
    )


def test_the_platforms_services_see_everything_whatever_their_role() -> None:
    capture = caller("service:capture", "viewer")
    assert visibility(capture, OWN, TEAMS).everything
    settings = AccessSettings(field_roles={"contact.email": frozenset({"admin"})})
    assert "contact.email" in readable_fields(capture, settings)


def test_stored_settings_name_no_field_in_a_key() -> None:
    """Stored keys may not hold a `.` (MongoDB and FerretDB refuse them)."""
    settings = AccessSettings(
        sharing={"deal": OWN}, field_roles={"deal.amount": frozenset({"admin"})}, version=3
    )
    doc = settings.to_doc()
    assert all("." not in key for key in doc["field_roles"][0])
    assert AccessSettings.from_doc(doc) == settings
