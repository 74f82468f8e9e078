"""Use cases: what GraphQL, SMTP, the IMAP poller, the tracking endpoint, the consumers and
the NATS endpoints ask of the service, one module per capability. Each takes a `Scope`
(one caller in one workspace, with the store scoped to it, the directory of contacts and
deals, the secret box, the service's settings and the clock)."""
