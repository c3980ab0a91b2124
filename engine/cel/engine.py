"""The CEL engine: compile once per (context, text), convert each record once, evaluate fast.

Evaluation runs cel-python's transpiled code directly (see transpile.py) with a light
activation, so it needs no lock: programs keep no state between calls and record objects only
ever gain cached fields. Two Textual workers may evaluate at the same time.

Bounds: expressions are limited on compile (length, nesting, comprehension nesting; see
checker.py). An expression that can grow (a comprehension, `replace`, `join`, …) is metered
while it runs: a cost budget per evaluation and the time budget of the preview or stage it runs
in (budget.py, `settings.cel`). A failed evaluation names the sub-expression that failed and
its column (locate.py).
"""

from __future__ import annotations

import datetime
import logging
import threading
import types
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, cast

import celpy
import lark
from celpy import celtypes
from celpy.evaluation import CELEvalError, TranspilerTree

from engine.errors import Problem, StoreError
from engine.records import (
    STANDARD_ATTRIBUTES,
    AccountRecord,
    Directory,
    UserRecord,
    account_order,
)
from engine.text import printable

from . import budget
from .budget import BudgetExceeded, CelLimits
from .checker import (
    KeyUse,
    SchemaChecker,
    SchemaError,
    check_text_bounds,
    check_tree_depth,
    closest,
)
from .contexts import CONTEXTS, ContextSpec
from .exceptions import CelCompileError, CelEvalError, CelTimeBudgetError, caret_text
from .functions import MACROS, build_symbols
from .locate import Place, SourceMap
from .objects import USER_FIELDS, AccountObject, UserObject
from .runtime import (
    consumed_error,
    describe_error_value,
    describe_exception,
    forget_error_values,
)
from .transpile import Activation, parse, parser, rewrite_helpers, transpile

_BASE_GLOBALS: dict[str, Any] = dict(vars(celpy.evaluation))
_CACHE_SIZE = 1024
_compile_lock = threading.Lock()


def quiet_celpy_loggers() -> None:
    """cel-python logs failed evaluations at ERROR; on a terminal that corrupts the TUI."""
    logger = logging.getLogger("celpy")
    if not any(isinstance(h, logging.NullHandler) for h in logger.handlers):
        logger.addHandler(logging.NullHandler())
    logger.propagate = False
    logger.setLevel(logging.CRITICAL)


@dataclass(frozen=True, eq=False)
class Program:
    """A compiled expression. Evaluate it with `CelEngine.evaluate`."""

    context: str
    text: str
    source: str = field(repr=False)  # the Python the expression became (for debugging)
    keys: tuple[KeyUse, ...] = field(repr=False, default=())
    run: Any = field(repr=False, default=None)
    # What the expression reads besides its variables, as the checker found it: a program that
    # reads the directory (c1.* functions) or the clock (now()) can give another result for an
    # unchanged record, so callers must not reuse its earlier results.
    reads_directory: bool = False
    reads_clock: bool = False
    # reads its own person's accounts through a c1.user.v1 function (not other people's):
    # what the person's own accounts changing already covers
    reads_own_accounts: bool = False
    # of those, whether it reads the accounts' data (ListAppUsersForUser), not only that they
    # exist, their status or grants (HasApp)
    reads_own_account_data: bool = False
    # A program that can grow past the size of its text and data runs with a cost budget.
    metered: bool = False
    places: SourceMap | None = field(repr=False, default=None)
    # What compiles but deserves a word (`has(x["key"])` read as `"key" in x`)
    warnings: tuple[Problem, ...] = field(repr=False, default=())
    # The context's variables the compiled code names (a superset of those it reads): an
    # activation leaves the others out, so `accounts` is never built for an expression that
    # only reads `subject`.
    variables: frozenset[str] | None = field(repr=False, default=None)
    # every field name and literal key it selects ("*": one computed at run time)
    names: frozenset[str] = field(repr=False, default=frozenset())
    # of those, the ones selected of a person (SchemaChecker.person_names)
    person_names: frozenset[str] = field(repr=False, default=frozenset())
    # what it reads of an account variable: AccountRecord's fields, "profile:<key>" for a
    # profile key it selects by a literal; None: maybe all of it (SchemaChecker.account_reads)
    account_reads: frozenset[str] | None = field(repr=False, default=None)
    # whether it may read any of its person's attributes: the person, their attributes or
    # their profile used whole (compared, passed on, iterated), not field by field
    reads_person_whole: bool = field(repr=False, default=True)
    # of those, whether through their attributes or profile map itself (iterated, measured):
    # any attribute of theirs, where a lookup the person is passed to reads the fields it does
    reads_attributes_whole: bool = field(repr=False, default=True)

    @property
    def reads_beyond_its_record(self) -> bool:
        return self.reads_directory or self.reads_clock


#: The most converted records an engine keeps when it evaluates over everyone once (a sync's
#: stage, a count or plan over everyone): each person and account is read about once per pass,
#: so more only holds memory (a count of the Attributes screen at 100,000 people left 850 MB of
#: conversions in the console; the merge matrix's engine 0.8 GB).
SWEEP_CACHE_LIMIT = 4096


class CelEngine:
    def __init__(
        self,
        population: Directory | None = None,
        *,
        clock: Callable[[], datetime.datetime] | None = None,
        limits: CelLimits | None = None,
        cache_limit: int | None = None,
    ) -> None:
        quiet_celpy_loggers()
        self._limits = limits or CelLimits.of()
        self._cost = _Cost(self._limits.max_cost)
        self._population = population
        self._clock = clock
        self._reads_clock = False
        self._reads_directory = False
        self._lock = threading.Lock()
        self._programs: OrderedDict[tuple[Any, ...], Program] = OrderedDict()
        self._symbols = build_symbols(self)
        self._users: dict[int, UserObject] = {}
        self._accounts: dict[int, AccountObject] = {}
        self._accounts_maps: dict[int, tuple[UserRecord, AccountsMap]] = {}
        self._known_keys: dict[tuple[str, str], set[str]] = {}
        # Converted records are kept for the next expression that reads them. A console's
        # shared engine keeps them all (a preview over everyone runs again at every keystroke);
        # a pass over everyone reads each about once, so it bounds them (SWEEP_CACHE_LIMIT).
        self.cache_limit = cache_limit

    @property
    def limits(self) -> CelLimits:
        """The budgets of `settings.cel` this engine evaluates with."""
        return self._limits

    @limits.setter
    def limits(self, limits: CelLimits) -> None:
        self._limits = limits
        self._cost.max_cost = limits.max_cost

    # ---- population --------------------------------------------------------------------
    @property
    def population(self) -> Directory | None:
        return self._population

    @population.setter
    def population(self, population: Directory | None) -> None:
        self._population = population
        self.clear_cache()

    def clear_cache(self) -> None:
        """Forget converted records (call after the store changed)."""
        self._users = {}
        self._accounts = {}
        self._accounts_maps = {}
        self._known_keys = {}

    def forget_user(self, user_id: int) -> None:
        """Convert the person again when next read: a stage changed their record in place
        (the attributes stage sets each value as it decides it), and every expression read after
        that, theirs or someone else's, must see the new value."""
        self._users.pop(user_id, None)

    def warm_up(self) -> None:
        """Build the parser now (~0.2 s, once per process): call it off the UI thread."""
        parser()

    # ---- compile -----------------------------------------------------------------------
    def compile(self, context: str | ContextSpec, text: str) -> Program:
        """Compile `text` for a named context, or for an ad-hoc `ContextSpec` (its variables
        checked as given: the conformance runner declares each test's bindings this way)."""
        key: tuple[Any, ...]
        if isinstance(context, ContextSpec):
            key = (context.name, tuple(context.variable_kinds.items()), text)
        else:
            key = (context, text)
        with self._lock:
            program = self._programs.get(key)
            if program is not None:
                self._programs.move_to_end(key)
                return program
        with _compile_lock:  # the parser and transpiler are not meant for concurrent use
            program = self._compile(context, text)
        with self._lock:
            self._programs[key] = program
            while len(self._programs) > _CACHE_SIZE:
                self._programs.popitem(last=False)
        return program

    def _compile(self, context: str | ContextSpec, text: str) -> Program:
        spec = context if isinstance(context, ContextSpec) else CONTEXTS.get(context)
        if spec is None:
            raise CelCompileError(
                Problem(
                    f"unknown CEL context `{context}`",
                    hint="use one of " + ", ".join(CONTEXTS),
                )
            )
        try:
            check_text_bounds(text)
            if not text.strip():
                raise SchemaError("the expression is empty", 1, 1, "write an expression")
            try:
                tree = parse(text)
            except lark.exceptions.UnexpectedInput as error:
                raise _syntax_error(text, error) from None
            except RecursionError:
                raise SchemaError("the expression is nested too deeply", 1, 1) from None
            check_tree_depth(tree)
            checker = SchemaChecker(spec, spec.variable_kinds)
            keys = checker.run(tree, text)
            metered = _grows(tree)
            filename = f"<cel {spec.name}>"
            try:
                # parser()'s nodes
                source, literals = transpile(cast(TranspilerTree, tree), metered=metered)
                code = compile(source, filename, "exec")
            except (RecursionError, SyntaxError, MemoryError):
                raise SchemaError(
                    "the expression is too complex to compile",
                    1,
                    1,
                    "split it into smaller expressions",
                ) from None
        except SchemaError as error:
            raise CelCompileError(
                Problem(error.message, line=error.line, column=error.column, hint=error.hint),
                caret_text(text, error.line, error.column),
            ) from None
        namespace = dict(_BASE_GLOBALS)
        namespace.update(self._symbols)
        namespace.update(literals)
        namespace["_meter"] = budget.meter
        namespace["_limits"] = self._cost
        exec(code, namespace)
        run = namespace["__cel__"]
        program = Program(
            spec.name,
            text,
            source,
            tuple(keys),
            run,
            reads_directory=checker.reads_directory,
            reads_own_accounts=checker.reads_own_accounts,
            reads_own_account_data=checker.reads_own_account_data,
            reads_clock=checker.reads_clock,
            names=frozenset(checker.names),
            person_names=frozenset(checker.person_names),
            account_reads=checker.account_reads(),
            reads_person_whole=checker.reads_person_whole(),
            reads_attributes_whole=checker.reads_attributes_whole(),
            metered=metered,
            places=SourceMap(filename, source, tree, text, rewrite_helpers),
            warnings=tuple(
                Problem(message, line=line, column=column, hint=hint, severity="warning")
                for message, line, column, hint in checker.warnings
            ),
            variables=frozenset(spec.variables) & _names_in(code),
        )
        with self._lock:
            self._reads_clock = self._reads_clock or program.reads_clock
            self._reads_directory = self._reads_directory or program.reads_directory
        return program

    def time_budget(self, what: str, seconds: float | None = None) -> Any:
        """A block whose evaluations on this thread end after `seconds` (default: the preview
        budget of `settings.cel`); `what` names the work in the error."""
        if seconds is None:
            return budget.time_budget(
                self.limits.max_seconds_per_preview, what, "settings.cel.max_seconds_per_preview"
            )
        return budget.time_budget(seconds, what)

    def stage_budget(self, stage: str) -> Any:
        """The time budget of one sync stage (`settings.cel.max_seconds_per_stage`)."""
        return budget.time_budget(
            self.limits.max_seconds_per_stage,
            f"the {stage} stage",
            "settings.cel.max_seconds_per_stage",
        )

    @property
    def compiled_reads_clock(self) -> bool:
        """Whether any program this engine compiled reads the clock (its results may change
        with no change to the data)."""
        return self._reads_clock

    @property
    def compiled_reads_directory(self) -> bool:
        """Whether any program this engine compiled reads the directory (other people)."""
        return self._reads_directory

    # ---- the clock ---------------------------------------------------------------------
    def now(self) -> celtypes.TimestampType:
        """`now()` in an expression: the engine's clock (the system's unless one was given)."""
        moment = self._clock() if self._clock is not None else datetime.datetime.now(datetime.UTC)
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=datetime.UTC)
        return celtypes.TimestampType(moment)

    # ---- check -------------------------------------------------------------------------
    def check(self, context: str, text: str) -> list[Problem]:
        """Compile errors (severity "error") and warnings for keys no record has. Never raises."""
        try:
            program = self.compile(context, text)
        except CelCompileError as error:
            return [error.problem]
        except Exception as error:  # a bug of ours must not take down an editor
            return [Problem(f"cannot check this expression ({type(error).__name__})")]
        problems: list[Problem] = list(program.warnings)
        seen: set[tuple[str, str, str]] = set()
        for use in program.keys:
            known = self._keys_for(use.kind, use.map)
            if not known or use.key in known or (use.kind, use.map, use.key) in seen:
                continue
            if use.map == "attributes" and use.key in STANDARD_ATTRIBUTES:
                continue  # the checker said why (SchemaChecker._standard_attribute)
            seen.add((use.kind, use.map, use.key))
            problems.append(_unknown_key_warning(use, known))
        return problems

    def _keys_for(self, kind: str, map_name: str) -> set[str]:
        population = self._population
        if population is None:
            return set()
        cached = self._known_keys.get((kind, map_name))
        if cached is not None:
            return cached
        keys: set[str] = set()
        if map_name == "accounts":
            keys = population.app_ids()
        elif kind == "account":
            keys = population.profile_keys("account")
        elif map_name == "attributes":
            keys = {k for k in population.profile_keys("user") if k not in STANDARD_ATTRIBUTES}
        elif population.has_users():
            keys = population.profile_keys("user") | _USER_PROFILE_CORE
        self._known_keys[(kind, map_name)] = keys
        return keys

    # ---- records -----------------------------------------------------------------------
    def user(self, record: UserRecord) -> Any:
        """The CEL value of a user: converted lazily, once, and shared by every rule."""
        found = self._users.get(record.id)
        if found is None or found._record is not record:
            if self.cache_limit is not None and len(self._users) >= self.cache_limit:
                self._users = {}
            found = self._users[record.id] = UserObject(record, self._population)
        return found

    def account(self, record: AccountRecord) -> Any:
        found = self._accounts.get(record.id)
        if found is None or found._record is not record:
            if self.cache_limit is not None and len(self._accounts) >= self.cache_limit:
                self._accounts = {}
            found = self._accounts[record.id] = AccountObject(record, self._population)
        return found

    def accounts_map(self, user: UserRecord) -> Any:
        """app id -> the user's account there (an enabled one first if there are several)."""
        cached = self._accounts_maps.get(user.id)
        if cached is not None and cached[0] is user:
            return cached[1]
        result = AccountsMap()
        if self.cache_limit is not None and len(self._accounts_maps) >= self.cache_limit:
            self._accounts_maps = {}
        self._accounts_maps[user.id] = (user, result)
        if self._population is None:
            return result
        accounts = sorted(self._population.accounts_of(user.id), key=account_order)
        for account in accounts:
            key = celtypes.StringType(account.app_id)
            if not dict.__contains__(result, key):
                dict.__setitem__(result, key, self.account(account))
        return result

    def activation_for(
        self,
        context: str,
        record: UserRecord | AccountRecord | None,
        *,
        entitlement: dict[str, Any] | None = None,
        program: Program | None = None,
    ) -> dict[str, Any]:
        """The variables of `context` for one record; with `program`, only those it reads."""
        spec = CONTEXTS.get(context)
        if spec is None:
            raise ValueError(f"unknown CEL context {context!r}; use one of {', '.join(CONTEXTS)}")
        if not spec.variables:
            return {}  # the `cel` context: the language alone, whatever record is given
        if spec.subject_kind == "account":
            if not isinstance(record, AccountRecord):
                raise TypeError(f"{context} is evaluated for accounts, not {type(record).__name__}")
            value = self.account(record)
            return {name: value for name in spec.variables}
        if not isinstance(record, UserRecord):
            raise TypeError(f"{context} is evaluated for users, not {type(record).__name__}")
        user = self.user(record)
        variables: dict[str, Any] = {}
        wanted = program.variables if program is not None else None
        for name, kind in spec.variable_kinds.items():
            if wanted is not None and name not in wanted:
                continue
            if kind == "user":
                variables[name] = user
            elif kind == "accounts":
                variables[name] = self.accounts_map(record)
            elif name == "entitlement" and entitlement is not None:
                from .values import to_cel

                variables[name] = to_cel(entitlement)
        return variables

    # ---- evaluate ----------------------------------------------------------------------
    def evaluate(self, program: Program, variables: dict[str, Any]) -> Any:
        """Run a compiled program for one record's variables. Thread-safe.

        Returns a CEL value; raises CelEvalError with a short message for people that names
        the failing sub-expression, or CelTimeBudgetError when the preview or stage this runs
        in is out of time."""
        forget_error_values()
        try:
            value = program.run(Activation(variables))
        except StoreError:
            raise
        except Exception as error:
            consumed = consumed_error(error)
            if consumed is not None:  # the error a function was handed: where it happened
                cause = consumed.__cause__ or error
                raise _failed(program, describe_error_value(consumed), cause) from None
            raise _failed(program, describe_exception(error), error) from None
        except BudgetExceeded as exceeded:
            raise _over_budget(program, exceeded, self.limits) from None
        if value.__class__ is CELEvalError:
            raise _failed(program, describe_error_value(value), value.__cause__) from None
        return value


class _Cost:
    """`_limits.max_cost` in a metered program: a plain attribute (read on every evaluation)
    that the engine's `limits` setter keeps current, so limits set after compiling apply."""

    __slots__ = ("max_cost",)

    def __init__(self, max_cost: int) -> None:
        self.max_cost = max_cost


def _place(program: Program, error: BaseException | None) -> Place | None:
    try:
        return program.places.place(error) if program.places is not None else None
    except Exception:  # locating is a courtesy: never let it hide the error itself
        return None


def _failed(program: Program, message: str, error: BaseException | None) -> CelEvalError:
    return CelEvalError(message, place=_place(program, error))


def _over_budget(
    program: Program, exceeded: BudgetExceeded, limits: CelLimits
) -> CelEvalError | CelTimeBudgetError:
    place = _place(program, exceeded)
    if exceeded.kind == "time":
        where = f" ({place.describe()})" if place is not None else ""
        return CelTimeBudgetError(
            f"{exceeded.message} while evaluating the {program.context} expression "
            f"`{printable(program.text, 80)}`{where}; make it cheaper or raise "
            f"{budget.time_setting()}"
        )
    return CelEvalError(
        f"{exceeded.message} of {limits.max_cost:,} units",
        place=place,
        hint="it builds too much text or too many items (settings.cel.max_cost); simplify it",
        over_budget=True,
    )


def _names_in(code: types.CodeType) -> set[str]:
    """Every attribute and global name of compiled code and the code nested in it (the
    transpiled lambdas): variables are read as `activation.NAME`."""
    names = set(code.co_names)
    for constant in code.co_consts:
        if isinstance(constant, types.CodeType):
            names |= _names_in(constant)
    return names


def _grows(tree: lark.Tree[lark.Token]) -> bool:
    """Whether an expression can build values larger than its text and data: a comprehension
    or a function such as `replace` (see budget.py)."""
    for node in tree.iter_subtrees():
        if node.data == "member_dot_arg":
            name = node.children[1]
        elif node.data == "ident_arg":
            name = node.children[0]
        else:
            continue
        if isinstance(name, lark.Token) and (
            name.value in MACROS or name.value in budget.GROWING_FUNCTIONS
        ):
            return True
    return False


class AccountsMap(celtypes.MapType):
    """`accounts` in attribute_source: app id -> account. A missing app is an error that
    `has(accounts.app)` and `||` can absorb."""

    get = dict.__getitem__  # type: ignore[assignment]
    __getitem__ = dict.__getitem__

    def __missing__(self, key: Any) -> Any:
        from .strings import CelFunctionError

        app = str(key)[:60]
        raise CelFunctionError(
            f"this user has no account in the app `{app}` (to read a field of it only when "
            f'there is one: accounts.?{app}.FIELD.orValue(""))'
        )


_USER_PROFILE_CORE = {
    "id", "email", "emails", "username", "usernames", "displayName", "givenName", "familyName",
    "employeeId", "employeeIds", "status", "type",
}  # fmt: skip
assert _USER_PROFILE_CORE <= set(USER_FIELDS)


def _unknown_key_warning(use: KeyUse, known: set[str]) -> Problem:
    near = closest(use.key, known)
    if use.map == "accounts":
        message = f"no account in the store belongs to an app `{use.key}`"
    elif use.map == "attributes":
        message = f"no user in the store has the custom attribute `{use.key}`"
    else:
        owner = "user" if use.kind == "user" else "account"
        message = f"no {owner} in the store has the profile key `{use.key}`"
    hint = f"did you mean `{near}`?" if near else 'it reads as "" for every record'
    return Problem(message, line=use.line, column=use.column, hint=hint, severity="warning")


# ---- syntax errors ----------------------------------------------------------------------

_TERMINAL_NAMES = {
    "IDENT": "a name",
    "QUOTED_IDENT": "a name",  # `a.`quoted-name`` (a field name in backquotes)
    "STRING_LIT": "a string",
    "MLSTRING_LIT": "a string",
    "BYTES_LIT": "bytes",
    "INT_LIT": "a number",
    "UINT_LIT": "a number",
    "FLOAT_LIT": "a number",
    "BOOL_LIT": "true or false",
    "NULL_LIT": "null",
}


def _terminal(name: str) -> str:
    if name in _TERMINAL_NAMES:
        return _TERMINAL_NAMES[name]
    try:
        pattern = parser().get_terminal(name).pattern
    except (KeyError, AttributeError):
        return name
    if pattern.type == "str":
        return f"`{pattern.value}`"
    return name.lower()


#: Words other languages use where CEL has an operator (a name token after a value).
_OTHER_LANGUAGES = {"and": "&&", "or": "||", "not": "!", "AND": "&&", "OR": "||", "NOT": "!"}


def _syntax_error(text: str, error: lark.exceptions.UnexpectedInput) -> SchemaError:
    line = getattr(error, "line", None)
    column = getattr(error, "column", None)
    if not isinstance(line, int) or line < 1:
        lines = text.splitlines() or [""]
        line, column = len(lines), len(lines[-1]) + 1
    expected = sorted({_terminal(name) for name in getattr(error, "expected", None) or ()})
    hint = ""
    if expected:
        shown = expected[:8]
        hint = "expected " + ", ".join(shown) + (" …" if len(expected) > 8 else "")
    if isinstance(error, lark.exceptions.UnexpectedCharacters):
        char = error.char
        if char in "\"'":
            return SchemaError("a string is not closed", line, column, f"end it with {char}")
        if char == "=":  # a single `=` (other languages' comparison, or an assignment)
            hint = "to compare, write `==`; CEL has no assignment"
        return SchemaError(f"unexpected character `{char}`", line, column, hint)
    token = getattr(error, "token", None)
    if token is None or token.type == "$END":
        lines = text.rstrip().splitlines() or [""]  # point just after the last character
        return SchemaError("the expression ends too early", len(lines), len(lines[-1]) + 1, hint)
    shown_token = str(token.value)
    if shown_token in (")", "]", "}"):
        hint = f"this `{shown_token}` closes nothing; check the brackets"
    if shown_token in _OTHER_LANGUAGES:
        hint = f"CEL writes `{_OTHER_LANGUAGES[shown_token]}`"
    if token.type == "RESERVED":
        return SchemaError(
            f"`{shown_token}` is a reserved word in CEL", line, column, "choose another name"
        )
    return SchemaError(f"unexpected `{shown_token}`", line, column, hint)
