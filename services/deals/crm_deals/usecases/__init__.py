"""Use cases: what GraphQL, the NATS endpoints, the event consumers and the importer ask
of the service, one module per capability. Each takes a `Scope` (one caller in one
workspace, with the store scoped to it and the clock) and typed inputs (`inputs.py`),
validates (errors name the client's input field at fault), applies the domain's
behaviour and hands the store the changed entities, whose events the store writes with
them."""
