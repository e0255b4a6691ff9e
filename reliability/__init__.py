"""Reliability drivers: the API contract (schemathesis), load, faults, hostile files.

Each module has a CLI for the long run (``make reliability``); the tests in ``tests/`` run
short versions of the same code in CI. Traffic goes to 127.0.0.1 only.
"""
