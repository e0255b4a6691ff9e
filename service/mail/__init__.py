"""Riskscan writes to people (issue #87): an invitation's link, a password reset's link.

A message is a row of the outbox (queued.py), written in the transaction that caused it, so
that it is sent if and only if its cause committed; a worker of the jobs engine sends it
through the company's SMTP relay (attempts.py, relay.py), retried with backoff while the
relay is down and given up after MAIL_RETRY_HOURS, the failure kept for the admins. A
request never waits on the relay. Without SMTP_HOST nothing is written and nothing sent.
Templates are Jinja2's (compose.py), every message with a plain text part, and an HTML one.
"""
