"""Use cases shared by every entry point (GraphQL, NATS endpoints, consumers, import), so
the process rules hold on every path."""
