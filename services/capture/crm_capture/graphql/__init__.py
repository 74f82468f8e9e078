"""The GraphQL subgraph: what was captured, the suggestions to decide, the workspace's and
each user's capture settings, mailboxes, tracking sites, and uploads of messages and
calendars."""
