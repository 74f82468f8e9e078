"""Event and request/reply contracts shared by the CRM services.

Pure data: subject names, payload models and the CloudEvents envelope. No I/O lives here,
so a consumer can validate what a producer sends without importing the producer.
"""
