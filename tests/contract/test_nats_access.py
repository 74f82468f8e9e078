"""Everything the services do on NATS is declared in the access table the server's
permissions are generated from (`crm_contracts.access`): otherwise the server refuses it."""

from __future__ import annotations

from crm_contracts.access import Durable, party
from crm_deals import config as deals_config
from crm_tasks.events.consume import SUBSCRIPTIONS


def test_every_durable_consumer_is_declared_for_its_service() -> None:
    used = {
        ("deals", Durable("tasks", deals_config.DURABLE_TASKS)),
        ("deals", Durable("contacts", deals_config.DURABLE_CONTACTS)),
        *(("tasks", Durable(sub.service, sub.durable)) for sub in SUBSCRIPTIONS),
    }
    declared = {(name, d) for name in ("contacts", "deals", "tasks") for d in party(name).durables}
    assert used == declared
