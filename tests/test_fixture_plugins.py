"""The fixture plugins of tests/conftest.py share one namespace.

Two plugins that define the same fixture name do not clash loudly: the one registered last
wins for every test module, and tests written against the other fail for reasons far from
the cause (a `models_root` once did that to the registry's and the shadow trial's tests).
"""

from __future__ import annotations

import importlib
from collections import defaultdict

# pytest publishes no way to list a module's fixtures; its own type is pinned with pytest.
from _pytest.fixtures import FixtureFunctionDefinition

from tests import conftest


def fixtures_of(module) -> set[str]:
    return {name for name, value in vars(module).items()
            if isinstance(value, FixtureFunctionDefinition)}


def test_no_two_plugins_define_the_same_fixture() -> None:
    defined = defaultdict(list)
    for name in (*conftest.pytest_plugins, conftest.__name__):
        for fixture in fixtures_of(importlib.import_module(name)):
            defined[fixture].append(name)
    assert fixtures_of(importlib.import_module("tests.readers")), "no fixtures found at all"
    assert {fixture: where for fixture, where in defined.items() if len(where) > 1} == {}
