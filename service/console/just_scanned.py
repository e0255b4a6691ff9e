"""The text of a scan the console has just sent, for the page it redirects to.

After a scan the browser is sent to the scan's own page (Post/Redirect/Get), so that a
reload asks for that page again instead of posting the form a second time. The service keeps
a scan's findings, not its text; the console, which sent the text, keeps it here for that
one view: taken once, for a minute at most, a few at a time, and only by the user who sent
it. A page answered by another process (several behind a load balancer) finds none and shows
the risks in context, as for any scan opened later.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict

from flask import Flask, current_app

KEEP_S = 60.0
MAX_TEXTS = 32


class JustScanned:
    """Texts by (user id, scan id), oldest first; the oldest go beyond MAX_TEXTS."""

    def __init__(self) -> None:
        self._texts: OrderedDict[tuple[str, str], tuple[float, str]] = OrderedDict()
        self._lock = threading.Lock()

    def keep(self, user_id: str, scan_id: str, text: str) -> None:
        with self._lock:
            self._texts[(user_id, scan_id)] = (time.monotonic() + KEEP_S, text)
            while len(self._texts) > MAX_TEXTS:
                self._texts.popitem(last=False)

    def take(self, user_id: str, scan_id: str) -> str | None:
        with self._lock:
            kept = self._texts.pop((user_id, scan_id), None)
        if kept is None or kept[0] < time.monotonic():
            return None
        return kept[1]


def init_app(app: Flask) -> None:
    app.extensions["riskscan.console.just_scanned"] = JustScanned()


def just_scanned() -> JustScanned:
    return current_app.extensions["riskscan.console.just_scanned"]
