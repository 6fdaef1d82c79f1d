"""The engines that run Turing Programs, behind one interface (`turing.engines.base`).

Importing this package imports every engine module, and each registers its engine where it is
defined, so `ENGINES` and `engine_named` know them all.  The compiled and universal engines
bring in the compiler and JAX; the pure Turing machine modules below never import this package.
"""

from turing.engines.base import ENGINES, Batch, Engine, EngineError, Job, TraceDecoder, engine_named, engines_taking

# isort: off
# The order of registration is the order `rasp tm --help` lists the engines in.
from turing.engines.reference import ReferenceEngine
from turing.engines.interpreted import InterpreterEngine
from turing.engines.compiled import CompiledEngine
from turing.engines.universal import UniversalEngine, UniversalInterpreterEngine

# isort: on

__all__ = [
    "ENGINES",
    "Batch",
    "CompiledEngine",
    "Engine",
    "EngineError",
    "InterpreterEngine",
    "Job",
    "ReferenceEngine",
    "TraceDecoder",
    "UniversalEngine",
    "UniversalInterpreterEngine",
    "engine_named",
    "engines_taking",
]
