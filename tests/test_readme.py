"""The README is the operator's manual: it must name every setting and endpoint."""

from pathlib import Path

from service.config import Settings

README = (Path(__file__).resolve().parent.parent / "README.md").read_text(encoding="utf-8")


def test_every_setting_is_documented():
    missing = [name for name, _, _ in Settings.documentation() if f"`{name}`" not in README]
    assert missing == []


def test_every_api_route_is_documented(app):
    for rule in app.url_map.iter_rules():
        if rule.rule.startswith("/api/v1/"):
            path = rule.rule.replace("<", "{").replace(">", "}")
            path = path.replace("{scan_id}", "{id}").replace("{user_id}", "{id}")
            for method in rule.methods - {"HEAD", "OPTIONS"}:
                assert f"`{method} {path}`" in README, (method, path)
