"""Use cases: what the GraphQL resolvers, the NATS endpoints and the event consumers call.
Each takes a `Scope` (a caller in a workspace, that workspace's store, the clock), so
tenancy is decided once, by whoever builds it."""
