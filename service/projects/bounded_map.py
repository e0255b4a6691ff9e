"""A bounded map shared by an app's threads: what the register keeps between requests.

Each map lives in ``app.extensions`` (made by its module's init_app), so two apps in one
process (the tests make one a test) never share what they keep.
"""

from __future__ import annotations

import threading
from collections import OrderedDict

from flask import current_app


class Kept:
    """Up to ``size`` values; storing one more drops the one stored longest ago."""

    def __init__(self, size: int):
        self.size = size
        self._items: OrderedDict = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key):
        with self._lock:
            return self._items.get(key)

    def put(self, key, value) -> None:
        with self._lock:
            self._items[key] = value
            self._items.move_to_end(key)
            while len(self._items) > self.size:
                self._items.popitem(last=False)

    def clear(self) -> None:
        with self._lock:
            self._items.clear()


def kept(name: str) -> Kept:
    """This app's map ``name``."""
    return current_app.extensions[name]


def forget(app) -> None:
    """Empty every map ``app`` keeps: what a test starts from."""
    for value in app.extensions.values():
        if isinstance(value, Kept):
            value.clear()
