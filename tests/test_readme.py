"""The operator's manual must name every setting and endpoint. The README is the door; the
tables live in docs/: the settings in docs/configuration.md, the endpoints in docs/api.md."""

import re
from pathlib import Path

from service.config import Settings

DOCS = Path(__file__).resolve().parent.parent / "docs"
CONFIGURATION = (DOCS / "configuration.md").read_text(encoding="utf-8")
API = (DOCS / "api.md").read_text(encoding="utf-8")


def test_every_setting_is_documented():
    missing = [name for name, _, _ in Settings.documentation()
               if f"`{name}`" not in CONFIGURATION]
    assert missing == []


def test_every_api_route_is_documented(app):
    for rule in app.url_map.iter_rules():
        if rule.rule.startswith("/api/v1/"):
            path = re.sub(r"<(?:[a-z]+:)?([a-z_]+)>", r"{\1}", rule.rule)
            path = path.replace("{scan_id}", "{id}").replace("{user_id}", "{id}")
            for method in rule.methods - {"HEAD", "OPTIONS"}:
                assert f"`{method} {path}`" in API, (method, path)
