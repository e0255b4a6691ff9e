"""Batch jobs on Celery workers: ``python -m bench.jobs --model-dir DIR``.

1. **Documents per second, 1 worker against 2**, on the same machine: the same job of N
   small documents (``--documents``, default 80: .txt status reports of 10 sentences of
   ml/data/test.jsonl each) sent with POST /api/v1/jobs, timed by the job itself, from its
   ``created_at`` to its ``finished_at`` (the server's clock: the client's polling does not
   count). The parts are the scaled-out ones of docs/deploying.md on one machine:
   ``python -m service`` on SQLite (WAL), a Redis server as the broker, and two Celery
   workers (``celery -A service.jobs worker --pool=prefork --concurrency=1``), each with the
   model loaded. Both workers stay up throughout; for a 1-worker round the second stops
   consuming the queue (Celery's ``cancel_consumer``) and takes it up again for a 2-worker
   round, so that no round pays a model load. The rounds alternate, which one goes first
   flipping every round; the ratio is the median of the rounds' ratios.
2. **The API's latency for enqueueing**: POST /api/v1/jobs with one document (answered 202
   once the job is committed, its file written and its task sent) against POST
   /api/v1/scans with the same document as a file (answered 201 once it is read, classified
   and stored), alternating, one client, medians and 95th percentiles. Meanwhile the workers
   consume nothing (their jobs would take the cores the requests are timed on); those jobs
   are cancelled and their tasks purged afterwards.

These machines are shared and noisy, and every part here runs on the same cores: only the
ratios of runs alternating in one process count. The client, the API, the workers and Redis
share the machine's cores, so on 2 cores the second worker gains what the first leaves idle
(the API, the database and the waits between documents), not a second core of its own.
Prints a table; the raw figures go to ``bench/results.json`` under ``"jobs"`` (its other
keys are kept). About 2 minutes on 2 cores.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import random
import socket
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import requests

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

ROOT = Path(__file__).resolve().parent.parent
TEST = ROOT / "ml" / "data" / "test.jsonl"
SECRET_KEY = "bench-secret-key-0123456789"  # bench/http.py's
PASSWORD = "bench-password-123"
SENTENCES_PER_DOCUMENT = 10


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def documents(count: int, seed: int = 7) -> list[bytes]:
    """``count`` status reports of SENTENCES_PER_DOCUMENT sentences of ml/data/test.jsonl."""
    sentences = [json.loads(line)["text"] for line in TEST.read_text(encoding="utf-8")
                 .splitlines() if line.strip()]
    rng = random.Random(seed)
    return [("\n".join(rng.sample(sentences, SENTENCES_PER_DOCUMENT)) + "\n").encode()
            for _ in range(count)]


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q / 100 * len(ordered)) - 1))]


class Bench:
    """The API, its token, the broker and the two workers' names."""

    def __init__(self, url: str, token: str, broker_url: str, workers: list[str]):
        from service.jobs.queue import QUEUE, celery

        self.url = url
        self.headers = {"Authorization": f"Bearer {token}"}
        self.session = requests.Session()
        self.queue = QUEUE
        self.control = celery.control
        celery.conf.broker_url = broker_url
        self.workers = workers
        self.consuming = set(workers)

    def consume(self, workers: set[str]) -> None:
        """Only ``workers`` take tasks from the queue."""
        for worker in self.workers:
            if worker in workers and worker not in self.consuming:
                replies = self.control.add_consumer(self.queue, destination=[worker],
                                                    reply=True, timeout=10)
            elif worker not in workers and worker in self.consuming:
                replies = self.control.cancel_consumer(self.queue, destination=[worker],
                                                       reply=True, timeout=10)
            else:
                continue
            if not replies:
                raise RuntimeError(f"worker {worker} did not answer the remote control")
        self.consuming = set(workers)

    def submit(self, files: list[tuple[str, bytes]]) -> requests.Response:
        return self.session.post(f"{self.url}/api/v1/jobs", headers=self.headers, timeout=120,
                                 files=[("files", (name, data, "text/plain"))
                                        for name, data in files])

    def job(self, job_id: str) -> dict:
        response = self.session.get(f"{self.url}/api/v1/jobs/{job_id}", headers=self.headers,
                                    timeout=30)
        response.raise_for_status()
        return response.json()

    def run_job(self, files: list[tuple[str, bytes]], timeout_s: float = 600) -> dict:
        """Send the job, wait for it; its documents per second by its own timestamps."""
        response = self.submit(files)
        if response.status_code != 202:
            raise RuntimeError(f"POST /api/v1/jobs: {response.status_code} {response.text}")
        job_id = response.json()["job_id"]
        deadline = time.monotonic() + timeout_s
        while (job := self.job(job_id))["status"] not in ("done", "cancelled"):
            if time.monotonic() > deadline:
                raise RuntimeError(f"job {job_id} not done in {timeout_s:.0f} s: {job}")
            time.sleep(0.2)
        if job["failed"]:
            errors = {document["error"] for document in job["documents"] if document["error"]}
            raise RuntimeError(f"{job['failed']} documents failed: {errors}")
        seconds = (datetime.fromisoformat(job["finished_at"])
                   - datetime.fromisoformat(job["created_at"])).total_seconds()
        return {"documents": job["total"], "seconds": seconds,
                "documents_per_s": job["total"] / seconds}


def throughput(bench: Bench, corpus: list[bytes], rounds: int) -> dict:
    files = [(f"report-{index}.txt", data) for index, data in enumerate(corpus)]
    one, two = set(bench.workers[:1]), set(bench.workers)
    runs: dict[str, list[dict]] = {"1 worker": [], "2 workers": []}
    for round_ in range(rounds):
        order = [("1 worker", one), ("2 workers", two)]
        for name, workers in order[::-1 if round_ % 2 else 1]:
            bench.consume(workers)
            runs[name].append(bench.run_job(files))
            log(f"  round {round_ + 1}, {name}: {runs[name][-1]['documents_per_s']:.2f} "
                f"documents/s ({runs[name][-1]['seconds']:.1f} s)")
    bench.consume(two)
    ratios = [b["documents_per_s"] / a["documents_per_s"]
              for a, b in zip(runs["1 worker"], runs["2 workers"], strict=True)]
    return {"rounds": rounds, "documents": len(corpus),
            "sentences_per_document": SENTENCES_PER_DOCUMENT,
            "documents_per_s": {name: statistics.median(run["documents_per_s"] for run in values)
                                for name, values in runs.items()},
            "runs": runs, "ratios": ratios, "median_ratio": statistics.median(ratios)}


def enqueue_latency(bench: Bench, document: bytes, requests_each: int,
                    broker) -> dict:
    """POST /api/v1/jobs of one document against POST /api/v1/scans of it, alternating."""
    bench.consume(set())
    latencies: dict[str, list[float]] = {"jobs": [], "scans": []}
    job_ids = []

    def post_job() -> None:
        response = bench.submit([("report.txt", document)])
        assert response.status_code == 202, response.text
        job_ids.append(response.json()["job_id"])

    def post_scan() -> None:
        response = bench.session.post(f"{bench.url}/api/v1/scans", headers=bench.headers,
                                      timeout=120,
                                      files={"file": ("report.txt", document, "text/plain")})
        assert response.status_code == 201, response.text

    calls = {"jobs": post_job, "scans": post_scan}
    for index in range(requests_each + 3):  # the first 3 of each are a warm-up
        for name in list(calls)[::-1 if index % 2 else 1]:
            started = time.perf_counter()
            calls[name]()
            if index >= 3:
                latencies[name].append(time.perf_counter() - started)
    for job_id in job_ids:  # nothing left for the throughput rounds
        bench.session.delete(f"{bench.url}/api/v1/jobs/{job_id}", headers=bench.headers,
                             timeout=30).raise_for_status()
    broker.delete(bench.queue)
    bench.consume(set(bench.workers))
    summary = {name: {"p50_s": statistics.median(values), "p95_s": percentile(values, 95),
                      "requests": len(values)}
               for name, values in latencies.items()}
    return {**summary, "p50_ratio": summary["jobs"]["p50_s"] / summary["scans"]["p50_s"],
            "p95_ratio": summary["jobs"]["p95_s"] / summary["scans"]["p95_s"]}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.jobs",
                                     description=__doc__.split("\n\n")[0])
    parser.add_argument("--model-dir", default=os.environ.get("MODEL_DIR") or "models_cache")
    parser.add_argument("--documents", type=int, default=80, help="documents in each job")
    parser.add_argument("--rounds", type=int, default=4,
                        help="throughput rounds (each runs the job with 1 and with 2 workers)")
    parser.add_argument("--requests", type=int, default=30,
                        help="timed POSTs of each kind for the enqueueing latency")
    parser.add_argument("--output", default="bench/results.json",
                        help="JSON file; its key 'jobs' is replaced, the others kept")
    args = parser.parse_args(argv)

    from bench.http import Server
    from reliability.cluster import CeleryWorker, RedisServer
    from service.analysis.transformer import resolve_model_dir

    model_dir = str(resolve_model_dir(args.model_dir).resolve())
    started = time.time()
    load_average = os.getloadavg()[0]
    corpus = documents(args.documents)
    with tempfile.TemporaryDirectory(prefix="riskscan-bench-jobs-") as tmp, \
            contextlib.ExitStack() as cleanup:
        workdir = Path(tmp)
        redis_server = RedisServer(workdir / "redis").start()
        cleanup.callback(redis_server.stop)
        broker = redis_server.client(1)
        cleanup.callback(broker.close)
        settings = {
            "RISKSCAN_ENV": "production", "SECRET_KEY": SECRET_KEY,
            "DATABASE_URL": f"sqlite:///{workdir / 'bench.db'}",  # WAL (service/__init__.py)
            "UPLOAD_DIR": str(workdir / "uploads"), "MODEL_DIR": model_dir,
            "MODEL_DEVICE": "cpu", "RATE_LIMIT_ENABLED": "false", "LOG_LEVEL": "WARNING",
            "HOST": "127.0.0.1", "CELERY_BROKER_URL": redis_server.url(1),
        }
        log("starting the API (it migrates the database), then two workers")
        api = Server(["-m", "service"], settings)
        cleanup.callback(api.stop)
        names = ["w1", "w2"]
        workers = [CeleryWorker(name, {**os.environ, **settings}, workdir / f"{name}.log")
                   for name in names]
        for worker in workers:
            cleanup.callback(worker.stop)
            worker.start()
        for worker in workers:
            worker.wait_ready()
        host = socket.gethostname()
        requests.post(f"{api.url}/api/v1/auth/register", timeout=30, json={
            "email": "bench-jobs@example.com", "password": PASSWORD}).raise_for_status()
        login = requests.post(f"{api.url}/api/v1/auth/login", timeout=30, json={
            "email": "bench-jobs@example.com", "password": PASSWORD})
        login.raise_for_status()
        bench = Bench(api.url, login.json()["access_token"], redis_server.url(1),
                      [f"{name}@{host}" for name in names])

        log("warm-up: a job on both workers (each loads the model on its first document)")
        warm = bench.run_job([(f"warm-{index}.txt", data)
                              for index, data in enumerate(corpus[:8])])
        log(f"  {warm['seconds']:.1f} s")
        log(f"1. POST /api/v1/jobs vs POST /api/v1/scans, one document, "
            f"{args.requests} each, alternating")
        latency = enqueue_latency(bench, corpus[0], args.requests, broker)
        log(f"  jobs {latency['jobs']['p50_s'] * 1000:.1f} ms, scans "
            f"{latency['scans']['p50_s'] * 1000:.1f} ms (p50)")
        log(f"2. a job of {args.documents} documents on 1 and on 2 workers, "
            f"{args.rounds} rounds")
        jobs = throughput(bench, corpus, args.rounds)

    results = {
        "machine": {"nproc": os.cpu_count(),
                    "date": datetime.now(UTC).isoformat(timespec="seconds"),
                    "model": Path(model_dir).name, "load_average_at_start": load_average,
                    "seconds": round(time.time() - started)},
        "throughput": jobs, "enqueue_latency": latency,
    }
    output = Path(args.output)
    stored = {}
    with contextlib.suppress(FileNotFoundError, json.JSONDecodeError):
        stored = json.loads(output.read_text(encoding="utf-8"))
    stored["jobs"] = results
    output.write_text(json.dumps(stored, indent=2) + "\n", encoding="utf-8")

    rate = jobs["documents_per_s"]
    rows = [
        ((f"a job of {args.documents} documents ({SENTENCES_PER_DOCUMENT} sentences each), "
          f"2 Celery workers vs 1, same machine (median of {args.rounds} rounds' ratios)"),
         f"{rate['2 workers']:.2f} vs {rate['1 worker']:.2f} documents/s",
         jobs["median_ratio"]),
        ("POST /api/v1/jobs (1 document, 202) vs POST /api/v1/scans (same document, 201), p50",
         f"{latency['jobs']['p50_s'] * 1000:.1f} vs {latency['scans']['p50_s'] * 1000:.1f} ms",
         latency["p50_ratio"]),
        ("… the same, p95",
         f"{latency['jobs']['p95_s'] * 1000:.1f} vs {latency['scans']['p95_s'] * 1000:.1f} ms",
         latency["p95_ratio"]),
    ]
    machine = results["machine"]
    print(f"Measured {machine['date']} on {machine['nproc']} cores (load average "
          f"{load_average:.1f} at the start), model {machine['model']}, in "
          f"{machine['seconds']} s; SQLite (WAL), Redis broker, workers --pool=prefork "
          f"--concurrency=1.\n")
    print("| what | measured | ratio |\n|---|---|---|")
    for what, measured, ratio in rows:
        print(f"| {what} | {measured} | {ratio:.2f}× |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
