"""The OpenAPI spec and Swagger UI."""

from __future__ import annotations

import re
import shutil
import subprocess
import threading

import pytest
from openapi_spec_validator import validate
from werkzeug.serving import make_server

from tests.real_parts import require_or_skip


@pytest.fixture
def spec(client):
    response = client.get("/openapi.json")
    assert response.status_code == 200
    return response.get_json()


def test_spec_is_valid_openapi_3(spec):
    validate(spec)
    assert spec["openapi"].startswith("3.")


def test_every_api_route_is_in_the_spec(app, spec):
    documented = {(path, method) for path, ops in spec["paths"].items() for method in ops}
    for rule in app.url_map.iter_rules():
        if not rule.rule.startswith("/api/"):
            continue
        path = re.sub(r"<(?:[a-z]+:)?([a-z_]+)>", r"{\1}", rule.rule)
        for method in rule.methods - {"HEAD", "OPTIONS"}:
            assert (path, method.lower()) in documented, (path, method)


def test_every_operation_on_a_created_scan_is_linked_to_its_scan_id(spec):
    """Issue #75, item 11: a contract fuzzer followed POST /scans into DELETE
    /scans/{scan_id} with a finding's integer id. Every operation whose only path parameter
    is the scan's is linked from the 201 to the answer's scan_id, and nothing else; but its
    file, which a scan of pasted text does not have."""
    links = spec["paths"]["/api/v1/scans"]["post"]["responses"]["201"]["links"]
    by_operation = {link["operationId"]: link["parameters"] for link in links.values()}
    on_a_scan = {op["operationId"] for path, ops in spec["paths"].items()
                 if path.startswith("/api/v1/scans/{scan_id}") and "{finding_id}" not in path
                 for op in ops.values() if isinstance(op, dict) and "operationId" in op}
    assert set(by_operation) == on_a_scan - {"scans_file"}
    assert all(parameters == {"scan_id": "$response.body#/scan_id"}
               for parameters in by_operation.values())


def test_errors_are_documented_as_problem_json(spec):
    assert "Problem" in spec["components"]["schemas"]
    for path, operations in spec["paths"].items():
        for method, operation in operations.items():
            for status, response in operation["responses"].items():
                if int(status) >= 400:
                    assert "application/problem+json" in response["content"], (path, method,
                                                                                status)


def test_bearer_scheme_guards_protected_operations(spec):
    schemes = spec["components"]["securitySchemes"]
    assert schemes["token_auth"] == {"type": "http", "scheme": "bearer"} | {
        k: v for k, v in schemes["token_auth"].items() if k == "description"}
    scans = spec["paths"]["/api/v1/scans"]["post"]
    assert scans["security"] == [{"token_auth": []}]
    assert {"401", "413", "415", "422"} <= set(scans["responses"])
    assert "multipart/form-data" in scans["requestBody"]["content"]
    assert "application/json" in scans["requestBody"]["content"]
    users = spec["paths"]["/api/v1/users"]["get"]
    assert "403" in users["responses"]
    login = spec["paths"]["/api/v1/auth/login"]["post"]
    assert "application/x-www-form-urlencoded" in login["requestBody"]["content"]
    assert "security" not in login


def test_docs_page_is_served_from_local_files_only(client):
    page = client.get("/docs")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert "https://" not in html and "http://" not in html  # no CDN
    for asset in ("swagger-ui-bundle.js", "swagger-ui.css"):
        with client.get(f"/docs/assets/{asset}") as response:
            assert response.status_code == 200
    csp = page.headers["Content-Security-Policy"]
    assert "script-src 'self'" in csp and "unsafe-eval" not in csp


CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


@pytest.mark.slow
def test_swagger_ui_in_a_real_browser_lists_the_scans_endpoints(app, tmp_path):
    if CHROMIUM is None:
        require_or_skip("chromium is not installed (.ci/run installs it)")
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        result = subprocess.run(
            [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
             "--no-first-run", "--disable-background-networking", "--disable-component-update",
             "--disable-sync", f"--user-data-dir={tmp_path}", "--virtual-time-budget=15000",
             "--dump-dom", f"http://127.0.0.1:{server.server_port}/docs"],
            check=False, capture_output=True, text=True, timeout=120)
    finally:
        server.shutdown()
    dom = result.stdout
    assert "swagger-ui" in dom, result.stderr[-2000:]
    # Rendered by Swagger UI's JavaScript from /openapi.json, not present in the HTML.
    assert "/api/v1/scans" in dom
    assert "/api/v1/scans/{scan_id}/file" in dom
    assert "Authorize" in dom
