"""How the REPL shows results, in the original RASP REPL's format (same words, tabs and spacing),
so that transcripts from the original and from this toolkit read alike."""

from __future__ import annotations

import re
from typing import Any

from rasp import ir
from rasp.errors import RaspError
from rasp.interpreter import evaluate
from rasp.objects import Applied, Builtin, Function, Result
from rasp.values import format_sequence, format_value, sequence_type

#: What the verbose display (`full seq display on`) says instead of rows of identical values.
SKIPPED = "[skipped full display: identical values]"


def error_lines(error: RaspError) -> list[str]:
    """An error as the REPL prints it: `!!` before the first line, the rest indented to match."""
    return ["\t!! " + line if i == 0 else "\t   " + line for i, line in enumerate(str(error).splitlines())]


def _line(*parts: Any) -> str:
    """Joins like `print(*parts)` does (one space between parts)."""
    return " ".join(str(p) for p in parts)


def selector_matrix(example: Any, matrix: list[list[bool]], prefix: str = "") -> list[str]:
    """The selector drawn as the original draws it: input across, one row per query, 1 = selected."""
    tokens = list(example)
    lines = [_line(prefix, "\t\t\t    ", " ".join(str(v) for v in tokens))]
    for token, row in zip(tokens, matrix):
        lines.append(_line(prefix, "\t\t\t", token, "|", " ".join("1" if v else " " for v in row)))
    return lines


def _bool_marks(values: list[Any]) -> list[Any]:
    """Bools shown as T or F, leaving the commoner value blank so the rare one stands out."""
    if not values or not isinstance(values[0], bool):
        return values
    trues = values.count(True)
    falses = len(values) - trues
    return [("T" if trues <= falses else "") if v else ("F" if falses <= trues else "") for v in values]


def full_sequence(example: Any, values: list[Any], prefix: str = "") -> list[str]:
    """The verbose display (`full seq display on`): input and output aligned in columns."""
    inputs = [str(v) for v in _bool_marks(list(example))]
    outputs = [str(v) for v in _bool_marks(values)]
    width = max(len(v) for v in inputs + outputs) if inputs + outputs else 0

    def row(cells: list[str]) -> str:
        return " ".join(" " * (width - len(c)) + c for c in cells)

    return [
        _line(prefix, "\t\tinput:  ", row(inputs), "\t", "(strings)"),
        _line(prefix, "\t\toutput: ", row(outputs), "\t", f"({sequence_type(values)})"),
    ]


class Display:
    """Renders `Result`s given the session's examples and switches."""

    def __init__(self, session: Any) -> None:
        self.session = session

    def render(self, result: Result) -> list[str]:
        if result.kind == "example":
            return [f"\t{result.name} example: {format_value(result.value)}"]
        if result.kind == "draw":
            return self._draw(*result.value)
        if result.kind == "error":
            return error_lines(result.value)
        if result.kind == "loaded":  # as in the original, without examples
            return self._named(str(result.name), result.value, examples=False)
        if result.name is None:
            return self._just_value(result.value)
        return self._named(result.name, result.value)

    def _draw(self, sop: ir.SOp, example: Any) -> list[str]:
        """`draw(sop, input);`: the picture goes to `<label>.png` in the current folder."""
        from rasp.draw import draw_program

        example = self.session.sop_example if example is None else example
        path = draw_program(sop, example, re.sub(r"[^\w.-]", "_", sop.label) + ".png")
        return [f"\t drew {sop.label} on {format_value(example)} to {path}"]

    def _just_value(self, value: Any) -> list[str]:
        if value is None:
            return []
        if isinstance(value, Applied):
            if isinstance(value.node, ir.Selector):
                return ["\t = ", *selector_matrix(value.input, value.value)]
            if self.session.full_display and len(set(value.value)) > 1:
                return ["\t = ", *full_sequence(value.input, value.value)]
            if self.session.full_display:
                return [_line("\t = ", "", format_sequence(value.value), SKIPPED)]
            return [_line("\t = ", format_sequence(value.value))]
        return [_line("\t = ", format_value(value).replace("\n", "\n\t\t\t"))]

    def _named(
        self, name: str, value: Any, tabs: int = 0, first_prefix: str = "", examples: bool = True
    ) -> list[str]:
        prefix = "\t" * tabs
        session = self.session
        if isinstance(value, ir.SOp):
            lines = [_line(prefix, first_prefix, "   s-op:", name)]
            if examples and session.show_sop_examples:
                example = session.sop_example
                values = evaluate(value, example)
                call = f"{name}({format_value(example)}) ="
                if session.full_display and len(set(values)) > 1:
                    lines.append(_line(prefix, "\t Example:"))  # as in the original: no `name(example) =` here
                    lines.extend(full_sequence(session.selector_example, values, prefix))
                elif session.full_display:
                    lines.append(
                        _line(
                            prefix,
                            "\t Example:",
                            call,
                            format_sequence(values),
                            SKIPPED,
                        )
                    )
                else:
                    lines.append(_line(prefix, "\t Example:", call, format_sequence(values)))
            return lines
        if isinstance(value, ir.Selector):
            lines = [_line(prefix, first_prefix, "   selector:", name)]
            if examples and session.show_selector_examples:
                example = session.selector_example
                lines.append(_line(prefix, "\t Example:"))
                lines.extend(selector_matrix(example, evaluate(value, example), prefix))
            return lines
        if isinstance(value, (Function, Builtin)):
            return [_line(prefix, first_prefix, "   " + str(value))]
        if isinstance(value, (list, dict)):
            return self._container(name, value, tabs, first_prefix, examples)
        if isinstance(value, Applied):
            value = _applied_text(value)
        return [_line(prefix, "   value:", f"{name} = ", value if isinstance(value, _Shown) else format_value(value))]

    def _container(
        self, name: str | None, value: list[Any] | dict[Any, Any], tabs: int, first_prefix: str, examples: bool
    ) -> list[str]:
        prefix = "\t" * tabs
        kind = "list" if isinstance(value, list) else "dict"
        head = f"   {kind}: " + (f"{name} = " if name is not None else "")
        items = value if isinstance(value, list) else list(value.values())
        if not any(isinstance(v, (list, dict, ir.Node)) for v in items):
            return [_line(prefix, first_prefix, head) + repr(value)]
        lines = [_line(prefix, first_prefix, head) + _line(prefix, "[" if kind == "list" else "{")]
        if isinstance(value, list):
            for item in value:
                lines.extend(self._unnamed(item, tabs + 2, "", examples))
        else:
            for key, item in value.items():
                lines.extend(self._unnamed(item, tabs + 3, format_value(key) + " : ", examples))
        lines.append(_line(prefix, " " * len(head), "]" if kind == "list" else "}"))
        return lines

    def _unnamed(self, value: Any, tabs: int, first_prefix: str, examples: bool) -> list[str]:
        if isinstance(value, ir.Node):
            return self._named(value.label, value, tabs, first_prefix, examples)
        if isinstance(value, (list, dict)):
            return self._container(None, value, tabs, first_prefix, examples)
        return [_line("\t" * tabs, "   value:", "", format_value(value))]


class _Shown(str):
    """Text already formatted for display (an applied s-op's values)."""


def _applied_text(value: Applied) -> _Shown:
    if isinstance(value.node, ir.Selector):
        return _Shown(repr(value.value))
    return _Shown(format_sequence(value.value))
