"""Each unit's own random stream: reproducible, independent of other units, resumable."""

from __future__ import annotations

import itertools
import subprocess
import sys

from octolang.sandbox import UnitRandom
from octolang.stats import chi_square_gof


def draws(rng: UnitRandom, n: int = 5) -> list[float]:
    return [rng.random() for _ in range(n)]


def test_same_seed_and_id_same_stream() -> None:
    assert draws(UnitRandom.for_unit(42, "start=5/trial=1")) == draws(UnitRandom.for_unit(42, "start=5/trial=1"))


def test_the_stream_is_the_same_in_another_process() -> None:
    script = "from octolang.sandbox import UnitRandom; r = UnitRandom.for_unit(7, 'a/b'); print(r.random())"
    other = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True).stdout
    assert float(other) == UnitRandom.for_unit(7, "a/b").random()


def test_ids_and_seeds_give_different_streams() -> None:
    base = draws(UnitRandom.for_unit(42, "trial=1"))
    assert draws(UnitRandom.for_unit(42, "trial=2")) != base
    assert draws(UnitRandom.for_unit(43, "trial=1")) != base


def test_state_round_trips_mid_stream() -> None:
    rng = UnitRandom.for_unit(3, "x")
    rng.random()
    rng.gauss(0, 1)  # leaves a cached normal in the state
    saved = rng.state()
    expected = [rng.gauss(0, 1), rng.random(), rng.randint(1, 6)]
    again = UnitRandom.from_state(saved)
    assert [again.gauss(0, 1), again.random(), again.randint(1, 6)] == expected


def test_neighbouring_ids_are_not_correlated() -> None:
    """The first draw of 4,000 consecutive trial ids, split at 0.5: balanced (chi-square),
    and the first draws of neighbours do not agree more than chance."""
    firsts = [UnitRandom.for_unit(1, f"trial={i}").random() for i in range(4000)]
    above = sum(1 for x in firsts if x >= 0.5)
    _, _, p = chi_square_gof([above, len(firsts) - above], [0.5, 0.5])
    assert p > 0.001
    same_side = sum(1 for a, b in itertools.pairwise(firsts) if (a >= 0.5) == (b >= 0.5))
    _, _, p_pairs = chi_square_gof([same_side, len(firsts) - 1 - same_side], [0.5, 0.5])
    assert p_pairs > 0.001


def test_stream_seeds_are_numpys_seed_sequence_for_every_unit() -> None:
    """The batch derivation is NumPy's SeedSequence, word for word: streams never change."""
    import hashlib
    import random

    from numpy.random import SeedSequence

    from octolang.sandbox.rng import stream_seeds

    def numpy_seed(seed: int, unit_id: str) -> int:
        digest = hashlib.sha256(unit_id.encode("utf-8")).digest()
        key = tuple(int.from_bytes(digest[i : i + 4], "little") for i in range(0, 32, 4))
        words = SeedSequence(entropy=seed & (2**128 - 1), spawn_key=key).generate_state(8, dtype="uint32")
        return int.from_bytes(b"".join(int(w).to_bytes(4, "little") for w in words), "little")

    picker = random.Random(20261129)
    print("seed of this test: 20261129")
    ids = ["", "start=5/trial=1", "é/ü", *(f"row={picker.getrandbits(64)}" for _ in range(200))]
    for seed in (0, 1, 42, 2**32, 2**64 + 5, 2**127 - 1, 2**128 + 3, -1, picker.getrandbits(128)):
        assert stream_seeds(seed, ids) == [numpy_seed(seed, unit_id) for unit_id in ids], seed
    assert stream_seeds(42, []) == []


def test_known_units_keep_their_first_draws() -> None:
    assert UnitRandom.for_unit(42, "start=2/trial=1").random() == 0.5660420049395464
