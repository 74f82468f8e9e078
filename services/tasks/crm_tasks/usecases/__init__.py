"""Use cases: what the GraphQL resolvers, the NATS endpoints and the event handlers call.
They take a workspace-scoped store, so tenancy is decided once, by whoever builds them."""
