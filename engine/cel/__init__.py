"""Roster's CEL engine (docs/concepts.md): contexts, compile with clear errors, fast evaluation.

engine = CelEngine(population)
program = engine.compile("push_condition", 'subject.department == "Engineering"')
value = engine.evaluate(program, engine.activation_for("push_condition", user))
"""

from .budget import CelLimits
from .contexts import CONTEXTS, NO_RECORD, ContextSpec
from .engine import SWEEP_CACHE_LIMIT, CelEngine, Program
from .exceptions import CelCompileError, CelEvalError, CelTimeBudgetError
from .functions import function_names
from .objects import empty_user_fields, field_names
from .results import check_result, normalize_filter_result
from .values import to_python, type_name

#: What Roster's CEL gives for an expression: changed whenever an expression can give another
#: value or error than before (the arithmetic of mixed number kinds, a function's answer). A
#: sync run records it with the configuration's versions, so the first sync after an upgrade
#: that changes it reconsiders everything instead of keeping results of the old meaning.
#: The ownership key memo (engine.sync.key_memo) is scoped by it as well.
#: 2: arithmetic takes numbers of one kind (1 / 2.0 was 0).
#: 3: the smallest int % -1 is an overflow, as in cel-go (it was 0).
SEMANTICS = "3"

__all__ = [
    "SEMANTICS",
    "SWEEP_CACHE_LIMIT",
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
    "empty_user_fields",
    "field_names",
    "function_names",
    "normalize_filter_result",
    "to_python",
    "type_name",
]
