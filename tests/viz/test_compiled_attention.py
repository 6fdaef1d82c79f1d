"""Where the compiled Turing model looks while it writes a configuration, and its picture."""

from __future__ import annotations

import numpy as np

from rasp_toolkit.cli import main
from turing import Machine
from turing.engines.compiled import configuration_attention

BB2 = Machine.from_text("1RB1LB_1LA1RZ")


def test_the_cell_copying_head_reads_the_previous_configuration_position_by_position() -> None:
    # C3 = "B 0 1 1" at positions 12-15; B reads 0 and moves left off the tape's start, so
    # C4 = "A 0 1 1 1" (positions 17-21) gains a blank in front: from C4's third token on, each
    # token is C3's token one offset further left, read at a fixed distance back.
    tokens, heads, queries, keys = configuration_attention(BB2, (), 4, 100)
    assert tokens[12:16] == ["B", "0", "1", "1"] and tokens[17:22] == ["A", "0", "1", "1", "1"]
    assert list(queries) == [16, 17, 18, 19, 20] and list(keys) == [12, 13, 14, 15]
    copying = dict(heads)[next(name for name, _ in heads if name.endswith("this_cell"))]
    assert copying.shape == (5, 4)
    strongest = copying.argmax(axis=1)
    read = [keys[k] for k, row in zip(strongest, copying) if row.max() > 0.99]
    assert read == [12, 13, 14, 15]  # one key each, consecutive: copying by position
    assert np.all(copying.sum(axis=1) <= 1 + 1e-9)


def test_rasp_tm_plot_attention_writes_a_picture(tmp_path, capsys, png_checks) -> None:
    out = tmp_path / "attention.png"
    assert main(["tm", "plot", "1RB1LB_1LA1RZ", "--attention", "4", "-o", str(out)]) == 0
    assert png_checks.read(out).shape[0] > 200
    assert main(["tm", "plot", "1RB1LB_1LA1RZ", "--attention", "9", "-o", str(out)]) == 2
    assert "configurations 0 to 6" in capsys.readouterr().err
