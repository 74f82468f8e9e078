"""The capture service's admin-facing records are audited like the CRM's (`crm_kit.audit`):
the capture settings, a mailbox (never its password) and a tracked site; the workspace's
log is for admins (`captureAuditLog`)."""

from __future__ import annotations

from cryptography.fernet import Fernet

from crm_capture.config import AUDIT, CaptureConfig
from crm_capture.events.publish import encode
from crm_capture.graphql.context import context_for
from crm_capture.graphql.schema import schema
from crm_capture.store.memory import memory_store
from crm_capture.store.secrets import FernetBox
from crm_capture.usecases.scope import Scopes, scopes
from crm_kit.context import RequestContext, bind_request
from crm_kit.memory_db import MemoryDatabase
from crm_kit.testing import Clock, GraphQLClient

from .conftest import FakeDirectory

LOG = """{ captureAuditLog { totalCount edges { node {
  recordType action actor changes { field before after } } } } }"""


def _client(scoped: Scopes, subject: str, roles: str) -> GraphQLClient:
    def context_of(caller: RequestContext) -> object:
        bind_request(caller)  # as the subgraph's HTTP gate does: entries name the caller
        return context_for(scoped(caller))

    return GraphQLClient.in_process(schema, context_of, "w1", subject, roles)


async def test_settings_mailboxes_and_sites_are_logged_without_the_password() -> None:
    db = MemoryDatabase(encode=encode, audit=AUDIT)
    box = FernetBox([Fernet.generate_key().decode()])
    scoped = scopes(memory_store(db), FakeDirectory(), box, CaptureConfig(), Clock())
    admin = _client(scoped, "ada", "admin")
    await admin.data(
        'mutation { updateCaptureSettings(input: {excludedDomains: ["bank.example"]}) '
        "{ excludedDomains } }"
    )
    await _client(scoped, "rita", "rep").data(
        'mutation { addMailbox(input: {host: "imap.example.com", username: "rita", '
        'password: "hunter2-very-secret"}) { id } }'
    )
    await admin.data(
        'mutation { createTrackingSite(input: {name: "Web", domains: ["shop.example"]}) { id } }'
    )
    log = (await admin.data(LOG))["captureAuditLog"]
    kinds = {(e["node"]["recordType"], e["node"]["actor"]) for e in log["edges"]}
    assert {("capture_settings", "ada"), ("mailbox", "rita"), ("site", "ada")} <= kinds
    settings = [e["node"] for e in log["edges"] if e["node"]["recordType"] == "capture_settings"]
    # Newest first: the change, then the settings made on first use.
    changed = [c for n in settings for c in n["changes"] if c["field"] == "excluded_domains"]
    assert changed[0] == {"field": "excluded_domains", "before": "[]", "after": '["bank.example"]'}
    assert "hunter2" not in str(log) and '"secret"' not in str(log)
    refused = await _client(scoped, "rita", "rep").execute(LOG)
    assert refused["errors"][0]["extensions"]["code"] == "FORBIDDEN"
