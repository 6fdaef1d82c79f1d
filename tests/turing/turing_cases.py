"""Hand-written machines shared by the Turing tests: the simulator and machine-model tests, the interpreter's tests
(test_program.py) and the compiled engine's (test_compiled.py): each case is (name, machine spec,
input tape, step budget), chosen to cover growth on both sides, halting both ways (a halting state
and a missing transition), N moves, multi-character names and long runs of equal cells."""

from __future__ import annotations

# Binary increment, most significant bit first; multi-character state names.  On 1...1 the carry
# runs off the left end: a left growth.
INCREMENT = """{
  "states": ["right", "carry", "done"], "symbols": ["_", "0", "1"], "blank": "_",
  "start": "right", "halting": ["done"],
  "transitions": [
    ["right", "0", "0", "R", "right"], ["right", "1", "1", "R", "right"], ["right", "_", "_", "L", "carry"],
    ["carry", "1", "0", "L", "carry"], ["carry", "0", "1", "N", "done"], ["carry", "_", "1", "N", "done"]
  ]
}"""

# Unary addition with multi-character symbols: one^a plus one^b -> one^(a+b), halting in `stop`.
ADDITION = """{
  "states": ["scan", "end", "erase", "stop"], "symbols": ["blank", "one", "plus"], "blank": "blank",
  "start": "scan", "halting": ["stop"],
  "transitions": [
    ["scan", "one", "one", "R", "scan"], ["scan", "plus", "one", "R", "end"],
    ["end", "one", "one", "R", "end"], ["end", "blank", "blank", "L", "erase"],
    ["erase", "one", "blank", "N", "stop"]
  ]
}"""

# The copier from the Turing machine literature: 1^n -> 1^n 0 1^n; halts by a missing transition
# (state A reading 0).
COPIER = "---0RB_0RC1RB_1LD1RC_0LE1LD_1RA1LE"

HAND_WRITTEN = [
    ("increment 1011", INCREMENT, "1 0 1 1", 100),
    ("increment 111 (left growth)", INCREMENT, "1 1 1", 100),
    ("increment empty tape", INCREMENT, "", 100),
    ("addition 2+3", ADDITION, "one one plus one one one", 100),
    ("addition 0+1", ADDITION, "plus one", 100),
    ("copier 111", COPIER, "1 1 1", 200),
    ("copier on blank (halts at once)", COPIER, "", 10),
    ("busy beaver 2", "1RB1LB_1LA1RZ", "", 100),
    ("busy beaver 3", "1RB1RZ_1LB0RC_1LC1LA", "", 100),
    ("busy beaver 4", "1RB1LB_1LA0LC_1RZ1LD_1RD0RA", "", 200),
    ("never halts, grows right", "1RA1RA", "", 22),
    ("never halts, grows left", "1LA1LA", "1", 22),
    ("never halts, stays put", "1NA0NA", "0 1", 20),
    ("bounces over a long run of 1s", "1RB1LA_1LA1RB", "1 1 1 1 1 1", 40),
    ("no transition at all", "------", "1 0", 10),
]
