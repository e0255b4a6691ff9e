"""What the tests and the long runs (``reliability/``) build their inputs from.

Documents made in memory (``documents``) and an OpenAI-compatible chat server on loopback
(``llm_server``). They live here, not under ``tests/``, so that ``make reliability`` does not
depend on the test suite; nothing here imports the service.
"""
