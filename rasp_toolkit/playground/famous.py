"""The famous machines the playground offers: the busy beavers, whose step counts and scores are
known from the literature (Radó 1962; Lin and Radó 1965; Brady 1983; Marxen and Buntrock 1990;
the bbchallenge's proof of BB(5), 2024), so that a run in the page can be checked by eye."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any


@dataclass(frozen=True)
class FamousMachine:
    """A machine in busy-beaver notation, run on the blank tape: `steps` is the number of steps
    to its halt and `ones` the ones it leaves, from the literature; `max_steps` the budget the
    page runs it with (BB(5)'s 47,176,870 steps are more than a page draws)."""

    name: str
    spec: str
    steps: int
    ones: int
    max_steps: int
    note: str

    def json(self) -> dict[str, Any]:
        return {**asdict(self), "tape": ""}


FAMOUS = (
    FamousMachine("BB(2)", "1RB1LB_1LA1RZ", 6, 4, 10, "the 2-state busy beaver: 4 ones in 6 steps"),
    FamousMachine("BB(3)", "1RB1RZ_1LB0RC_1LC1LA", 21, 5, 30, "the 3-state busy beaver (most steps): 21 steps"),
    FamousMachine("BB(2,3)", "1RB2LB1RZ_2LA2RB1LB", 38, 9, 50, "2 states, 3 symbols: 38 steps"),
    FamousMachine(
        "BB(4)", "1RB1LB_1LA0LC_1RZ1LD_1RD0RA", 107, 13, 120, "the 4-state busy beaver: 13 ones in 107 steps"
    ),
    FamousMachine(
        "BB(5)",
        "1RB1LC_1RC1RB_1RD0LE_1LA1LD_1RZ0LA",
        47_176_870,
        4098,
        300,
        "the 5-state champion halts after 47,176,870 steps; the page shows the first ones",
    ),
)
