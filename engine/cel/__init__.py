"""Roster's CEL engine (docs/concepts.md): contexts, compile with clear errors, fast evaluation.

engine = CelEngine(population)
program = engine.compile("push_condition", 'subject.department == "Engineering"')
value = engine.evaluate(program, engine.activation_for("push_condition", user))
"""

from .budget import CelLimits
from .contexts import CONTEXTS, NO_RECORD, ContextSpec
from .engine import CelEngine, Program
from .exceptions import CelCompileError, CelEvalError, CelTimeBudgetError
from .functions import function_names
from .objects import field_names
from .results import check_result, normalize_filter_result
from .values import to_python, type_name

__all__ = [
    "CONTEXTS",
    "NO_RECORD",
    "CelCompileError",
    "CelEngine",
    "CelEvalError",
    "CelLimits",
    "CelTimeBudgetError",
    "ContextSpec",
    "Program",
    "check_result",
    "field_names",
    "function_names",
    "normalize_filter_result",
    "to_python",
    "type_name",
]
