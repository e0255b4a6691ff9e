"""GET /api/v1/scans against a bare Flask app: ``python -m bench.list_scans``.

The list of one's scans is the request a client makes most (the console's first page, every
poll of a script), and it does what a bare view does not: the bearer token read and its
account checked live, the query arguments validated, one page of the caller's scans and its
total read, each dumped through its schema, and the security headers, CORS, metrics and the
access log. Target: ≥ 0.5× the requests per second of bench/bare_app.py on the same waitress
settings, as bench/http.py measures it (4 client threads, a user with 10 scans, SQLite).

Measured in turns in one process, which goes first flipping every round: the service, the
bare app answering an empty list (the target's baseline), and the bare app answering the very
page the service answered (``--page``: the JSON encoding of the same bytes included, for the
share that is only the page's size). These machines are shared and noisy: only the ratios of
alternating runs count. Prints the figures; they go to ``bench/results.json`` under
``"list_scans"`` (its other keys kept). About a minute on 2 cores.
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import statistics
import sys
import tempfile
from pathlib import Path

import requests

from bench.http import Server, load, service, token

TARGET = 0.5  # service / bare app, at least
TEXTS = [f"Report {n}. The vendor may deliver the servers late. The budget may be cut again. "
         "The team met on Tuesday." for n in range(10)]


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def get_list(url: str, headers: dict, session, _i: int):
    return session.get(url, headers=headers, timeout=30)


def measure(model_dir: str, workdir: Path, *, rounds: int, seconds: float) -> dict:
    servers: dict[str, Server] = {}
    try:
        servers["service"] = service(model_dir, workdir, READER_DIR="off")
        url = servers["service"].url
        headers = {"Authorization": f"Bearer {token(url, 'bench-lister@example.com')}"}
        for text in TEXTS:
            requests.post(f"{url}/api/v1/scans", headers=headers, json={"text": text},
                          timeout=60).raise_for_status()
        answered = requests.get(f"{url}/api/v1/scans", headers=headers, timeout=30)
        answered.raise_for_status()
        assert answered.json()["total"] == len(TEXTS), answered.json()
        page = workdir / "page.json"
        page.write_bytes(answered.content)
        servers["bare"] = Server(["-m", "bench.bare_app"], {}, ready_path="/health")
        servers["bare page"] = Server(["-m", "bench.bare_app", "--page", str(page)], {},
                                      ready_path="/health")
        targets = {name: functools.partial(get_list, f"{server.url}/api/v1/scans", headers)
                   for name, server in servers.items()}
        for target in targets.values():  # warm-up: connections, first requests
            load(4, 1, target)
        per_round: dict[str, list[float]] = {name: [] for name in targets}
        for round_ in range(rounds):
            for name in list(targets)[::-1 if round_ % 2 else 1]:
                count, elapsed, _ = load(4, seconds, targets[name])
                per_round[name].append(count / elapsed)
            log(f"  round {round_ + 1}: " + ", ".join(
                f"{name} {values[-1]:.0f}" for name, values in per_round.items()) + " req/s")
    finally:
        for server in servers.values():
            server.stop()

    def ratio(mine: str, theirs: str) -> float:
        return statistics.median(a / b for a, b in zip(per_round[mine], per_round[theirs],
                                                       strict=True))

    return {"rounds": rounds, "seconds_per_turn": seconds, "clients": 4,
            "page_bytes": len(answered.content), "rps_per_round": per_round,
            "median_rps": {name: statistics.median(values) for name, values in per_round.items()},
            "service / bare": ratio("service", "bare"),
            "service / bare page": ratio("service", "bare page"), "target": TARGET}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.list_scans",
                                     description=__doc__.split("\n\n")[0])
    parser.add_argument("--model-dir", default=os.environ.get("MODEL_DIR") or "models_cache")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--seconds", type=float, default=3, help="per target and round")
    parser.add_argument("--output", default="bench/results.json",
                        help="JSON file; its key 'list_scans' is replaced, the others kept")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="riskscan-bench-") as tmp:
        result = measure(args.model_dir, Path(tmp), rounds=args.rounds, seconds=args.seconds)
    ratio = result["service / bare"]
    print(f"GET /api/v1/scans vs a bare Flask app: {result['median_rps']['service']:.0f} vs "
          f"{result['median_rps']['bare']:.0f} req/s, {ratio:.2f}× (target ≥ {TARGET}×); "
          f"vs the bare app answering the same page: {result['service / bare page']:.2f}×")
    output = Path(args.output)
    results = json.loads(output.read_text(encoding="utf-8")) if output.exists() else {}
    results["list_scans"] = result
    output.write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
    return 0 if ratio >= TARGET else 1


if __name__ == "__main__":
    raise SystemExit(main())
