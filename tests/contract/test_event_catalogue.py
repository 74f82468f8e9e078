"""The contracts are complete and their documents current: every declared event subject has
a payload model and every request/reply subject an endpoint contract; contract modules are
found, not listed; the committed AsyncAPI document, its HTML page and docs/events.md are
what the generator makes, and the AsyncAPI document is valid (the AsyncAPI Initiative's
parser, run with node from deploy/tools)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import yaml

import crm_contracts
from crm_contracts import catalogue
from crm_contracts.asyncapi import document, render_yaml
from crm_contracts.catalogue import CATALOGUE, ENDPOINTS, declared_rpc_subjects, declared_subjects
from crm_contracts.docs_render import render_html, render_markdown
from crm_contracts.envelope import service_of
from crm_contracts.streams import SERVICES, stream_for
from crm_kit.paths import REPO_ROOT

DOCS = REPO_ROOT / "docs"
TOOLS = REPO_ROOT / "deploy" / "tools"
REGENERATE = "run: python -m crm_contracts.asyncapi docs"


def test_every_declared_subject_is_catalogued_with_a_payload() -> None:
    assert sorted(declared_subjects() - set(CATALOGUE)) == []
    assert sorted(set(CATALOGUE) - declared_subjects()) == []


def test_every_request_reply_subject_has_an_endpoint_contract() -> None:
    contracted = [endpoint.subject for endpoint in ENDPOINTS]
    assert sorted(contracted) == sorted(declared_rpc_subjects())
    assert len(set(contracted)) == len(contracted)


def test_every_subject_is_captured_by_its_owners_stream_and_no_rpc_subject_is() -> None:
    for subject in CATALOGUE:
        owner = service_of(subject)
        assert owner in SERVICES
        prefix = stream_for(owner).subjects[0].removesuffix(">")
        assert subject.startswith(prefix)
    assert not any(
        s.startswith("rpc.") for spec in map(stream_for, SERVICES) for s in spec.subjects
    )


def test_a_new_contract_module_is_found_without_being_listed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "billing.py").write_text(
        "from crm_contracts.base import Payload\n"
        "SERVICE = 'billing'\n"
        "INVOICE_SENT = 'crm.billing.invoice.sent.v1'\n"
        "class InvoiceSent(Payload):\n    id: str\n"
        "EVENTS = {INVOICE_SENT: InvoiceSent}\n"
    )
    monkeypatch.setattr(crm_contracts, "__path__", [*crm_contracts.__path__, str(tmp_path)])
    try:
        found = {module.SERVICE for module in catalogue.contract_modules()}
    finally:
        sys.modules.pop("crm_contracts.billing", None)
    assert found == {*SERVICES, "billing"}


def test_every_event_and_endpoint_is_in_the_asyncapi_document() -> None:
    doc = document()
    addresses = {channel["address"] for channel in doc["channels"].values()}
    assert set(CATALOGUE) | {e.subject for e in ENDPOINTS} <= addresses
    sends = {
        doc["channels"][op["channel"]["$ref"].rsplit("/", 1)[-1]]["address"]
        for op in doc["operations"].values()
        if op["action"] == "send"
    }
    assert set(CATALOGUE) <= sends
    # Every $ref points at something the document defines.
    text = yaml.safe_dump(doc)
    for ref in {
        line.split("$ref: ")[1].strip("'\" ") for line in text.splitlines() if "$ref: " in line
    }:
        node = doc
        for part in ref.removeprefix("#/").split("/"):
            node = node[part]


@pytest.mark.parametrize(
    ("name", "render"),
    [
        ("asyncapi.yaml", render_yaml),
        ("asyncapi.html", lambda: render_html(document())),
        ("events.md", lambda: render_markdown(document())),
    ],
)
def test_committed_documents_are_current(name: str, render) -> None:  # type: ignore[no-untyped-def]
    assert (DOCS / name).read_text() == render(), REGENERATE


def test_the_asyncapi_document_is_valid() -> None:
    checked = subprocess.run(
        ["node", str(TOOLS / "check-asyncapi.mjs"), str(DOCS / "asyncapi.yaml")],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert "0 error(s)" in checked.stdout
