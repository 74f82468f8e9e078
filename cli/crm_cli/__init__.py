"""`crm`: the platform's command line (tokens, imports, the local stack)."""
