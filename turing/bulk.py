"""Many machines of an enumeration checked at once, in arrays: the fast path of `rasp tm verify --all`.

The harness (`turing.harness`) checks one machine at a time through Python objects: a `Machine`,
its reference trace as strings, a decoder fed token by token.  For the 24 million machines of
three states and two symbols that bookkeeping costs more than the transformer.  Here a batch of
machine numbers goes through numpy and one forward pass instead:

1. the numbers' digits are their tables (`turing.enumeration`: one digit per entry, 0 undefined);
2. the reference runs of every machine on the blank tape advance together, one step of all per
   iteration (`reference_runs`), and write the compact trace's token ids (`turing.compact`:
   one token per step, `#` where the machine halts) after the table's records (`q s w m n ;`,
   the universal program's prompt, `turing.shape.table_tokens`);
3. the universal model reads each input whole, by teacher forcing (`compiled_model.fast_forward`,
   keeping only the unembedding's dimensions), and `wrong` marks the machines where a prediction
   from the `|` on is not the next reference token, or where the model predicts `#` after the
   last step of a run the step budget cut.

That is exactly what the harness checks when it generates (`turing.engines.universal`, teacher
forcing: by induction on the position, a causal model whose every prediction equals the next
reference token generates the reference trace; and at the step budget the harness stops unless
the model predicts `#`).  The machines marked wrong go back through the harness, which writes
their reports (`turing.exhaustive`); tests/turing/test_bulk.py checks that the counts, and the
machines marked, are the harness's.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import partial

import jax
import jax.numpy as jnp
import numpy as np

from compiled_model.arithmetic import precision
from compiled_model.fast_forward import after_prefixes, shared_prefixes
from compiled_model.transformer import Transformer
from rasp.errors import RaspError
from turing.enumeration import MOVES, entry_choices
from turing.shape import RECORD_END, Shape
from turing.tokens import END, SEP, START

ROW_TOKENS = 40_000
"""Positions per forward pass: rows of one padded length until they hold about this many (the
pass's memory is a few kilobytes per position)."""

PAD_TO = 16
"""Inputs are padded to a multiple of this length: a handful of XLA compilations per call (each
takes seconds), which short runs and the tests pay."""

FINE_PAD_TO = 8
"""The padding of a call of at least FINE_FROM machines, whose compilations are few beside its
work: a machine's own tokens (8 to 40 at 30 steps) waste less of the pass, and the 3x2 class
checks about a fifth more machines a second than padded to 16 (measured, docs/turing.md §13)."""

FINE_FROM = 4096
"""The fewest machines of a call padded to FINE_PAD_TO."""


@dataclass(frozen=True)
class Vocabulary:
    """The token ids of one model for the compact traces and tables of a shape: `record[e, c]`
    the six ids of entry e's record when its digit is c, `step[r, c]` the id of the step token
    taken on symbol r by choice c, and per output column of the model the id of the token its
    value spells (-1 where it spells none)."""

    record: np.ndarray
    step: np.ndarray
    start: int
    sep: int
    end: int
    output_ids: np.ndarray


def vocabulary(model: Transformer, shape: Shape) -> Vocabulary:
    """The ids `model` gives the tokens of `shape`'s tables and compact traces."""
    ids = {token: index for index, token in enumerate(model.vocab, start=1) if isinstance(token, str)}

    def id_of(token: str) -> int:
        found = ids.get(token)
        if found is None:
            raise RaspError(f"the model has no token {token!r} for {shape.states} states and {shape.symbols} symbols")
        return found

    states = [chr(ord("A") + state) for state in range(shape.states)]
    choices = entry_choices(shape.states, shape.symbols)
    record = np.zeros((shape.states * shape.symbols, len(choices), 6), np.int32)
    step = np.zeros((shape.symbols, len(choices)), np.int32)
    for digit, choice in enumerate(choices):
        if choice is None:
            continue
        for entry in range(shape.states * shape.symbols):
            state, read = states[entry // shape.symbols], str(entry % shape.symbols)
            tokens = (state, read, choice.write, choice.move, choice.next, RECORD_END)
            record[entry, digit] = [id_of(token) for token in tokens]
        for read in range(shape.symbols):
            step[read, digit] = id_of(f"{read}/{choice.write}{choice.move}{choice.next}")
    values = model.spec.output.values
    output_ids = np.array([ids.get(str(value), -1) for value in values], np.int32)  # the harness compares str()
    return Vocabulary(record, step, id_of(START), id_of(SEP), id_of(END), output_ids)


@dataclass(frozen=True)
class Runs:
    """The reference runs of a batch of machines as the model's inputs: `ids` (machines, T) with
    the BOS id 0 first, the table's records, `$ |`, the step tokens and `#` where the run
    halted, padded with 0; `lengths` the real positions of each row (the BOS included); `sep`
    the position of each row's `|`; `halted` whether the run ended with `#`; `steps` the steps
    it took."""

    ids: np.ndarray
    lengths: np.ndarray
    sep: np.ndarray
    halted: np.ndarray
    steps: np.ndarray

    @property
    def trace_tokens(self) -> np.ndarray:
        """Each run's compact trace tokens: `$ |`, the steps, `#` where it halted (what the
        harness counts)."""
        return 2 + self.steps + self.halted


def digits_of(numbers: np.ndarray, shape: Shape) -> np.ndarray:
    """The table digits (machines, Q*S) of machine numbers, the first entry most significant."""
    entries = shape.states * shape.symbols
    base = 1 + 2 * shape.symbols * (shape.states + 1)
    powers = base ** np.arange(entries - 1, -1, -1, dtype=np.int64)
    return ((np.asarray(numbers, np.int64)[:, None] // powers) % base).astype(np.int64)


def reference_runs(numbers: np.ndarray, shape: Shape, max_steps: int, vocab: Vocabulary) -> Runs:
    """Every machine's run on the blank tape for at most `max_steps` steps, all advanced
    together (the reference simulator's rules: a machine halts where it enters Z or finds no
    transition; `#` is written when the configuration after at most `max_steps` steps halts),
    as the inputs a teacher-forced check feeds (`Runs`)."""
    digits = digits_of(numbers, shape)
    count, targets = len(digits), shape.states + 1
    choice = np.maximum(digits - 1, 0)
    writes, moves, nexts = choice // (len(MOVES) * targets), (choice // targets) % len(MOVES), choice % targets
    tape = np.zeros((count, 2 * max_steps + 1), np.int8)
    head = np.full(count, max_steps)
    state = np.zeros(count, np.int64)
    running, halted = np.ones(count, bool), np.zeros(count, bool)
    steps = np.zeros(count, np.int64)
    step_ids = np.zeros((count, max_steps), np.int32)
    rows = np.arange(count)
    for step in range(max_steps + 1):
        live = rows[running]
        read = tape[live, head[live]].astype(np.int64)
        entry = np.minimum(state[live], shape.states - 1) * shape.symbols + read
        digit = digits[live, entry]
        stops = (state[live] == shape.states) | (digit == 0)  # in Z, or no transition
        halted[live[stops]] = True
        running[live[stops]] = False
        if step == max_steps:
            break
        live, read, entry, digit = live[~stops], read[~stops], entry[~stops], digit[~stops]
        step_ids[live, step] = vocab.step[read, digit]
        tape[live, head[live]] = writes[live, entry]
        head[live] += np.where(moves[live, entry] == MOVES.index("R"), 1, -1)
        state[live] = nexts[live, entry]
        steps[live] += 1
    return _inputs(digits, steps, halted, step_ids, vocab)


def _inputs(digits: np.ndarray, steps: np.ndarray, halted: np.ndarray, step_ids: np.ndarray, vocab: Vocabulary) -> Runs:
    """The teacher-forced inputs of the runs (`Runs`): records of the defined entries in
    table order, `$ |`, the steps, `#`."""
    count, entries = digits.shape
    defined = digits > 0
    table_end = 1 + 6 * defined.sum(axis=1)
    lengths = table_end + 2 + steps + halted
    ids = np.zeros((count, int(lengths.max())), np.int32)
    rows = np.arange(count)
    offset = 1 + 6 * (np.cumsum(defined, axis=1) - defined)  # where each entry's record starts
    for entry in range(entries):
        chosen = rows[defined[:, entry]]
        records = vocab.record[entry, digits[chosen, entry]]  # (chosen, 6)
        ids[chosen[:, None], offset[chosen, entry][:, None] + np.arange(6)] = records
    ids[rows, table_end] = vocab.start
    ids[rows, table_end + 1] = vocab.sep
    taken = np.arange(step_ids.shape[1])[None] < steps[:, None]
    columns = table_end[:, None] + 2 + np.arange(step_ids.shape[1])[None]
    ids[np.broadcast_to(rows[:, None], taken.shape)[taken], columns[taken]] = step_ids[taken]
    ended = rows[halted]
    ids[ended, lengths[ended] - 1] = vocab.end
    return Runs(ids, lengths, table_end + 1, halted, steps)


@partial(jax.jit, static_argnames=("values",))
def _predicted(streams: jax.Array, unembed: jax.Array, values: int) -> jax.Array:
    """The output column each position predicts (the model's decode: the first largest score)."""
    return jnp.argmax((streams @ unembed)[..., :values], axis=-1).astype(jnp.int32)


def wrong(runs: Runs, predicted: np.ndarray, vocab: Vocabulary) -> np.ndarray:
    """Per machine, whether generation would leave the reference: a prediction at a position
    from the `|` to the last but one is not the next token, or a run the budget cut is
    followed by `#` (`predicted`: output columns per position of `runs.ids`)."""
    predicted_ids = vocab.output_ids[predicted]
    positions = np.arange(runs.ids.shape[1])[None]
    checked = (positions >= runs.sep[:, None]) & (positions < runs.lengths[:, None] - 1)
    following = np.concatenate([runs.ids[:, 1:], np.zeros((len(runs.ids), 1), runs.ids.dtype)], axis=1)
    missed = np.any(checked & (predicted_ids != following), axis=1)
    last = predicted_ids[np.arange(len(runs.ids)), runs.lengths - 1]
    return missed | (~runs.halted & (last == vocab.end))


def _padded(length: np.ndarray | int, pad: int) -> np.ndarray:
    return -(-np.asarray(length) // pad) * pad


def check_numbers(
    model: Transformer,
    numbers: np.ndarray,
    shape: Shape,
    max_steps: int,
    dtype: str,
    fast: tuple,
    rows: int | None = None,
) -> tuple[Runs, np.ndarray]:
    """The reference runs of machines `numbers` and which of them the model gets wrong
    (`fast`: the model's plan and folded weights on the device, `turing.universal_model.fast_pass`),
    `rows` machines per forward pass (default: as many as ROW_TOKENS positions hold).

    Machines whose numbers differ in the last digit only share every table record but the last
    one: their inputs begin alike, so the model reads that beginning once per group
    (`compiled_model.fast_forward.shared_prefixes`) and each machine's own tokens (the last
    record, `$ |`, the steps) after it (`after_prefixes`), in passes of rows of one padded
    length (`ROW_TOKENS`; `PAD_TO`, or `FINE_PAD_TO` from FINE_FROM machines).  Inputs are
    about 55 tokens, of which a machine's own are about 21 (three states, two symbols, 30 steps)."""
    vocab = vocabulary(model, shape)
    runs = reference_runs(numbers, shape, max_steps, vocab)
    numbers = np.asarray(numbers, np.int64)
    base = 1 + 2 * shape.symbols * (shape.states + 1)
    _, first, group = np.unique(numbers // base, return_index=True, return_inverse=True)
    begins = 1 + 6 * np.count_nonzero(digits_of(numbers, shape)[:, :-1], axis=1)  # BOS and the shared records
    marked = np.zeros(len(numbers), bool)
    pad = FINE_PAD_TO if len(numbers) >= FINE_FROM else PAD_TO
    widths = int(_padded(begins.max(), pad)), int(_padded((runs.lengths - begins).max(), pad))
    with precision(dtype):
        for low in range(0, len(first), MAX_GROUPS):
            part = Part(first[low : low + MAX_GROUPS], np.flatnonzero((group >= low) & (group < low + MAX_GROUPS)))
            part_marked = _check_part(model, runs, part, group - low, begins, pad, widths, dtype, fast, vocab, rows)
            marked[part.members] = part_marked
    return runs, marked


MAX_STEPS = 256
"""The longest step budget checked in arrays: a run's inputs are held whole (a chunk's tapes,
steps and token ids grow with it) and its keyed heads compare every pair of positions; longer
budgets go through the harness, whose passes keep tables (`UniversalEngine.bulk`)."""


@dataclass(frozen=True)
class Checker:
    """`check_numbers` bound to one model, shape, step budget and float type: what an engine
    hands `turing.exhaustive` to check machines by number (`summary`: the model's)."""

    model: Transformer
    shape: Shape
    max_steps: int
    dtype: str
    fast: tuple
    summary: dict

    def __call__(self, numbers: np.ndarray) -> tuple[Runs, np.ndarray]:
        return check_numbers(self.model, numbers, self.shape, self.max_steps, self.dtype, self.fast)


MAX_GROUPS = 1024
"""Prefixes whose states one call keeps: their logs take tens of kilobytes each, and a sparse
class (tree normal form) has nearly one per machine."""

SMALL_PART = 64
"""The prefixes a small call reads (padded to this many, or to MAX_GROUPS: two shapes only)."""


@dataclass(frozen=True)
class Part:
    """Some groups of machines that share a prefix: the first member of each (`first`), and
    every member (`members`), as indices into the batch."""

    first: np.ndarray
    members: np.ndarray


def _check_part(
    model: Transformer,
    runs: Runs,
    part: Part,
    group: np.ndarray,
    begins: np.ndarray,
    pad: int,
    widths: tuple[int, int],
    dtype: str,
    fast: tuple,
    vocab: Vocabulary,
    rows: int | None,
) -> np.ndarray:
    """Which members of `part` the model gets wrong: the prefix of each of its groups read once
    (`shared_prefixes`; `group` numbers them from the part's first), then each member's own
    tokens after it (`after_prefixes`), in rows of one padded length.  `pad`: the padding
    (`PAD_TO` or `FINE_PAD_TO`); `widths`: the padded widths of the prefixes and of the members' own tokens."""
    plan, tables = fast
    params = model.device_params(dtype)
    prefix_width, own_width = widths
    groups = SMALL_PART if len(part.first) <= SMALL_PART else MAX_GROUPS  # two sizes: two compilations
    shared = np.concatenate([part.first, np.full(groups - len(part.first), part.first[0])])
    prefix_ids = _columns(runs.ids[shared], 0, prefix_width)
    prefix_mask = np.arange(prefix_width)[None] < begins[shared, None]
    states = shared_prefixes(params, tables, prefix_ids, prefix_mask, plan, model.window, prefix_width + own_width)
    unembed = params["unembed"][np.array(plan.outputs, int)]
    own = runs.lengths - begins
    padded = _padded(own[part.members], pad)
    marked = np.zeros(len(part.members), bool)
    for length in np.unique(padded).tolist():
        places = np.flatnonzero(padded == length)
        size = rows or max(1, ROW_TOKENS // length)
        for at in range(0, len(places), size):
            chosen = part.members[places[at : at + size]]
            batch = np.full(size, chosen[0])  # a fixed number of rows: one compilation per length
            batch[: len(chosen)] = chosen
            ids = np.where(np.arange(size)[:, None] < len(chosen), _own_tokens(runs, batch, begins, length), 0)
            mask = (np.arange(length)[None] < own[batch, None]) & (np.arange(size)[:, None] < len(chosen))
            streams = after_prefixes(
                params, tables, states, group[batch], begins[batch], ids, mask, plan, model.window, plan.outputs
            )
            predicted = np.asarray(_predicted(streams, unembed, len(model.spec.output.values)))
            tail = Runs(ids, own[batch], runs.sep[batch] - begins[batch], runs.halted[batch], runs.steps[batch])
            marked[places[at : at + size]] = wrong(tail, predicted, vocab)[: len(chosen)]
    return marked


def _columns(ids: np.ndarray, start: int, width: int) -> np.ndarray:
    """Columns start .. start + width - 1 of `ids`, padded with 0 past its last."""
    cut = ids[:, start : start + width]
    return np.pad(cut, ((0, 0), (0, width - cut.shape[1])))


def _own_tokens(runs: Runs, rows: np.ndarray, begins: np.ndarray, length: int) -> np.ndarray:
    """Each row's tokens after its shared beginning, `length` columns (0 past its input)."""
    columns = begins[rows, None] + np.arange(length)[None]
    inside = columns < runs.ids.shape[1]
    return np.where(inside, runs.ids[rows[:, None], np.minimum(columns, runs.ids.shape[1] - 1)], 0)
