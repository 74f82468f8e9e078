"""Who may do what on NATS: the platform's parties and what each one needs.

The NATS server's per-user permissions are generated from this table
(`crm_kit.nats_auth`), so whatever a party does on NATS must be declared here or the server
refuses it: a new durable consumer on another service's stream, a new request/reply call.
Every party is one NATS user (an nkey) and one signer of internal assertions
(`crm_kit.assertions`) under the same name.

- A service publishes only its own events (`crm.<service>.>`) and dead letters
  (`dlq.<service>.>`), serves only its own endpoints (`rpc.<service>.>`), follows its own
  stream with ephemeral consumers (its read index), consumes other streams only through
  the durables listed here (and, with ephemeral ordered consumers, the streams it
  `follows`: every instance hears every event of those), and makes only the requests
  listed here.
- `cli` is the operators' tools (`crm demo`, `win_model_cli train`) and the test and bench
  clients that call endpoints: requests only; every endpoint still checks the assertion.
- `provisioner` creates and updates the streams (`python -m crm_kit.nats_setup streams`,
  the Kubernetes init Job); nobody may delete or purge a stream.
"""

from __future__ import annotations

from dataclasses import dataclass

from . import capture, contacts, deals, export_pages, import_batches, webhooks
from .streams import SERVICES


@dataclass(frozen=True)
class Durable:
    """A durable consumer `name` on the stream of the service `owner`."""

    owner: str
    name: str


@dataclass(frozen=True)
class Party:
    name: str
    # A service: publishes crm.<name>.>, serves rpc.<name>.>, follows its own stream.
    service: bool = False
    durables: tuple[Durable, ...] = ()
    # Other services whose streams it follows with ephemeral ordered consumers (each
    # instance hears every event, as its read index does its own stream's).
    follows: tuple[str, ...] = ()
    # Request subjects it may send (NATS wildcards allowed).
    requests: tuple[str, ...] = ()
    # May create and update the platform's streams (never delete or purge them).
    provisions_streams: bool = False


PARTIES: tuple[Party, ...] = (
    Party(
        "contacts",
        service=True,
        durables=(
            # Captured emails, meetings and visits become interactions.
            Durable("capture", "contacts-captures"),
            # Teams and sharing settings: who sees which records (crm_kit.access_view).
            Durable("tasks", "contacts-access-view"),
        ),
        # ... and held in every instance (crm_kit.access_feed).
        follows=("tasks",),
        # An interaction's deal must exist (and be visible) when a user names it.
        requests=(deals.RPC_DEAL_GET,),
    ),
    Party(
        "deals",
        service=True,
        durables=(
            Durable("tasks", "deals-task-completed"),
            Durable("contacts", "deals-contacts-sync"),
            Durable("contacts", "deals-company-facts"),
            Durable("tasks", "deals-access-view"),
        ),
        # Teams and sharing settings held in every instance (crm_kit.access_feed).
        follows=("tasks",),
        # The deal importer resolves account names to company ids; an import batch asks
        # for its companies and contacts in one request; a deal's contacts and company
        # must exist when a user names them.
        requests=(
            contacts.RPC_COMPANY_FIND_BY_NAME,
            contacts.RPC_IMPORT_REFERENCES,
            contacts.RPC_RECORDS_CHECK,
            # An export page names its deals' companies.
            export_pages.RPC_EXPORT_NAMES,
        ),
    ),
    Party(
        "tasks",
        service=True,
        durables=(
            Durable("deals", "tasks-playbooks"),
            Durable("deals", "tasks-deal-closing"),
            Durable("deals", "tasks-rules-deals"),
            Durable("deals", "tasks-deal-owners"),
            Durable("contacts", "tasks-contact-merges"),
            Durable("contacts", "tasks-rules-contacts"),
            Durable("tasks", "tasks-rules-tasks"),
            # Automation rules on what the capture service captured.
            Durable("capture", "tasks-rules-capture"),
            Durable("tasks", "tasks-access-view"),
        ),
        # A task's deal, contact and company must exist when a user names them; an
        # automation rule's MOVE_DEAL action asks the deals service to move the deal; an
        # import batch of tasks asks for its deals and contacts in one request each.
        requests=(
            deals.RPC_DEAL_GET,
            contacts.RPC_RECORDS_CHECK,
            deals.RPC_DEAL_MOVE,
            # The platform's one `auditTrail(recordId)` is answered here: the other
            # services' trails are asked for the caller.
            contacts.RPC_AUDIT_TRAIL,
            deals.RPC_AUDIT_TRAIL,
            capture.RPC_AUDIT_TRAIL,
            webhooks.RPC_AUDIT_TRAIL,
            contacts.RPC_IMPORT_REFERENCES,
            deals.RPC_IMPORT_REFERENCES,
            # An export page names its tasks' contacts and companies.
            export_pages.RPC_EXPORT_NAMES,
        ),
    ),
    Party(
        "capture",
        service=True,
        # A contact created meanwhile resolves the suggestions for its addresses.
        durables=(Durable("contacts", "capture-contacts"),),
        # Matching participants, accepting a suggestion (as the accepting user), and
        # linking an email to an open deal.
        requests=(
            contacts.RPC_CONTACT_FIND_BY_EMAILS,
            contacts.RPC_COMPANY_FIND_BY_DOMAINS,
            contacts.RPC_CONTACT_CREATE,
            deals.RPC_DEALS_BY_CONTACT,
            deals.RPC_DEALS_BY_COMPANY,
        ),
    ),
    Party(
        "webhooks",
        service=True,
        # Every event of the other services may go out as a webhook; its own queue of due
        # deliveries is consumed with retries.
        durables=(
            Durable("contacts", "webhooks-intake"),
            Durable("deals", "webhooks-intake"),
            Durable("tasks", "webhooks-intake"),
            Durable("webhooks", "webhooks-dispatch"),
        ),
    ),
    Party(
        "imports",
        service=True,
        # Batches of mapped rows to the owner of each record type, and the undo of a job.
        requests=(
            *(import_batches.write_subject(kind) for kind in import_batches.OWNER_OF),
            *(
                import_batches.undo_subject(owner)
                for owner in sorted(set(import_batches.OWNER_OF.values()))
            ),
            # Pages of records for an export, read at each owner as the person exporting.
            *(export_pages.page_subject(kind) for kind in import_batches.OWNER_OF),
        ),
    ),
    Party("cli", requests=("rpc.>",)),
    Party("provisioner", provisions_streams=True),
)

PARTY_NAMES = tuple(party.name for party in PARTIES)
assert set(SERVICES) <= set(PARTY_NAMES), "every service is a party"


def party(name: str) -> Party:
    for candidate in PARTIES:
        if candidate.name == name:
            return candidate
    raise KeyError(f"no NATS party {name!r}; known: {list(PARTY_NAMES)}")
