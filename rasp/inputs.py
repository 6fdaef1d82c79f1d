"""Reading a token sequence from text: the one syntax of every `--input` option (`rasp run`,
`rasp draw`, `rasp compile --plot`, `rasp run-model`, the tapes of `rasp tm`).

- A text starting with `[` is a JSON list of atoms: `[1, 2, 3]`, `["ab", "c"]`.
- A text with whitespace is split into tokens at it: `a b c`, `bl x y`.
- A text that is itself one token of the vocabulary is that token: `bl`.
- Anything else is one token per character: `hello`, `0110`.

`rasp run` and `rasp run-model` also take the text from a file (`--input @FILE`) or from standard
input (`--input -`), for inputs longer than the shell's argument limit (`input_text`).

A vocabulary (the tokens a compiled model or a machine's tape accepts) keeps a text in its own
terms: when `[` is one of its tokens, or a token holds whitespace, the text is read as tokens of
it, never as JSON or as words.  Reading text is the language's business, so this lives in
`rasp`; the command line only passes the text in.
"""

from __future__ import annotations

import json
import math
import sys
from collections.abc import Collection
from pathlib import Path
from typing import Any

from rasp.errors import UsageError


def parse_input(text: str | None, vocabulary: Collection[Any] | None = None) -> str | list[Any]:
    """`text` as a token sequence: a list of tokens, or a string when each character is one
    (how the interpreter takes a string input).  None and blank text are the empty input."""
    if text is None:
        return ""
    tokens = {str(token) for token in vocabulary or ()}
    if any(any(c.isspace() for c in token) for token in tokens):
        return text
    stripped = text.strip()
    if stripped.startswith("[") and "[" not in tokens:
        return _json_list(stripped)
    if any(c.isspace() for c in stripped):
        return stripped.split()
    if len(stripped) > 1 and stripped in tokens:
        return [stripped]
    return stripped


def _json_list(text: str) -> list[Any]:
    """A JSON list of tokens: strings, finite numbers, booleans and null, nothing else (no nested
    lists or objects, no Infinity or NaN, which no program can take as a token)."""
    try:
        tokens = json.loads(text, parse_constant=_no_constant)  # a text starting with `[` is a list if JSON
    except json.JSONDecodeError as error:
        raise UsageError(f"--input looks like a JSON list but is not one: {error.msg}") from None
    except ValueError as error:  # an integer past Python's digit limit for reading one (4,300)
        raise UsageError(f"--input holds a number that cannot be read: {error}") from None
    except RecursionError:  # lists nested thousands deep: no token is a list anyway
        raise UsageError("--input holds lists nested too deeply: tokens are strings, numbers, booleans or null") \
            from None
    if not isinstance(tokens, list):
        raise UsageError("--input looks like a JSON list but is not one")
    for token in tokens:
        if token is not None and not isinstance(token, (str, int, float)):  # bool is an int
            raise UsageError(f"--input holds {json.dumps(token)}, which is no token: tokens are strings, numbers, "
                             "booleans or null")
        if isinstance(token, float) and not math.isfinite(token):  # 1e999 reads as infinity
            raise UsageError(f"--input holds {token}, which is no token: numbers must be finite")
    return tokens


def _no_constant(name: str) -> Any:
    raise UsageError(f"--input holds {name}, which is no token: numbers must be finite")


def input_text(argument: str) -> str:
    """The text an `--input` argument stands for: `@FILE` is the file's contents and `-` standard
    input (a byte-order mark dropped from either); any other argument is the text itself."""
    if argument == "-":
        return sys.stdin.read().removeprefix("\ufeff")
    if not argument.startswith("@"):
        return argument
    path = Path(argument[1:])
    try:
        return path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as error:
        reason = error.strerror if isinstance(error, OSError) and error.strerror else str(error)
        raise UsageError(f"--input {argument}: cannot read {path}: {reason}") from None
