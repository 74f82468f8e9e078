"""The contacts service: contacts, companies and their interaction timeline."""
