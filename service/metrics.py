"""Prometheus metrics at GET /metrics, for configured scrapers only.

A scraper is a client whose address is in METRICS_ALLOWED_NETWORKS (loopback by default)
or that sends ``Authorization: Bearer <METRICS_TOKEN>``; anyone else gets a 403. Label
values come from closed sets (the route's rule, a known HTTP method, the status), so no
client can mint new series. The metrics live in prometheus-client's process-wide registry, which is thread-safe: the
waitress threads of one process share them. With several processes, each keeps its own
(scrape each one, or run with PROMETHEUS_MULTIPROC_DIR set, see docs/operations.md).
"""

from __future__ import annotations

import hmac
import ipaddress
import os
import time

from flask import Blueprint, Flask, Response, g, request
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    Info,
    generate_latest,
)

import service.analysis.counters  # noqa: F401

# The model's own counters (sentences classified, the cascade's screen) live apart, needing
# no Flask; imported here, /metrics lists them from the start, at 0.
from service.config import current_settings

REQUESTS = Counter("riskscan_http_requests_total", "HTTP requests answered",
                   ["endpoint", "method", "status"])
REQUEST_SECONDS = Histogram("riskscan_http_request_duration_seconds",
                            "Time to answer an HTTP request", ["endpoint", "method"])
# ``version``: the model that made the scan (a version folder, `<fast>+<reader>`, or the
# LLM's model name): a closed set, the registry's folders and the settings.
SCANS = Counter("riskscan_scans_total", "Scans stored", ["source", "version"])
INFERENCE_SECONDS = Histogram(
    "riskscan_inference_seconds", "Time an analyzer took for one scan", ["source", "version"],
    buckets=(0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120))
MODEL = Info("riskscan_model", "The in-process model that serves (the active version)")
LLM_CALLS = Counter("riskscan_llm_calls_total", "Calls to the LLM by outcome", ["status"])
JOB_QUEUE = Gauge("riskscan_job_documents_queued",
                  "Documents of batch jobs waiting for a worker, read from the database when "
                  "scraped (every process agrees: the queue is the database's)")
JOB_DOCUMENTS = Counter("riskscan_job_documents_total",
                        "Documents of batch jobs by outcome (done, failed, cancelled)",
                        ["status"])

# Any other method (werkzeug routes whatever token a client sends) is counted as "other".
HTTP_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})

metrics = Blueprint("metrics", __name__)


@metrics.route("/metrics")
def export():
    """Prometheus text format."""
    if not _is_scraper():
        from service.errors import APIError

        raise APIError(403, "Metrics are served to configured scrapers only "
                            "(METRICS_ALLOWED_NETWORKS, METRICS_TOKEN).")
    registry = REGISTRY
    if "PROMETHEUS_MULTIPROC_DIR" in os.environ:
        from prometheus_client import multiprocess

        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
    return Response(generate_latest(registry), mimetype=CONTENT_TYPE_LATEST)


def _is_scraper() -> bool:
    settings = current_settings()
    token = settings.METRICS_TOKEN
    if token and request.authorization is not None and request.authorization.token \
            and hmac.compare_digest(request.authorization.token.encode(), token.encode()):
        return True
    try:
        address = ipaddress.ip_address(request.remote_addr or "")
    except ValueError:
        return False
    if address.version == 6 and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    return any(address in network for network in settings.METRICS_ALLOWED_NETWORKS)


def init_app(app: Flask) -> None:
    app.register_blueprint(metrics)

    @app.before_request
    def start_clock():
        g.metrics_started = time.perf_counter()

    # (rule, method, status) -> its counter and histogram: labels() validates and locks on
    # every call; the children it returns are the same each time, so they are kept here.
    children: dict[tuple, tuple] = {}

    @app.after_request
    def count_request(response):
        # The route's rule, not the path: ids must not become label values.
        endpoint = request.url_rule.rule if request.url_rule else "unmatched"
        method = request.method if request.method in HTTP_METHODS else "other"
        key = (endpoint, method, response.status_code)
        counters = children.get(key)
        if counters is None:
            counters = children[key] = (REQUESTS.labels(endpoint, key[1], str(key[2])),
                                        REQUEST_SECONDS.labels(endpoint, key[1]))
        counters[0].inc()
        started = g.get("metrics_started")
        if started is not None:
            counters[1].observe(time.perf_counter() - started)
        return response
