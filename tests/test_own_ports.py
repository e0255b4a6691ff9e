"""The servers the tests and `make reliability` start take an answer on their port as theirs
only when their own process holds it (reliability/servers.py: listens).

A port free when chosen can be taken by another process before ours binds it: ours then
exits while the port still answers, and the run went on against a stranger's server.
"""

from __future__ import annotations

import http.server
import threading

import pytest

from reliability.servers import LOOPBACK, ServiceProcess


class _Health(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        self.send_response(200)
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"{}")

    def log_message(self, *args):
        pass


@pytest.fixture
def impostor():
    """Another server answering /health 200 on a loopback port: its port."""
    server = http.server.ThreadingHTTPServer((LOOPBACK, 0), _Health)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server.server_address[1]
    server.shutdown()
    server.server_close()
    thread.join(timeout=10)


def test_a_service_whose_port_another_server_answers_does_not_start(tmp_path, impostor):
    service = ServiceProcess({"DATABASE_URL": f"sqlite:///{tmp_path / 'riskscan.db'}",
                              "MODEL_DIR": "off", "UPLOAD_DIR": str(tmp_path / "uploads")},
                             tmp_path / "service.log", port=impostor)
    try:
        with pytest.raises(RuntimeError, match="exited"):
            service.start(timeout_s=60)
    finally:
        service.stop()


def test_a_service_on_a_port_of_its_own_starts(tmp_path):
    with ServiceProcess({"DATABASE_URL": f"sqlite:///{tmp_path / 'riskscan.db'}",
                         "MODEL_DIR": "off", "UPLOAD_DIR": str(tmp_path / "uploads")},
                        tmp_path / "service.log") as service:
        assert service.alive()
