"""A bounded map shared by a process's threads: what the register keeps between requests."""

from __future__ import annotations

import threading
from collections import OrderedDict


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
