"""Everything the services do on NATS is declared in the access table the server's
permissions are generated from (`crm_contracts.access`): otherwise the server refuses it."""

from __future__ import annotations

from crm_contracts.access import Durable, party
from crm_contracts.envelope import service_of
from crm_deals import config as deals_config
from crm_kit.memory_db import MemoryDatabase
from crm_tasks.entrypoints.consumers import subscriptions
from crm_tasks.store.memory import memory_store
from crm_tasks.usecases.scope import scopes

TASKS_CONSUMERS = subscriptions(scopes(memory_store(MemoryDatabase())))


def test_every_durable_consumer_is_declared_for_its_service() -> None:
    used = {
        ("deals", Durable("tasks", deals_config.DURABLE_TASKS)),
        ("deals", Durable("contacts", deals_config.DURABLE_CONTACTS)),
        ("deals", Durable("contacts", deals_config.DURABLE_COMPANY_FACTS)),
        *(("tasks", Durable(service_of(sub.subjects[0]), sub.durable)) for sub in TASKS_CONSUMERS),
    }
    declared = {(name, d) for name in ("contacts", "deals", "tasks") for d in party(name).durables}
    assert used == declared


def test_a_service_may_answer_the_longest_request_in_time() -> None:
    """NATS lets a service answer a request only within the response window: the win
    model's training (the CLI waits up to TRAIN_TIMEOUT) must fit."""
    from crm_deals.win_model_cli import TRAIN_TIMEOUT
    from crm_kit.nats_auth import RESPONSE_WINDOW, permissions

    assert RESPONSE_WINDOW.endswith("m") and int(RESPONSE_WINDOW[:-1]) * 60 > TRAIN_TIMEOUT
    assert permissions(party("deals"))["allow_responses"]["expires"] == RESPONSE_WINDOW
