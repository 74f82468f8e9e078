"""Deal and pipeline rules: money, versioned pipelines, exit criteria, staleness.

No framework imports here; errors are the kit's client-facing error types so that every
path (GraphQL, NATS, import) reports a rule the same way.
"""
