"""A sealed outbox (an import batch's events and audit entries in one binary): what is
sealed is what is unsealed, compressed now, and a batch sealed before compression (plain
BSON, still held in a database that ran the previous version) opens the same."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import bson

from crm_contracts.envelope import new_event
from crm_kit.outbox import SEALED, seal, sealed_and_opened, unseal


def _batch(records: int) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    events = [
        {
            "id": f"event-{n}",
            "subject": "crm.contacts.company.created.v1",
            "workspace": "w1",
            "traceparent": "",
            "body": f'{{"data":{{"id":"c{n}","name":"Company {n:07d}","industry":"software"}}}}',
        }
        for n in range(records)
    ]
    entries = [
        {
            "_id": f"entry-{n}",
            "record_id": f"c{n}",
            "action": "create",
            "at": datetime(2026, 1, 2, 3, 4, 5, 6000, tzinfo=UTC),
            "changes": f'[{{"field":"name","before":null,"after":"\\"Company {n:07d}\\""}}]',
        }
        for n in range(records)
    ]
    return events, entries


def test_what_is_sealed_is_unsealed_in_order() -> None:
    events, entries = _batch(50)
    assert unseal(seal(events, entries)) == (events, entries)


def test_a_batch_of_similar_records_is_sealed_in_a_fraction_of_its_bytes() -> None:
    events, entries = _batch(1000)
    plain = bson.encode({"events": events, "entries": entries})
    assert len(seal(events, entries)) * 4 < len(plain)


def test_a_batch_sealed_as_plain_bson_by_the_previous_version_opens_the_same() -> None:
    events, entries = _batch(3)
    assert unseal(bson.encode({"events": events, "entries": entries})) == (events, entries)


def test_nothing_sealed_is_nothing() -> None:
    assert unseal(None) == ([], []) and unseal(b"") == ([], [])
    assert unseal(seal([], [])) == ([], [])


def test_what_is_handed_to_the_relay_opened_is_what_the_blob_holds() -> None:
    """`sealed_and_opened`: the stored events and entries the relay is handed with a
    batch's document (`OPENED`) equal what it would unseal from the blob (entries as a
    bulk insert makes them: `at` in milliseconds)."""
    events = [
        new_event(
            event_type="crm.deals.deal.created.v1",
            source="crm/deals",
            workspace="w1",
            subject=f"d{n}",
            data={"id": f"d{n}", "title": f"Deal \u00e9 {n}"},
        )
        for n in range(20)
    ]
    entries = [{**entry, "at": 1767323045006, "roles": ["admin"]} for entry in _batch(20)[1]]
    fields, (stored, kept) = sealed_and_opened(events, entries)
    assert (stored, kept) == unseal(fields[SEALED])
    assert [e["id"] for e in stored] == [e.id for e in events]
    assert kept == entries
