"""How a reader's encoder and data travel to a lent GPU: in pieces a call can carry.

A device call carries 64 MiB and all-mpnet-base-v2 is 438 MB, so the encoder goes in bf16
(a high and a low byte a weight, xz-compressed: 143 MiB), with the inputs to score and a
digest of the whole; the corpus's rows go beside them already cut into sentences, since
that machine has no spaCy. ml/reader_recipes.py trains on what arrives.
"""

from __future__ import annotations

import gzip
import io
import json
import shutil
import sys
import tarfile
import types
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
CORPUS_ROWS = "corpus.json.gz"  # beside the pieces
PIECE_BYTES = 60 << 20  # a call carries 64 MiB in all


def write_corpus_rows(path: Path, mixes: list[list[str]]) -> None:
    """The corpus's training rows of each mix's collections (ml.train flags), as ml.train
    reads them: cutting the corpus into sentences takes spaCy, which a lent machine lacks."""
    from dataclasses import asdict

    from ml.corpus import training_split
    from ml.recipe import parse_config
    from ml.splits import load_split

    tables = {}
    for mix in mixes:
        config = parse_config([*mix, "--version", "rows"])
        held = [text for name in ("validation", "test")
                for text in load_split(config.data_dir, name).texts]
        tables[config.corpus_collections] = asdict(training_split(
            config.resolved_corpus(), held_out=held, fraction=config.corpus_fraction,
            collections=config.corpus_collections))
    path.write_bytes(gzip.compress(json.dumps(tables, ensure_ascii=False).encode()))


def read_corpus_rows(path: Path) -> None:
    """ml.corpus.training_split answered from ``path`` (there, where spaCy is not)."""
    import ml.corpus
    from ml.splits import LabelledSplit

    tables = json.loads(gzip.decompress(path.read_bytes()))

    def training_split(corpus_dir, *, held_out=(), fraction=1.0, seed=13, collections="all"):
        assert fraction == 1.0, "the rows were read for the whole corpus"
        return LabelledSplit(**tables[collections])

    ml.corpus.training_split = training_split


def pack(source: Path, inputs: list, target: Path, piece_bytes: int = PIECE_BYTES
         ) -> list[Path]:
    """The encoder in ``source`` in bf16 (a high and a low byte a weight: the high bytes
    compress), its tokenizer and ``inputs``, as one xz tar cut into pieces a call can
    carry, with the digest of the whole beside them."""
    import hashlib
    import lzma

    import torch
    from safetensors.torch import load_file

    from service.analysis.model_folder import SAFETENSORS

    weights = {name: tensor for name, tensor in load_file(source / SAFETENSORS).items()
               if not name.startswith("pooler.")}  # the classifier reads no pooler
    header, high, low = [], io.BytesIO(), io.BytesIO()
    for name, tensor in weights.items():
        if tensor.is_floating_point():
            half = tensor.to(torch.bfloat16).contiguous().view(torch.int16).numpy()
            high.write((half.view("uint16") >> 8).astype("uint8").tobytes())
            low.write((half.view("uint16") & 0xFF).astype("uint8").tobytes())
        header.append({"name": name, "shape": list(tensor.shape), "dtype": str(tensor.dtype)})
    inputs_gz = gzip.compress(json.dumps(inputs, ensure_ascii=False).encode())
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        def add(name: str, data: bytes) -> None:
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
        add("header.json", json.dumps({"tensors": header, "ints": {
            n: t.tolist() for n, t in weights.items() if not t.is_floating_point()}}).encode())
        add("high.bin", high.getvalue())
        add("low.bin", low.getvalue())
        for path in sorted(source.iterdir()):
            if path.is_file() and path.suffix in (".json", ".txt"):
                add(f"encoder/{path.name}", path.read_bytes())
        add("inputs.json.gz", inputs_gz)
    packed = lzma.compress(buffer.getvalue(), preset=6)
    target.mkdir(parents=True, exist_ok=True)
    (target / "inputs.json.gz").write_bytes(inputs_gz)  # what measure reads the logits by
    for old in target.glob("piece-*"):
        old.unlink()
    pieces = []
    for number, start in enumerate(range(0, len(packed), piece_bytes)):
        piece = target / f"piece-{number}"
        piece.write_bytes(packed[start:start + piece_bytes])
        pieces.append(piece)
    (target / "sha256").write_text(hashlib.sha256(packed).hexdigest() + "\n")
    print(f"{len(packed) / 2**20:.1f} MiB in {len(pieces)} pieces under {target}",
          file=sys.stderr)
    return pieces


def without_flask() -> None:
    """The analysis and training code without the Flask app (``service/__init__`` imports
    it, and a lent machine has no Flask)."""
    package = types.ModuleType("service")
    package.__path__ = [str(REPO_ROOT / "service")]
    sys.modules.setdefault("service", package)


def unpack(pieces: list[Path], work: Path) -> Path:
    """The encoder folder in fp32 and the inputs, from the pieces (checked first)."""
    import hashlib
    import lzma

    import numpy as np
    import torch
    from safetensors.torch import save_file

    without_flask()  # there, the service package is read without its app
    from service.analysis.model_folder import SAFETENSORS

    packed = b"".join(piece.read_bytes() for piece in sorted(pieces, key=lambda p: int(
        p.name.rsplit("-", 1)[1])))
    expected = (pieces[0].parent / "sha256").read_text().strip()
    if hashlib.sha256(packed).hexdigest() != expected:
        sys.exit("the pieces are not the ones prepared: their digest differs")
    with tarfile.open(fileobj=io.BytesIO(lzma.decompress(packed))) as tar:
        members = {m.name: tar.extractfile(m).read() for m in tar.getmembers() if m.isfile()}
    header = json.loads(members["header.json"])
    high = np.frombuffer(members["high.bin"], dtype=np.uint8)
    low = np.frombuffer(members["low.bin"], dtype=np.uint8)
    encoder = work / "encoder"
    encoder.mkdir(parents=True, exist_ok=True)
    tensors, offset = {}, 0
    for entry in header["tensors"]:
        if entry["name"] in header["ints"]:
            tensors[entry["name"]] = torch.tensor(header["ints"][entry["name"]])
            continue
        count = int(np.prod(entry["shape"]))
        bits = (high[offset:offset + count].astype(np.uint32) << 24) | \
            (low[offset:offset + count].astype(np.uint32) << 16)
        tensors[entry["name"]] = torch.from_numpy(bits.view(np.float32).reshape(entry["shape"]))
        offset += count
    save_file(tensors, encoder / SAFETENSORS, metadata={"format": "pt"})
    for name, data in members.items():
        if name.startswith("encoder/"):
            (encoder / name.split("/", 1)[1]).write_bytes(data)
    (work / "inputs.json.gz").write_bytes(members["inputs.json.gz"])
    if (pieces[0].parent / CORPUS_ROWS).is_file():
        shutil.copyfile(pieces[0].parent / CORPUS_ROWS, work / CORPUS_ROWS)
    return encoder


def stage_code(target: Path) -> Path:
    """What the training there runs, without what it does not read (the corpus travels as
    its rows, the documents and sources stay): ml, its splits and the service, 8 MiB."""
    shutil.rmtree(target, ignore_errors=True)
    skip = shutil.ignore_patterns("__pycache__", "*.pyc")
    shutil.copytree(REPO_ROOT / "service", target / "service", ignore=skip)
    shutil.copytree(REPO_ROOT / "ml", target / "ml", ignore=lambda folder, names: [
        name for name in skip(folder, names)] + (
        [name for name in names if (Path(folder) / name).is_dir()]
        if Path(folder).name == "data" else []))
    corpus = target / "ml" / "data" / "corpus" / "documents"  # ml.train asks that it exists
    corpus.mkdir(parents=True)
    (corpus / "README").write_text(f"the corpus's rows travel as {CORPUS_ROWS}\n")
    return target
