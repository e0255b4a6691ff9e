"""Webhooks: a project's register events, signed and sent to its owners' receivers
(docs/webhooks.md). The events are recorded by service/outbox.py; sent by delivery.py."""
