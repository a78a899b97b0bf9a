"""`rng`: each unit's own random stream.

Seeding a generator with `seed + i` for unit i gives streams that are far from
independent for generators such as Mersenne Twister with nearby seeds, and makes a
unit's numbers depend on its position. Here the stream is derived from the pipeline
seed and the unit's id by NumPy's SeedSequence (a hash designed for this), so it is
independent of chunking, order, workers, retries and resumes.
"""

from __future__ import annotations

import hashlib
import random
from array import array
from typing import Any


class UnitRandom(random.Random):
    """`random.Random` with the unit's stream; its state can be saved between steps.

    Code gets no `seed`, `setstate` or `getstate`: a unit cannot reset, replay or copy its
    stream. The runtime saves and restores it with `state()` and `from_state()`."""

    def __init__(self, x: Any = None) -> None:
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
        from numpy.random import SeedSequence

        digest = hashlib.sha256(unit_id.encode("utf-8")).digest()
        spawn_key = tuple(int.from_bytes(digest[i : i + 4], "little") for i in range(0, 32, 4))
        words = SeedSequence(entropy=seed & (2**128 - 1), spawn_key=spawn_key).generate_state(8, dtype="uint32")
        generator = cls()
        entropy = int.from_bytes(array("I", (int(w) for w in words)).tobytes(), "little")
        random.Random.seed(generator, entropy, version=2)
        return generator

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
