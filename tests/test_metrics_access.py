"""/metrics is for configured scrapers, its label values come from closed sets, and
credentials no client of ours could hold are refused before any work."""

from __future__ import annotations

import re

import pytest

from service.auth import tokens
from tests.helpers import assert_problem

OUTSIDE = {"REMOTE_ADDR": "203.0.113.9"}


def test_metrics_answer_loopback_by_default_and_refuse_other_addresses(client):
    assert client.get("/metrics").status_code == 200
    refused = client.get("/metrics", environ_base=OUTSIDE)
    body = assert_problem(refused, 403)
    assert "METRICS_ALLOWED_NETWORKS" in body["detail"]
    assert "riskscan_" not in refused.get_data(as_text=True)


def test_a_configured_network_may_scrape(make_app):
    client = make_app(METRICS_ALLOWED_NETWORKS=(
        __import__("ipaddress").ip_network("10.0.0.0/8"),)).test_client()
    assert client.get("/metrics", environ_base={"REMOTE_ADDR": "10.1.2.3"}).status_code == 200
    # Loopback is no longer in the list.
    assert client.get("/metrics").status_code == 403


def test_a_scraper_with_the_token_may_scrape_from_anywhere(make_app):
    client = make_app(METRICS_TOKEN="scrape-token-0123456789").test_client()
    allowed = client.get("/metrics", environ_base=OUTSIDE,
                         headers={"Authorization": "Bearer scrape-token-0123456789"})
    assert allowed.status_code == 200
    assert "riskscan_http_requests_total" in allowed.get_data(as_text=True)
    for header in ("Bearer scrape-token-012345678", "Bearer ", "Basic c2NyYXBlOg=="):
        assert client.get("/metrics", environ_base=OUTSIDE,
                          headers={"Authorization": header}).status_code == 403


@pytest.mark.parametrize("value", ["10.0.0.0/33", "not-a-network", "10.0.0.1,,x"])
def test_a_malformed_network_stops_start_up(value):
    from service.config import ConfigError, Settings

    with pytest.raises(ConfigError, match="METRICS_ALLOWED_NETWORKS"):
        Settings.from_env({"METRICS_ALLOWED_NETWORKS": value, "RISKSCAN_ENV": "testing"})


def test_invented_http_methods_do_not_mint_metric_series(client):
    for n in range(5):
        response = client.open("/api/v1/scans", method=f"BREW{n}")
        assert response.status_code in (400, 405)
    text = client.get("/metrics").get_data(as_text=True)
    assert "BREW" not in text
    methods = set(re.findall(r'riskscan_http_requests_total\{[^}]*method="([^"]+)"', text))
    assert methods <= {"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "other"}
    assert "other" in methods


def test_invalid_bearer_tokens_are_not_cached(client, accounts):
    _, headers = accounts.user()
    assert client.get("/api/v1/auth/me", headers=headers).status_code == 200
    before = tokens._signed_claims.cache_info().currsize
    for n in range(50):
        forged = f"eyJzdWIiOiAiYWRtaW4ifQ.forged-{n}.{'x' * 300}"
        assert client.get("/api/v1/auth/me",
                          headers={"Authorization": f"Bearer {forged}"}).status_code == 401
    assert tokens._signed_claims.cache_info().currsize == before


@pytest.mark.parametrize("path", ["/api/v1/auth/me", "/api/v1/auth/login", "/health"])
def test_an_oversized_authorization_header_is_refused_first(client, path):
    header = "Bearer " + "A" * 5000
    response = client.post(path, headers={"Authorization": header}, json={}) \
        if path.endswith("login") else client.get(path, headers={"Authorization": header})
    body = assert_problem(response, 431)
    assert "1024" in body["detail"]
