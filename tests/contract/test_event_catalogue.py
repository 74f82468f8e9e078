"""Every declared event subject has a payload model, and docs/events.md is current."""

from __future__ import annotations

from crm_contracts.catalogue import CATALOGUE, declared_subjects, render_markdown
from crm_contracts.envelope import service_of
from crm_contracts.streams import SERVICES, stream_for
from crm_kit.paths import REPO_ROOT


def test_every_declared_subject_is_catalogued_with_a_payload() -> None:
    missing = sorted(declared_subjects() - set(CATALOGUE))
    assert missing == []
    assert [s for s, model in CATALOGUE.items() if model is None] == []


def test_every_subject_is_captured_by_its_owners_stream_and_no_rpc_subject_is() -> None:
    for subject in CATALOGUE:
        owner = service_of(subject)
        assert owner in SERVICES
        prefix = stream_for(owner).subjects[0].removesuffix(">")
        assert subject.startswith(prefix)
    assert not any(
        s.startswith("rpc.") for spec in map(stream_for, SERVICES) for s in spec.subjects
    )


def test_committed_catalogue_is_current() -> None:
    committed = (REPO_ROOT / "docs" / "events.md").read_text()
    assert committed == render_markdown(), "run: python -m crm_contracts.catalogue > docs/events.md"
