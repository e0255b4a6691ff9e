"""The baseline for GET /api/v1/scans: a bare Flask app answering an empty list, on the
service's waitress settings (WAITRESS_THREADS, ident), with no auth, database or middleware."""

from __future__ import annotations

import os

from flask import Flask, jsonify

app = Flask(__name__)


@app.get("/health")
def health():
    return jsonify(status="ok")


@app.get("/api/v1/scans")
def scans():
    return jsonify(items=[], page=1, per_page=20, total=0)


if __name__ == "__main__":
    from waitress import serve

    serve(app, host="127.0.0.1", port=int(os.environ["PORT"]),
          threads=int(os.environ.get("WAITRESS_THREADS", "8")), ident="riskscan")
