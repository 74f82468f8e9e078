"""Outbound only: domain events -> the contract's CloudEvents (`publish.encode`), and
example events for the README, the contract tests and the benchmark (`examples`). Inbound
events are entry points (`crm_tasks.entrypoints.consumers`)."""
