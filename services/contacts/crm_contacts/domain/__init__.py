"""The contacts domain: companies, contacts and their interactions, the rules that keep
them clean, the events their changes raise, duplicate detection and merging. No
framework imports here (the kit's errors, ids and entity base only)."""
