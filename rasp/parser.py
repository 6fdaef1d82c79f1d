"""Source text to syntax tree, with errors that point at the offending character.

The tree is Lark's, produced by `grammar.lark` (LALR); its rule names are the AST node kinds the
runtime dispatches on.  Every Lark failure becomes a `RaspSyntaxError` carrying file, line, column,
the source line with a caret, what was found and what would have been accepted there.
"""

from __future__ import annotations

from functools import cache
from importlib import resources

from lark import Lark, Tree, UnexpectedCharacters, UnexpectedEOF, UnexpectedInput, UnexpectedToken

from rasp.errors import Location, RaspSyntaxError

#: Readable names for the grammar's terminals, used in "expected ..." messages.
_TERMINAL_NAMES = {
    "SEMICOLON": "';'",
    "COMMA": "','",
    "LPAR": "'('",
    "RPAR": "')'",
    "LSQB": "'['",
    "RSQB": "']'",
    "LBRACE": "'{'",
    "RBRACE": "'}'",
    "COLON": "':'",
    "EQUAL": "'='",
    "ID": "a name",
    "INT": "a number",
    "FLOAT": "a number",
    "STRING": "a string",
    "SELECT_CALL": "'select('",
    "AGGREGATE_CALL": "'aggregate('",
    "RANGE_CALL": "'range('",
    "ZIP_CALL": "'zip('",
    "LEN_CALL": "'len('",
    "SUBSET": "'s-op' or 'selector'",
    "SWITCH": "'on' or 'off'",
    "EXIT": "'exit'",
    "FULL_SEQ_DISPLAY": "'full seq display'",
    "$END": "the end of the input",
}

_SELECT_OPS = {"==", "!=", "<", ">", "<=", ">="}


@cache
def _parser() -> Lark:
    grammar = resources.files("rasp").joinpath("grammar.lark").read_text(encoding="utf-8")
    return Lark(grammar, parser="lalr", propagate_positions=True, maybe_placeholders=True)


def _describe_terminal(name: str, parser: Lark) -> str:
    if name in _TERMINAL_NAMES:
        return _TERMINAL_NAMES[name]
    try:
        pattern = parser.get_terminal(name).pattern
    except KeyError:
        return name.lower()
    return f"'{pattern.value}'" if pattern.type == "str" else name.lower()


def _expected(names: set[str], parser: Lark) -> str:
    """What the parser would have accepted, in words: a short list, or its gist when long."""
    readable = sorted({_describe_terminal(name, parser) for name in names})
    if len(readable) <= 8:
        return " or ".join(readable) if len(readable) <= 2 else "one of " + ", ".join(readable)
    if "RETURN" in names:
        return "'return' or another statement"
    if "ID" in names and "SEMICOLON" not in names:
        return "an expression (a name, number, string, list, or one of " + ", ".join(readable[:6]) + ", ...)"
    return "an operator, ';' or another continuation (one of " + ", ".join(readable[:8]) + ", ...)"


def _hint(found: str, expected_names: set[str]) -> str | None:
    if found == "!=":
        return "'!=' is only a select comparison; elsewhere write 'not (a == b)'"
    if "RETURN" in expected_names:
        return "a def body ends with 'return ...;'"
    if "SEMICOLON" in expected_names and found != ";":
        return "statements end with ';' (except def and for blocks, and REPL commands)"
    return None


def parse(source: str, file: str | None = None) -> Tree:
    """Parse a whole program (statements and REPL commands) into a syntax tree."""
    parser = _parser()
    lines = source.splitlines()
    try:
        return parser.parse(source)
    except UnexpectedInput as error:
        line = getattr(error, "line", 1) or 1
        column = getattr(error, "column", 1) or 1
        if isinstance(error, UnexpectedEOF) or (isinstance(error, UnexpectedToken) and error.token.type == "$END"):
            line, column = len(lines) or 1, (len(lines[-1]) + 1) if lines else 1
            expected = getattr(error, "expected", set()) or set()
            message = f"unexpected end of input; expected {_expected(set(expected), parser)}"
            hint = "a statement, block or bracket is not finished"
        elif isinstance(error, UnexpectedCharacters):
            char = source[error.pos_in_stream] if error.pos_in_stream < len(source) else "?"
            allowed = set(error.allowed or ())
            message = f"unexpected character {char!r}"
            if allowed:
                message += f"; expected {_expected(allowed, parser)}"
            hint = _hint(char, allowed) or ("strings use double quotes" if char == "'" else None)
        else:
            assert isinstance(error, UnexpectedToken)
            found = str(error.token)
            expected = set(error.expected)
            message = f"unexpected {found!r}; expected {_expected(expected, parser)}"
            if expected and all(_describe_terminal(n, parser).strip("'") in _SELECT_OPS for n in expected):
                message = f"unexpected {found!r}; expected a comparison: one of ==, !=, <, >, <=, >="
            hint = _hint(found, expected)
        source_line = lines[line - 1] if 0 < line <= len(lines) else None
        raise RaspSyntaxError(message, Location(file, line, column), hint=hint, source_line=source_line) from None


def is_complete(source: str) -> bool:
    """Whether `source` is a finished statement list: false if it only ran out of input (the REPL
    then asks for another line), true otherwise (parsed, or wrong in a way more lines cannot fix)."""
    try:
        _parser().parse(source)
    except UnexpectedEOF:
        return False
    except UnexpectedToken as error:
        return error.token.type != "$END"
    except UnexpectedInput:
        return True
    return True


def parse_each(source: str, file: str | None = None) -> list[Tree | RaspSyntaxError]:
    """The statements of a file that does not parse as a whole, read as the original REPL reads
    a loaded file: line by line, a statement at a time, so that one malformed statement yields
    its own `RaspSyntaxError` and the statements after it still parse.  Each chunk is parsed
    behind as many newlines as precede it, so positions are those of the whole file."""
    items: list[Tree | RaspSyntaxError] = []
    pending: list[str] = []
    first_line = 0
    lines = source.splitlines(keepends=True)
    for number, line in enumerate(lines):
        pending.append(line)
        chunk = "".join(pending)
        if number + 1 < len(lines) and not is_complete(chunk):
            continue
        try:
            items.extend(parse("\n" * first_line + chunk, file).children)
        except RaspSyntaxError as error:
            items.append(error)
        pending.clear()
        first_line = number + 1
    return items
