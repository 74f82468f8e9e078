"""NATS credentials and the permissions generated from the access table."""

from __future__ import annotations

from pathlib import Path

import pytest

from crm_contracts.access import PARTIES, party
from crm_kit import nats_auth
from crm_kit.devstack import redacted
from crm_kit.nats_io import connect


@pytest.fixture
def data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("CRM_DATA_DIR", str(tmp_path))
    monkeypatch.delenv("NATS_NKEY_SEED_FILE", raising=False)
    monkeypatch.delenv("NATS_CREDENTIALS_DIR", raising=False)
    return tmp_path


def test_a_seed_is_created_once_private_and_yields_a_user_key(data_dir: Path) -> None:
    path = nats_auth.dev_seed_file("deals")
    seed = nats_auth.ensure_seed(path)
    assert nats_auth.ensure_seed(path) == seed
    assert seed.startswith("SU") and path.stat().st_mode & 0o777 == 0o600
    assert nats_auth.public_key(seed).startswith("U")
    assert nats_auth.seed_file_for("deals") == path
    assert nats_auth.seed_file_for("tasks") is None  # never generated: connect anonymously


def test_every_party_gets_its_own_key_and_the_harness_only_when_asked(data_dir: Path) -> None:
    users = nats_auth.dev_authorization()["users"]
    assert len({user["nkey"] for user in users}) == len(PARTIES)
    with_harness = nats_auth.dev_authorization(harness=True)["users"]
    assert len(with_harness) == len(PARTIES) + 1
    assert with_harness[-1]["permissions"]["publish"]["allow"] == [">"]


def _allowed(name: str) -> tuple[list[str], list[str]]:
    rules = nats_auth.permissions(party(name))
    return rules["publish"]["allow"], rules["subscribe"]["allow"]


def test_a_service_publishes_and_serves_only_its_own_subjects() -> None:
    publish, subscribe = _allowed("deals")
    assert "crm.deals.>" in publish and "dlq.deals.>" in publish
    assert not [s for s in publish if s.startswith(("crm.", "dlq.")) and ".deals." not in s]
    assert [s for s in subscribe if s.startswith("rpc.")] == ["rpc.deals.>"]
    assert "_INBOX_deals.>" in subscribe and "_INBOX.>" not in subscribe
    # Its durables on other streams, by exact name; its requests.
    assert "$JS.API.CONSUMER.DURABLE.CREATE.CRM_TASKS.deals-task-completed" in publish
    assert "$JS.ACK.CRM_CONTACTS.deals-contacts-sync.>" in publish
    assert sorted(s for s in publish if s.startswith("rpc.")) == [
        "rpc.contacts.company.find_by_name",
        "rpc.contacts.export.names",
        "rpc.contacts.import.references",
        "rpc.contacts.records.check",
    ]


def test_nobody_may_delete_or_purge_a_stream_and_only_the_provisioner_creates_them() -> None:
    for candidate in PARTIES:
        publish, _ = _allowed(candidate.name)
        assert not [s for s in publish if ".DELETE." in s or ".PURGE." in s]
        # The only wildcard on the JetStream API: the filter subject of one named durable.
        wild = [s for s in publish if s.startswith("$JS.API") and ">" in s]
        assert all(s.startswith("$JS.API.CONSUMER.CREATE.") and s.count(".") == 6 for s in wild)
        creates = [s for s in publish if s.startswith("$JS.API.STREAM.CREATE.")]
        assert bool(creates) == (candidate.name == "provisioner")


def test_the_operators_tool_only_makes_requests() -> None:
    publish, subscribe = _allowed("cli")
    assert publish == ["rpc.>"] and subscribe == ["_INBOX_cli.>"]


async def test_production_refuses_to_connect_without_a_seed(
    data_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CRM_ENV", "production")
    with pytest.raises(RuntimeError, match="NATS_NKEY_SEED_FILE"):
        await connect("nats://127.0.0.1:1", user="deals")


def test_printed_connection_strings_hide_the_password() -> None:
    uri = "mongodb://crm:s3cr3t@127.0.0.1:27017/?authSource=admin"
    assert redacted(uri) == "mongodb://crm:***@127.0.0.1:27017/?authSource=admin"
    assert redacted("nats://127.0.0.1:4222") == "nats://127.0.0.1:4222"
