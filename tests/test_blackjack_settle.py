"""The blackjack example's `settle` step against hands worked by hand: its code compiled as
the runner compiles it (the sandbox's compiler) and called with the deal and the actions."""

from __future__ import annotations

from typing import Any

import pytest

from octolang.check.scope import program_fields
from octolang.compiler import compile_source, read_source
from octolang.sandbox import Record, compile_code
from tests.conftest import REPO


@pytest.fixture(scope="module")
def settle() -> Any:
    compilation = compile_source(read_source(str(REPO / "examples" / "blackjack.octo")))
    program = compilation.program
    assert program is not None and not [d for d in compilation.diagnostics if d.is_error]
    [step] = [s for s in program.steps if s.name == "settle"]
    assert step.code is not None and step.depends_on == ["deal", "play"]
    code = compile_code(
        step.code.value,
        filename="blackjack.octo",
        first_line=step.code.first_line,
        params=["unit", "rng", "deal", "play"],
        name="settle",
        fields=program_fields(program),
    )

    def run(player: list[int], dealer_up: int, draws: list[int], actions: list[str]) -> dict[str, Any]:
        # the shoe is popped from its end: `draws` are the cards in the order they are dealt
        deal = Record({"player": player, "dealer_up": dealer_up, "shoe": list(reversed(draws))})
        return dict(
            code(unit=Record({"strategy": "basic", "trial": 1}), rng=None, deal=deal, play=Record({"actions": actions}))
        )

    return run


@pytest.mark.parametrize(
    ("player", "dealer_up", "draws", "actions", "net", "busted"),
    [
        # a player natural (ace, ten) against a dealer's three-card 21 (10, 5, 6): pays 3:2
        ([1, 10], 10, [5, 6], ["stand"], 1.5, False),
        # a player's three-card 21 (5, 6, then 10) against a dealer natural (ace up, ten in the hole): loses
        ([5, 6], 1, [10, 10], ["hit", "stand"], -1.0, False),
        # two naturals: a push
        ([1, 10], 10, [1], ["stand"], 0.0, False),
        # a natural against the dealer's 20: 3:2
        ([10, 1], 10, [10], ["stand"], 1.5, False),
        # three-card 21 each: a push
        ([5, 6], 10, [10, 4, 7], ["hit", "stand"], 0.0, False),
        # 20 against 19: wins 1
        ([10, 10], 9, [10], ["stand"], 1.0, False),
        # 18 against 18: a push
        ([10, 8], 8, [10], ["stand"], 0.0, False),
        # the player busts (10, 6, 10) before the dealer plays: loses, busted
        ([10, 6], 10, [10], ["hit", "stand"], -1.0, True),
        # the dealer busts (6, 10, 10) against 17: wins 1
        ([10, 7], 6, [10, 10], ["stand"], 1.0, False),
        # soft hands: ace + 6 is 17, the hit (4) makes 21 as 1 + 6 + 4 + 10; dealer 10, 9 = 19
        ([1, 6], 10, [4, 9], ["hit", "stand"], 1.0, False),
        # actions past 21 are not played: 10 + 1 is a natural, the "hit" is ignored
        ([10, 1], 9, [8], ["hit", "hit"], 1.5, False),
    ],
)
def test_settle_pays_hand_worked_hands(
    settle: Any, player: list[int], dealer_up: int, draws: list[int], actions: list[str], net: float, busted: bool
) -> None:
    assert settle(player, dealer_up, draws, actions) == {"net": net, "busted": busted}
