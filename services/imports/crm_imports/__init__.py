"""The import service: files in, records created by their owners (issue 17)."""
