"""Contacts service contracts: the committed SDL is current, and every event example
validates on the producer side (built by the service) and the consumer side (parsed from
the wire and from the README with only `crm_contracts`)."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime

import pytest

from crm_contracts import contacts as contract
from crm_contracts.base import Payload
from crm_contracts.envelope import SUBJECT_PATTERN, CloudEvent, service_of
from crm_kit.paths import REPO_ROOT

SERVICE_DIR = REPO_ROOT / "services" / "contacts"
README = (SERVICE_DIR / "README.md").read_text()

MODELS: dict[str, type[Payload]] = {
    contract.CONTACT_CREATED: contract.ContactCreated,
    contract.CONTACT_UPDATED: contract.ContactUpdated,
    contract.CONTACT_DELETED: contract.ContactDeleted,
    contract.CONTACT_RESTORED: contract.ContactRestored,
    contract.CONTACT_MERGED: contract.ContactMerged,
    contract.COMPANY_CREATED: contract.CompanyCreated,
    contract.COMPANY_UPDATED: contract.CompanyUpdated,
    contract.COMPANY_DELETED: contract.CompanyDeleted,
    contract.COMPANY_RESTORED: contract.CompanyRestored,
    contract.INTERACTION_LOGGED: contract.InteractionLogged,
    contract.INTERACTION_UPDATED: contract.InteractionUpdated,
    contract.INTERACTION_REMOVED: contract.InteractionRemoved,
}
RPC_SUBJECTS = [
    contract.RPC_CONTACT_GET,
    contract.RPC_CONTACT_FIND_BY_EMAIL,
    contract.RPC_COMPANY_GET,
    contract.RPC_COMPANY_FIND_BY_NAME,
    contract.RPC_CONTACT_FIND_BY_EMAILS,
    contract.RPC_COMPANY_FIND_BY_DOMAINS,
    contract.RPC_CONTACT_CREATE,
]


def test_committed_schema_is_the_exported_one() -> None:
    from crm_contacts.export_schema import sdl

    committed = (SERVICE_DIR / "schema.graphql").read_text()
    assert committed == sdl(), (
        "services/contacts/schema.graphql is stale: run "
        "`python -m crm_contacts.export_schema > services/contacts/schema.graphql`"
    )


def test_schema_is_a_federation_2_9_subgraph_with_entity_keys() -> None:
    committed = (SERVICE_DIR / "schema.graphql").read_text()
    assert "https://specs.apollo.dev/federation/v2.9" in committed
    assert 'type Contact @key(fields: "id")' in committed
    assert 'type Company @key(fields: "id")' in committed


def _produced_events() -> list[CloudEvent]:
    from crm_contacts.domain import company as companies
    from crm_contacts.domain import contact as contacts
    from crm_contacts.domain import interaction as interactions
    from crm_contacts.events import publish

    moment = datetime(2026, 3, 2, 14, 5, tzinfo=UTC)
    company = companies.Company(id="c" * 24, workspace_id="w1", name="Acme", domain="acme.com",
                            created_at=moment, updated_at=moment)  # fmt: skip
    contact = contacts.Contact(id="a" * 24, workspace_id="w1", first_name="Ada", last_name="L",
                            emails=["ada@acme.com"], company_id=company.id,
                            created_at=moment, updated_at=moment)  # fmt: skip
    duplicate = contacts.Contact(id="b" * 24, workspace_id="w1", first_name="Ada", last_name="L",
                              emails=["ada@home.org"])  # fmt: skip
    interaction = interactions.Interaction(id="d" * 24, workspace_id="w1",
                                    kind=interactions.InteractionKind.WEB_VISIT, occurred_at=moment,
                                    contact_ids=[contact.id])  # fmt: skip
    return [
        publish.contact_created(contact),
        publish.contact_updated(contact, ["title"]),
        publish.contact_deleted(contact),
        publish.contact_restored(contact),
        publish.contact_merged(contact, duplicate, 2),
        publish.company_created(company),
        publish.company_updated(company, ["name"]),
        publish.company_deleted(company),
        publish.company_restored(company),
        publish.interaction_logged(interaction),
        publish.interaction_updated(interaction),
        publish.interaction_removed(interaction),
    ]


def test_every_subject_is_produced_and_valid() -> None:
    produced = {event.type for event in _produced_events()}
    assert produced == set(MODELS)
    for subject in MODELS:
        assert SUBJECT_PATTERN.match(subject)
        assert service_of(subject) == "contacts"
    for subject in RPC_SUBJECTS:
        assert subject.startswith("rpc.contacts.")  # outside every JetStream stream


@pytest.mark.parametrize("event", _produced_events(), ids=lambda e: e.type)
def test_produced_events_validate_on_the_consumer_side(event: CloudEvent) -> None:
    # Producer side: the payload the service builds is an instance of the contract model.
    model = MODELS[event.type]
    model.model_validate(event.data)
    # Consumer side: bytes off the wire, parsed with nothing but crm_contracts.
    received = CloudEvent.from_json(event.to_json())
    assert received.workspace == "w1" and received.source == "crm/contacts"
    parsed = model.model_validate(received.data)
    assert parsed.wire() == event.data  # nothing lost in the round trip


def _readme_examples() -> dict[str, dict]:
    pattern = re.compile(
        r"^### `(crm\.contacts\.[a-z_.0-9]+)`\n.*?```json\n(.*?)\n```", re.M | re.S
    )
    return {subject: json.loads(body) for subject, body in pattern.findall(README)}


def test_readme_documents_every_event_with_a_valid_example() -> None:
    examples = _readme_examples()
    assert set(examples) == set(MODELS)
    for subject, data in examples.items():
        MODELS[subject].model_validate(data)


def test_readme_documents_every_rpc_endpoint() -> None:
    for subject in RPC_SUBJECTS:
        assert f"### `{subject}`" in README


def test_consumers_tolerate_added_fields() -> None:
    data = {"survivorId": "a", "mergedId": "b", "movedInteractions": 1, "someFutureField": 1}
    assert contract.ContactMerged.model_validate(data).survivor_id == "a"
