"""Offline o200k_base token counting from the encoding file shipped in the package.

tiktoken downloads its encodings on first use; `octoc check` must work with no network
and must not write to a cache folder, so the BPE ranks are read from
`octolang/_data/o200k_base.tiktoken.gz`, checked against the SHA-256 tiktoken itself
checks, and turned into a `tiktoken.Encoding` once per process, on first use. The split
pattern and special tokens are tiktoken's own (`tiktoken_ext.openai_public.o200k_base`),
so they cannot drift from what OpenAI uses.
"""

from __future__ import annotations

import base64
import functools
import gzip
import hashlib
import threading
from collections.abc import Sequence
from importlib import resources
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import tiktoken

TOKENIZER = "o200k_base"
DATA_FILE = "_data/o200k_base.tiktoken.gz"
# The hash tiktoken checks for o200k_base.tiktoken (tiktoken_ext/openai_public.py).
SHA256 = "446a9538cb6c348e3516120d7c08b09f57c36495e2acfffe59a5bf8b0cfb1a2d"

_lock = threading.Lock()


class TokenizerError(Exception):
    """The shipped encoding file is missing or damaged (a broken install, not a user error)."""


def _read_ranks() -> dict[bytes, int]:
    packed = resources.files("octolang").joinpath(DATA_FILE).read_bytes()
    data = gzip.decompress(packed)
    if hashlib.sha256(data).hexdigest() != SHA256:
        raise TokenizerError(f"octolang/{DATA_FILE} does not have the expected SHA-256; reinstall octolang")
    ranks: dict[bytes, int] = {}
    for line in data.splitlines():
        if line:
            token, rank = line.split()
            ranks[base64.b64decode(token)] = int(rank)
    return ranks


@functools.lru_cache(maxsize=1)
def encoding() -> tiktoken.Encoding:
    """The o200k_base encoding, built once (about 0.5 s) from the shipped ranks."""
    import tiktoken
    import tiktoken_ext.openai_public as public  # type: ignore[import-untyped]

    ranks = _read_ranks()

    def shipped(_url: str, expected_hash: str | None = None) -> dict[bytes, int]:
        return ranks

    # tiktoken's constructor for o200k_base loads the ranks through this module-level name;
    # pointing it at the shipped ranks for the call gives tiktoken's exact pattern and
    # special tokens without any download.
    with _lock:
        original = public.load_tiktoken_bpe
        public.load_tiktoken_bpe = shipped
        try:
            spec: dict[str, Any] = public.o200k_base()
        finally:
            public.load_tiktoken_bpe = original
    return tiktoken.Encoding(**spec)


def count_tokens(text: str) -> int:
    """Tokens of `text` as ordinary text (special-token strings count as text, as an API
    counts them inside a message)."""
    return len(encoding().encode_ordinary(text))


def count_many(texts: Sequence[str]) -> list[int]:
    """Token counts of many texts at once (tiktoken batches them in its own threads)."""
    if not texts:
        return []
    return [len(tokens) for tokens in encoding().encode_ordinary_batch(list(texts), num_threads=2)]
