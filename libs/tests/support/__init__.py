"""A small record type for the kit's records tests (every backend runs the same ones)."""
