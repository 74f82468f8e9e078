"""The contacts domain: records, normalisation rules, duplicate detection and merging.
No framework imports here."""
