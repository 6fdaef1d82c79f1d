"""The Turing Program trace (docs/turing.md): encoding, parsing, rendering, comparing.

A trace is the token sequence `$ C0 | C1 | ... | CT |`, followed by `#` exactly when CT halts;
its grammar is `$ (C |)* #?`.  Each `C` is a configuration's tokens `u q v`.  Positions in a
trace are 0-based list indices throughout, so that error messages, `first_divergence` and the
runner's generated-token counts all agree.  Every function taking tokens also accepts the text
form, a string of space-separated tokens.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from turing.errors import TuringError
from turing.machine import Machine
from turing.simulator import DEFAULT_MAX_STEPS, Configuration, configurations, step
from turing.tokens import END, SEP, START

Tokens = Sequence[str] | str


class TraceError(TuringError):
    """A token sequence is not a well-formed trace of the machine; `position` is the culprit."""

    def __init__(self, message: str, position: int) -> None:
        super().__init__(f"trace position {position}: {message}")
        self.position = position


def encode_trace(configurations: Iterable[Configuration], halted: bool) -> list[str]:
    """`$ C0 | C1 | ... | CT |`, then `#` when `halted` (the last configuration halts)."""
    tokens = [START]
    for config in configurations:
        tokens.extend(config.tokens())
        tokens.append(SEP)
    if halted:
        tokens.append(END)
    return tokens


def trace_of(
    machine: Machine, tape: Iterable[str] = (), max_steps: int = DEFAULT_MAX_STEPS, max_tokens: int | None = None
) -> list[str]:
    """The reference trace of `machine` on `tape`, at most `max_steps` transitions long.  With
    `max_tokens`, no more of it than the first configurations that reach that many tokens (then
    without `#`: the run goes on): a run cut to a token budget needs no more of the reference,
    and a machine that never halts must not be simulated to a huge step budget first."""
    kept: list[Configuration] = []
    length = 1  # the `$`
    for config in configurations(machine, tape, max_steps):
        if max_tokens is not None and length >= max_tokens:
            return encode_trace(kept, halted=False)
        kept.append(config)
        length += len(config.tokens()) + 1
    return encode_trace(kept, halted=step(machine, kept[-1]) is None)


def parse_trace(tokens: Tokens, machine: Machine) -> tuple[list[Configuration], bool]:
    """The configurations of a well-formed trace, and whether it ends with `#`.

    Checks the grammar and that every configuration is some `u q v` of the machine (one state
    token, followed by at least one cell, all other tokens symbols); raises TraceError naming the
    first offending position.  Whether consecutive configurations follow by the table is not
    checked here: compare against the reference trace for that.
    """
    tokens = _token_list(tokens)
    if not tokens or tokens[0] != START:
        found = repr(tokens[0]) if tokens else "an empty sequence"
        raise TraceError(f"a trace starts with {START!r}, found {found}", 0)
    configurations: list[Configuration] = []
    begin = 1
    for position in range(1, len(tokens)):
        token = tokens[position]
        index = len(configurations)
        if token == SEP:
            configurations.append(_configuration(tokens, begin, position, machine, index))
            begin = position + 1
        elif token == END:
            if position > begin:
                raise TraceError(
                    f"{END!r} inside configuration C{index}; it may only follow {SEP!r}", position
                )
            if position != len(tokens) - 1:
                raise TraceError(
                    f"{END!r} must be the last token, but {tokens[position + 1]!r} follows", position + 1
                )
            return configurations, True
        elif token == START:
            raise TraceError(f"{START!r} may only open the trace (found in configuration C{index})", position)
        elif token not in machine.states and token not in machine.symbols:
            raise TraceError(
                f"{token!r} in configuration C{index} is neither a state nor a symbol of the machine",
                position,
            )
    if begin < len(tokens):
        raise TraceError(
            f"configuration C{len(configurations)} (from position {begin}) is not closed by {SEP!r}",
            len(tokens),
        )
    return configurations, False


def render_trace(tokens: Tokens, machine: Machine) -> str:
    """A readable listing: one line per configuration with its step, state and tape, `[ ]` round
    the scanned cell.  Malformed or unfinished configurations are shown as they are, so this can
    display an engine's faulty output too.  The machine tells state tokens from symbols.
    """
    tokens = _token_list(tokens)
    body = tokens[1:] if tokens[:1] == [START] else tokens
    segments: list[list[str]] = [[]]
    for token in body:
        if token == SEP:
            segments.append([])
        else:
            segments[-1].append(token)
    tail = segments.pop()
    ended = tail == [END]
    unfinished = bool(tail) and not ended
    if unfinished:
        segments.append(tail)
    width = max(len("step"), len(str(len(segments) - 1)))
    state_width = max([len("state"), *(len(state) for state in machine.states)])
    lines = [f"{'step':>{width}}  {'state':<{state_width}}  tape"]
    for index, segment in enumerate(segments):
        shown = _split_configuration(segment, machine)
        if isinstance(shown, str):
            line = f"{index:>{width}}  {'?':<{state_width}}  {' '.join(segment)}    <- {shown}"
        else:
            state, left, right = shown
            cells = [*left, f"[{right[0]}]", *right[1:]]
            line = f"{index:>{width}}  {state:<{state_width}}  {' '.join(cells)}"
        if unfinished and index == len(segments) - 1:
            line += "    <- unfinished: no closing |"
        lines.append(line)
    lines.append("halted (#)" if ended else "no end marker: the run did not halt within the trace")
    return "\n".join(lines)


def first_divergence(expected: Tokens, actual: Tokens) -> int | None:
    """The first position where the two traces differ, counting a missing token as a difference;
    None when they are identical."""
    # text is split; a sequence is read as it is (a run of 47 million tokens is not copied)
    expected = expected.split() if isinstance(expected, str) else expected
    actual = actual.split() if isinstance(actual, str) else actual
    for position, (want, got) in enumerate(zip(expected, actual, strict=False)):
        if want != got:
            return position
    return None if len(expected) == len(actual) else min(len(expected), len(actual))


def describe_divergence(expected: Tokens, actual: Tokens, machine: Machine) -> str:
    """Explain the first divergence of `actual` from the reference `expected`.

    Names the position, the configuration it falls in, the expected and the actual token; shows
    the previous (agreed) configuration and the table entry it applies, then the expected
    configuration and the actual one so far, aligned, with a caret under the divergent token.
    """
    expected, actual = _token_list(expected), _token_list(actual)
    position = first_divergence(expected, actual)
    if position is None:
        return f"the traces agree ({len(expected)} tokens)"
    want, got = _describe_token(expected, position), _describe_token(actual, position)
    head = f"first divergence at position {position}"
    if position == 0:
        return f"{head}, the start token: expected {want}, got {got}"
    separators = [index for index, token in enumerate(expected) if token == SEP]
    index = sum(1 for separator in separators if separator < position)  # the configuration at stake
    begin = separators[index - 1] + 1 if index else 1
    if index < len(separators):
        label = f"C{index}"
        lines = [f"{head}, token {position - begin} of configuration {label}: expected {want}, got {got}"]
        shown_expected = expected[begin : separators[index] + 1]
    else:
        label = f"after C{index - 1}"
        lines = [f"{head}, after the last configuration C{index - 1}: expected {want}, got {got}"]
        shown_expected = expected[begin:]
    if index:
        previous_begin = separators[index - 2] + 1 if index > 1 else 1
        previous = expected[previous_begin : separators[index - 1]]
        lines.append(f"  previous C{index - 1}: {' '.join(previous)}")
        lines.append(f"  {_describe_step(previous, machine)}")
    limit = begin + len(shown_expected) + 4
    shown_actual = []
    for token in actual[begin:limit]:
        shown_actual.append(token)
        if token == SEP:
            break
    if begin + len(shown_actual) < len(actual) and shown_actual[-1:] != [SEP]:
        shown_actual.append("...")
    columns = max(len(shown_expected), len(shown_actual))
    widths = [
        max(len(row[column]) if column < len(row) else 0 for row in (shown_expected, shown_actual))
        for column in range(columns)
    ]
    prefix_expected, prefix_actual = f"  expected {label}: ", f"  actual   {label}: "

    def aligned(row: list[str]) -> str:
        return " ".join(token.ljust(widths[column]) for column, token in enumerate(row)).rstrip()

    caret = sum(width + 1 for width in widths[: position - begin])
    lines.append(prefix_expected + (aligned(shown_expected) or "(end of trace)"))
    lines.append(prefix_actual + (aligned(shown_actual) or "(end of trace)"))
    lines.append(" " * (len(prefix_actual) + caret) + "^")
    return "\n".join(lines)


# --------------------------------------------------------------------------------- helpers


def _token_list(tokens: Tokens) -> list[str]:
    return tokens.split() if isinstance(tokens, str) else list(tokens)


def _configuration(tokens: list[str], begin: int, end: int, machine: Machine, index: int) -> Configuration:
    """Check `tokens[begin:end]` (already known to be states and symbols) is one `u q v`."""
    if begin == end:
        raise TraceError(f"configuration C{index} is empty", end)
    states = [position for position in range(begin, end) if tokens[position] in machine.states]
    if not states:
        raise TraceError(f"configuration C{index} has no state token", end)
    if len(states) > 1:
        raise TraceError(
            f"configuration C{index} has a second state token {tokens[states[1]]!r} "
            f"(the first is {tokens[states[0]]!r} at position {states[0]})",
            states[1],
        )
    at = states[0]
    if at == end - 1:
        raise TraceError(
            f"state {tokens[at]!r} ends configuration C{index}; it must precede the scanned cell", end
        )
    return Configuration(tuple(tokens[begin:at]), tokens[at], tuple(tokens[at + 1 : end]))


def _split_configuration(segment: list[str], machine: Machine) -> tuple[str, list[str], list[str]] | str:
    """(state, left cells, right cells) of a trace segment, or why it is not a configuration."""
    states = [position for position, token in enumerate(segment) if token in machine.states]
    unknown = [token for token in segment if token not in machine.states and token not in machine.symbols]
    if unknown:
        return f"unknown token {unknown[0]!r}"
    if len(states) != 1:
        return f"{len(states)} state tokens, expected 1"
    if states[0] == len(segment) - 1:
        return "no scanned cell after the state"
    return segment[states[0]], segment[: states[0]], segment[states[0] + 1 :]


def _describe_token(tokens: list[str], position: int) -> str:
    return repr(tokens[position]) if position < len(tokens) else "the end of the trace"


def _describe_step(segment: list[str], machine: Machine) -> str:
    """Which table entry takes the given configuration to the next one."""
    shown = _split_configuration(segment, machine)
    if isinstance(shown, str):
        return f"(not a configuration of the machine: {shown})"
    state, _, right = shown
    entry = machine.transition(state, right[0])
    if entry is None:
        why = "a halting state" if state in machine.halting else "no transition"
        return f"({state}, {right[0]}) halts there: {why}"
    return f"applies ({state}, {right[0]}) -> ({entry.write}, {entry.move}, {entry.next})"
