"""Events this service publishes (publish.py) and the handlers for those it consumes."""
