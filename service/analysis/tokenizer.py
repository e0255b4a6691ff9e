"""A model folder's tokenizer, read with the ``tokenizers`` library alone.

transformers' fast tokenizers are this library's ``Tokenizer`` run from the folder's
``tokenizer.json``; loading them through transformers pulled it and torch into the scanning
process (docs/throughput.md weighs them) for nothing else. ``Tokenizer`` answers the calls the service
makes of a transformers tokenizer (``tokenizer(texts, pairs, truncation=…, max_length=…)``,
``decode``, ``model_input_names``, ``pad_token_id``) with the same ids
(tests/test_tokenizer.py holds it to that), so ml.train's transformers tokenizer and this
one go through the same code.

Truncation is a setting of a ``tokenizers.Tokenizer``, and changing it while another thread
encodes raises "Already borrowed": each truncation length gets its own copy, configured once
and never changed, so encoding needs no lock of its own.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Sequence
from pathlib import Path

from service.analysis.model_folder import TOKENIZER_CONFIG_JSON, TOKENIZER_JSON

#: What a model may take, in the order transformers' tokenizers return them.
INPUT_NAMES = ("input_ids", "token_type_ids", "attention_mask")
_OUTPUTS = {"input_ids": "ids", "token_type_ids": "type_ids", "attention_mask": "attention_mask"}


class TokenizerError(Exception):
    """The folder's tokenizer.json is missing or unreadable."""


class Tokenizer:
    """The tokenizer of a model folder (see the module docstring). ``input_names``: what
    the model takes, and so what a call returns (a BERT takes token_type_ids, an MPNet
    does not)."""

    def __init__(self, folder: str | Path, input_names: Sequence[str]):
        import tokenizers

        path = Path(folder) / TOKENIZER_JSON
        if not path.is_file():
            raise TokenizerError(f"{path} is missing: the service reads a model's tokenizer "
                                 "from it (a transformers fast tokenizer's save_pretrained "
                                 "writes it)")
        try:
            backend = tokenizers.Tokenizer.from_file(str(path))
        except Exception as error:  # the library raises a bare Exception for a bad file
            raise TokenizerError(f"{path} is unreadable: {error}") from error
        backend.no_truncation()
        backend.no_padding()
        self._json = backend.to_str()
        self._by_length: dict[int | None, object] = {None: backend}
        self._lock = threading.Lock()
        self.model_input_names = [name for name in INPUT_NAMES if name in input_names]
        pad = _pad_token(Path(folder))
        self.pad_token_id = backend.token_to_id(pad) if pad is not None else None
        self.pad_token_type_id = 0

    def __call__(self, texts: str | Sequence[str], pairs: Sequence[str] | None = None, *,
                 truncation: bool = False, max_length: int | None = None,
                 add_special_tokens: bool = True) -> dict[str, list]:
        """Token ids (and type ids and masks) of ``texts``, each paired with its item of
        ``pairs`` when given, cut to ``max_length`` tokens (the longer segment first) when
        ``truncation``: a list for one text, a list of lists for a sequence of them."""
        single = isinstance(texts, str)
        items = [texts] if single else list(texts)
        if pairs is not None:
            items = list(zip(items, [pairs] if single else pairs))
        encodings = self._backend(max_length if truncation else None).encode_batch(
            items, add_special_tokens=add_special_tokens)
        encoded = {name: [getattr(encoding, _OUTPUTS[name]) for encoding in encodings]
                   for name in self.model_input_names}
        return {name: rows[0] for name, rows in encoded.items()} if single else encoded

    def decode(self, ids: Sequence[int], skip_special_tokens: bool = False) -> str:
        return self._by_length[None].decode(list(ids), skip_special_tokens=skip_special_tokens)

    def _backend(self, max_length: int | None):
        """The copy of the tokenizer that cuts at ``max_length`` (None: never)."""
        backend = self._by_length.get(max_length)
        if backend is None:
            import tokenizers

            with self._lock:
                backend = self._by_length.get(max_length)
                if backend is None:
                    backend = tokenizers.Tokenizer.from_str(self._json)
                    backend.enable_truncation(max_length, strategy="longest_first")
                    self._by_length[max_length] = backend
        return backend


def _pad_token(folder: Path) -> str | None:
    """The padding token its tokenizer_config.json names, as transformers reads it."""
    try:
        token = json.loads((folder / TOKENIZER_CONFIG_JSON).read_text(encoding="utf-8")).get("pad_token")
    except (OSError, ValueError, AttributeError):
        return None
    return token.get("content") if isinstance(token, dict) else token
