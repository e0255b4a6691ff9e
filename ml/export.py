"""Write a trained model's ONNX graph, the one the service runs on the CPU.

    python -m ml.export --model models_cache/<version>

``python -m ml.train`` already writes ``model.onnx`` into every version folder; this is for
a folder trained before it did (the service exports such a model at each start instead,
which costs time and memory: service/analysis/onnx_model.py). The graph is written next to
``model.safetensors``, readable by a service that runs as another user, and replaces an
older one atomically.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path


def write_onnx(model_dir: str | os.PathLike) -> Path:
    """Export the torch classifier in ``model_dir`` to ``model_dir/model.onnx``."""
    # service.analysis first: it sets OMP_WAIT_POLICY before torch loads OpenMP.
    from service.analysis.onnx_model import export  # isort: skip
    from transformers import AutoTokenizer

    from service.analysis.transformer import torch_classifier

    model_dir = Path(model_dir)
    model = torch_classifier(model_dir).from_pretrained(model_dir, local_files_only=True)
    tokenizer = AutoTokenizer.from_pretrained(model_dir, local_files_only=True)
    from service.analysis.model_folder import ONNX

    target = model_dir / ONNX
    pending = model_dir / f".{ONNX}.{os.getpid()}.partial"
    try:
        export(model.float().cpu(), list(tokenizer.model_input_names), pending)
        pending.chmod(0o644)
        os.replace(pending, target)
    finally:
        pending.unlink(missing_ok=True)
    return target


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m ml.export", description=__doc__.split(
        "\n\n")[0])
    parser.add_argument("--model", required=True,
                        help="a model folder, or a models root whose `current` names one")
    args = parser.parse_args(argv)
    from service.analysis.transformer import resolve_model_dir

    target = write_onnx(resolve_model_dir(args.model))
    print(f"wrote {target}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
