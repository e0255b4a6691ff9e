"""An archive of many empty dot files, as a job's ``archive``: ``python -m bench.archive_entries
[--entries 1150000]``.

ZipFile reads the whole central directory into one object per entry before the job's
intake can skip a single dot file; service/jobs/intake.py refuses such an archive from its
end record first. Measured here, each in a fresh interpreter that has read the archive's
bytes (built directly: stored, empty members named ``.0``, ``.1``, …), in CPU seconds (the
machine is shared) and the growth of its peak resident memory: the intake's refusal (what
a request does now) and ZipFile listing the entries (what it did before). Prints one
table row each.
"""

from __future__ import annotations

import argparse
import json
import resource
import struct
import subprocess
import sys
import tempfile
import time
import zipfile
from io import BytesIO
from pathlib import Path
from types import SimpleNamespace

ROOT = Path(__file__).resolve().parent.parent


def dot_files(entries: int) -> bytes:
    """A zip of ``entries`` empty stored members, with a zip64 end record past 65,535."""
    local, central = [], []
    offset = 0
    for index in range(entries):
        name = f".{index}".encode()
        header = struct.pack("<4s5H3I2H", b"PK\x03\x04", 20, 0, 0, 0, 0, 0, 0, 0,
                             len(name), 0) + name
        central.append(struct.pack("<4s6H3I5H2I", b"PK\x01\x02", 20, 20, 0, 0, 0, 0, 0, 0,
                                   0, len(name), 0, 0, 0, 0, 0, offset) + name)
        local.append(header)
        offset += len(header)
    directory = b"".join(central)
    end64 = struct.pack("<4sQ2H2I4Q", b"PK\x06\x06", 44, 45, 45, 0, 0, entries, entries,
                        len(directory), offset)
    locator = struct.pack("<4sIQI", b"PK\x06\x07", 0, offset + len(directory), 1)
    end = struct.pack("<4s4H2IH", b"PK\x05\x06", 0, 0, min(entries, 0xFFFF),
                      min(entries, 0xFFFF), len(directory), offset, 0)
    return b"".join(local) + directory + end64 + locator + end


def peak_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


def measure(which: str, path: str) -> None:
    """In this (fresh) interpreter: CPU seconds, growth of the peak resident set (MiB) and
    what came of ``which`` on the archive at ``path``, as one JSON line."""
    from service.jobs import intake

    data = Path(path).read_bytes()
    calls = {
        "check": lambda: intake._check_directory(data, SimpleNamespace(MAX_JOB_DOCUMENTS=200)),
        "zipfile": lambda: (
            f"{len(zipfile.ZipFile(BytesIO(data)).infolist()):,} entries listed"),
    }
    before = peak_mib()
    started = time.process_time()
    try:
        outcome = calls[which]()
    except Exception as error:  # noqa: BLE001 - the refusal is the outcome
        outcome = f"{type(error).__name__} {getattr(error, 'status', '')}"
    print(json.dumps({"cpu_s": time.process_time() - started, "peak_mib": peak_mib() - before,
                      "outcome": outcome}))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.archive_entries",
                                     description=__doc__.split("\n\n")[0])
    parser.add_argument("--entries", type=int, default=1_150_000)
    parser.add_argument("--measure", nargs=2, metavar=("WHICH", "PATH"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.measure:
        measure(*args.measure)
        return 0

    rows = {"check": "the intake's end-record check (now)",
            "zipfile": "ZipFile lists the entries (before)"}
    with tempfile.NamedTemporaryFile(suffix=".zip") as archive:
        archive.write(dot_files(args.entries))
        archive.flush()
        print(f"An archive of {args.entries:,} empty dot files, "
              f"{Path(archive.name).stat().st_size / 2**20:.0f} MiB\n")
        print("| what | CPU seconds | peak memory grew by (MiB) | outcome |\n|---|---|---|---|")
        for which, what in rows.items():
            child = subprocess.run([sys.executable, "-m", "bench.archive_entries", "--measure",
                                    which, archive.name], cwd=ROOT, capture_output=True,
                                   text=True, check=True)
            row = json.loads(child.stdout.splitlines()[-1])
            print(f"| {what} | {row['cpu_s']:.2f} | {row['peak_mib']:.0f} | {row['outcome']} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
