"""Regenerate the pictures the README shows (needs the `viz` extra):

    python docs/make_pictures.py
"""

from __future__ import annotations

from pathlib import Path

import compiler
import rasp
from compiler.plot import plot_model
from rasp.draw import draw_program
from turing import Machine
from turing.engines.compiled import configuration_attention
from turing.plot import plot_attention, plot_spacetime

IMAGES = Path(__file__).resolve().parent / "images"


def main() -> None:
    IMAGES.mkdir(exist_ok=True)
    session = rasp.Session()
    session.run_file(rasp.program_path("lib/sort.rasp"))
    draw_program(session["sorted"], [3, 1, 4, 1, 5], IMAGES / "sort.png")
    reverse = rasp.program_path("lib/reverse.rasp")
    session = rasp.Session()
    session.run_file(reverse)
    model = compiler.compile(session["reverse"], vocab=["a", "b", "c"], max_seq_len=8)
    plot_model(model, list("abcab"), IMAGES / "reverse_model.png", program=session["reverse"])
    plot_spacetime(Machine.from_text("1RB1LC_1RC1RB_1RD0LE_1LA1LD_1RZ0LA"), (), 40, IMAGES / "busy_beaver.png")
    tokens, heads, queries, keys = configuration_attention(Machine.from_text("1RB1LB_1LA1RZ"), (), 4, 100)
    plot_attention(tokens, heads, IMAGES / "bb2_attention.png", queries=queries, keys=keys,
                   title="1RB1LB_1LA1RZ: the compiled model writing configuration 4")
    for picture in sorted(IMAGES.glob("*.png")):
        print(picture.relative_to(IMAGES.parent.parent))


if __name__ == "__main__":
    main()
