"""`rng`: each unit's own random stream.

Seeding a generator with `seed + i` for unit i gives streams that are far from
independent for generators such as Mersenne Twister with nearby seeds, and makes a
unit's numbers depend on its position. Here the stream is derived from the pipeline
seed and the unit's id by NumPy's SeedSequence (a hash designed for this), so it is
independent of chunking, order, workers, retries and resumes.
"""

from __future__ import annotations

import _random
import hashlib
import random
from array import array
from collections.abc import Sequence
from typing import Any

import numpy as np


class UnitRandom(random.Random):
    """`random.Random` with the unit's stream; its state can be saved between steps.

    Code gets no `seed`, `setstate` or `getstate`: a unit cannot reset, replay or copy its
    stream. The runtime saves and restores it with `state()` and `from_state()`."""

    def __init__(self, x: Any = None) -> None:
        if type(x) is int:  # what random.Random.seed does with an int, without its checks
            _random.Random.seed(self, x)
        else:
            random.Random.seed(self, x)
        self.gauss_next = None

    def seed(self, *args: Any, **kwargs: Any) -> None:
        raise AttributeError("`rng` cannot be reseeded: each unit's stream is fixed by the pipeline seed")

    def getstate(self) -> Any:
        raise AttributeError("`rng` has no `getstate`")

    def setstate(self, state: Any) -> None:
        raise AttributeError("`rng` has no `setstate`")

    def __reduce__(self) -> tuple[Any, ...]:
        return (UnitRandom.from_state, (self.state(),))

    @classmethod
    def for_unit(cls, seed: int, unit_id: str) -> UnitRandom:
        return cls(stream_seeds(seed, [unit_id])[0])

    def state(self) -> bytes:
        """The generator's state as bytes (625 words and the gauss cache)."""
        version, internal, gauss = random.Random.getstate(self)
        words = array("I", internal[:-1])
        header = array("I", [int(version), int(internal[-1]), 0 if gauss is None else 1])
        tail = b"" if gauss is None else array("d", [gauss]).tobytes()
        return header.tobytes() + words.tobytes() + tail

    @classmethod
    def from_state(cls, data: bytes) -> UnitRandom:
        header = array("I")
        header.frombytes(data[:12])
        version, position, has_gauss = header
        words = array("I")
        words.frombytes(data[12 : 12 + 624 * 4])
        gauss: Any = None
        if has_gauss:
            cache = array("d")
            cache.frombytes(data[12 + 624 * 4 : 12 + 624 * 4 + 8])
            gauss = cache[0]
        generator = cls()
        random.Random.setstate(generator, (version, (*words, position), gauss))
        return generator


# NumPy's SeedSequence (numpy/random/bit_generator.pyx), computed for many units at once:
# its hash constants do not depend on the data, so each step is one operation on a column
# of uint32 words. `stream_seeds` gives what `SeedSequence(entropy=seed, spawn_key=key)
# .generate_state(8)` gives for each unit (tests/test_unit_rng.py holds it to NumPy's).
_MASK32 = 0xFFFFFFFF
_INIT_A, _MULT_A = 0x43B0D7E5, 0x931E8875
_INIT_B, _MULT_B = 0x8B51F9DD, 0x58F38DED
_MIX_L, _MIX_R = 0xCA01F9DD, 0x4973F715
_POOL = 4


class _HashConstant:
    """SeedSequence's running hash constant: the same sequence for every unit."""

    def __init__(self, start: int, multiplier: int) -> None:
        self.value = start
        self.multiplier = multiplier

    def mix_in(self, words: Any) -> Any:
        """`hashmix` (or a step of `generate_state`) on a column of words."""
        words = words ^ np.uint32(self.value)
        self.value = (self.value * self.multiplier) & _MASK32
        words = words * np.uint32(self.value)
        return words ^ (words >> np.uint32(16))


def _mix(x: Any, y: Any) -> Any:
    result = np.uint32(_MIX_L) * x - np.uint32(_MIX_R) * y
    return result ^ (result >> np.uint32(16))


def stream_seeds(seed: int, unit_ids: Sequence[str]) -> list[int]:
    """The integer each unit's generator is seeded with: NumPy's SeedSequence over the
    pipeline seed (128 bits) with the SHA-256 of the unit id as its spawn key."""
    if not unit_ids:
        return []
    entropy = seed & (2**128 - 1)
    run = [(entropy >> (32 * i)) & _MASK32 for i in range(_POOL)]  # padded to the pool, as SeedSequence does
    digests = b"".join(hashlib.sha256(unit_id.encode("utf-8")).digest() for unit_id in unit_ids)
    spawn = np.frombuffer(digests, dtype="<u4").reshape(len(unit_ids), 8).astype(np.uint32)
    count = len(unit_ids)
    constant = _HashConstant(_INIT_A, _MULT_A)
    pool = [constant.mix_in(np.full(count, word, dtype=np.uint32)) for word in run]
    for source in range(_POOL):
        for target in range(_POOL):
            if source != target:
                pool[target] = _mix(pool[target], constant.mix_in(pool[source]))
    for column in range(spawn.shape[1]):
        for target in range(_POOL):
            pool[target] = _mix(pool[target], constant.mix_in(spawn[:, column]))
    out = _HashConstant(_INIT_B, _MULT_B)
    state = np.stack([out.mix_in(pool[i % _POOL]) for i in range(8)], axis=1).astype("<u4")
    raw = state.tobytes()
    return [int.from_bytes(raw[i : i + 32], "little") for i in range(0, len(raw), 32)]
