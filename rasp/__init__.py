"""rasp-toolkit's language half: parse, run and interpret RASP programs.

>>> import rasp
>>> s = rasp.Session()
>>> s.run("rev = aggregate(select(indices, length - indices - 1, ==), tokens);")
>>> s["rev"]("abc")
['c', 'b', 'a']
"""

from rasp.errors import (
    Location,
    RaspError,
    RaspEvaluationError,
    RaspNameError,
    RaspSyntaxError,
    RaspTypeError,
)
from rasp.interpreter import IncrementalEvaluator, Interpreter, evaluate
from rasp.ir import (
    Aggregate,
    Full,
    Indices,
    Length,
    Map,
    Node,
    Select,
    Selector,
    SelectorAnd,
    SelectorNot,
    SelectorOr,
    SelectorWidth,
    SequenceMap,
    SOp,
    Tokens,
    aggregate,
    indices,
    length,
    map_sop,
    select,
    selector_width,
    sequence_map,
    tokens,
)
from rasp.session import Session
from rasp.shipped import program_path, programs_dir

__all__ = [
    "Aggregate", "Full", "IncrementalEvaluator", "Indices", "Interpreter", "Length", "Location", "Map", "Node",
    "RaspError", "RaspEvaluationError", "RaspNameError", "RaspSyntaxError", "RaspTypeError", "SOp", "Select",
    "Selector", "SelectorAnd", "SelectorNot", "SelectorOr", "SelectorWidth", "SequenceMap", "Session", "Tokens",
    "aggregate", "evaluate", "indices", "length", "map_sop", "program_path", "programs_dir", "select",
    "selector_width", "sequence_map", "tokens",
]
