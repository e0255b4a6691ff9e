"""How long a job waits after a Celery worker is killed: ``python -m bench.redelivery
--broker rabbitmq|redis --model-dir DIR``.

The parts of docs/deploying.md on one machine: ``python -m service`` on SQLite (WAL), the
broker (a RabbitMQ node, or a Redis server with the service's own visibility timeout,
``CELERY_VISIBILITY_TIMEOUT_S``, 600 s by default), and two Celery workers
(``celery -A service.jobs worker --pool=prefork --concurrency=1``). A job of ``--documents``
status reports (20, of 200 sentences of ml/data/test.jsonl each: long enough that a
worker is killed mid-document) is sent; once three documents are done and the first worker is in the
middle of one, its whole process group is killed (SIGKILL, as a crash). Measured from the
kill: when the surviving worker received the dead one's task (its log), and when the job
ended (its ``finished_at``, polled). Prints one line; the figures go to docs/jobs.md.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
import tempfile
import time
from pathlib import Path

import requests

from bench.jobs import PASSWORD, SECRET_KEY, SENTENCES_PER_DOCUMENT, documents, log
from reliability.servers import wait_until

PIECES = 200 // SENTENCES_PER_DOCUMENT  # bench.jobs' reports of 10 sentences, 20 to a document


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.redelivery",
                                     description=__doc__.split("\n\n")[0])
    parser.add_argument("--broker", choices=("rabbitmq", "redis"), required=True)
    parser.add_argument("--model-dir", default=os.environ.get("MODEL_DIR") or "models_cache")
    parser.add_argument("--documents", type=int, default=20)
    parser.add_argument("--visibility-timeout", type=int, default=600,
                        help="CELERY_VISIBILITY_TIMEOUT_S (Redis only)")
    args = parser.parse_args(argv)

    from bench.http import Server
    from reliability.cluster import CeleryWorker, RabbitMQServer, RedisServer
    from service.analysis.transformer import resolve_model_dir

    model_dir = str(resolve_model_dir(args.model_dir).resolve())
    with tempfile.TemporaryDirectory(prefix="riskscan-bench-redelivery-") as tmp, \
            contextlib.ExitStack() as cleanup:
        workdir = Path(tmp)
        if args.broker == "rabbitmq":
            server = RabbitMQServer(workdir / "rabbitmq").start()
            broker_url = server.url()
        else:
            server = RedisServer(workdir / "redis").start()
            broker_url = server.url(1)
        cleanup.callback(server.stop)
        settings = {
            "RISKSCAN_ENV": "production", "SECRET_KEY": SECRET_KEY,
            "DATABASE_URL": f"sqlite:///{workdir / 'bench.db'}",
            "UPLOAD_DIR": str(workdir / "uploads"), "MODEL_DIR": model_dir,
            "MODEL_DEVICE": "cpu", "RATE_LIMIT_ENABLED": "false", "LOG_LEVEL": "WARNING",
            "HOST": "127.0.0.1", "CELERY_BROKER_URL": broker_url,
            "CELERY_VISIBILITY_TIMEOUT_S": str(args.visibility_timeout),
        }
        log(f"starting the API and two workers on {args.broker}")
        api = Server(["-m", "service"], settings)
        cleanup.callback(api.stop)
        workers = [CeleryWorker(name, {**os.environ, **settings}, workdir / f"{name}.log")
                   for name in ("w1", "w2")]
        for worker in workers:
            cleanup.callback(worker.stop)
            worker.start()
        for worker in workers:
            worker.wait_ready()
        requests.post(f"{api.url}/api/v1/auth/register", timeout=30, json={
            "email": "bench-redelivery@example.com", "password": PASSWORD}).raise_for_status()
        login = requests.post(f"{api.url}/api/v1/auth/login", timeout=30, json={
            "email": "bench-redelivery@example.com", "password": PASSWORD})
        login.raise_for_status()
        headers = {"Authorization": f"Bearer {login.json()['access_token']}"}
        pieces = documents(args.documents * PIECES)
        reports = [b"".join(pieces[index::args.documents]) for index in range(args.documents)]
        response = requests.post(f"{api.url}/api/v1/jobs", headers=headers, timeout=120, files=[
            ("files", (f"report-{index}.txt", data, "text/plain"))
            for index, data in enumerate(reports)])
        response.raise_for_status()
        job_url = f"{api.url}/api/v1/jobs/{response.json()['job_id']}"

        def job() -> dict:
            return requests.get(job_url, headers=headers, timeout=30).json()

        victim, survivor = workers

        def victim_scanning() -> bool:
            state = job()
            return (state["done"] >= 3 and len(victim.unfinished_tasks()) == 1
                    and "running" in {document["status"] for document in state["documents"]})

        if not wait_until(victim_scanning, 300, 0.05):
            raise RuntimeError(f"the first worker never held a document:\n{victim.log_tail()}")
        victim.kill()
        killed_at = time.monotonic()
        [orphan] = victim.unfinished_tasks()
        left = args.documents - job()["done"] - job()["failed"]
        wait_s = args.visibility_timeout + 300 if args.broker == "redis" else 300
        if not wait_until(lambda: survivor.task_counts()[0][orphan] >= 1, wait_s, 0.1):
            raise RuntimeError(f"the dead worker's task never came back:\n{survivor.log_tail()}")
        redelivered_s = time.monotonic() - killed_at
        if not wait_until(lambda: job()["finished_at"] is not None, wait_s, 0.2):
            raise RuntimeError(f"the job did not end: {job()}")
        done_s = time.monotonic() - killed_at
        outcome = job()

    timeout = f", visibility timeout {args.visibility_timeout} s" if args.broker == "redis" else ""
    print(f"{args.broker}{timeout}: a worker killed with {left} of {args.documents} documents "
          f"left; its task delivered again {redelivered_s:.1f} s after, the job ended "
          f"{done_s:.1f} s after ({outcome['done']} done, {outcome['failed']} failed) "
          f"on {os.cpu_count()} cores")
    return 0


if __name__ == "__main__":
    sys.exit(main())
