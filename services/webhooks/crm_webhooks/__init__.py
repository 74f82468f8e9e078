"""The webhooks service: signed outbound webhooks of the platform's events."""
