"""CEL text -> parse tree -> Python code, through cel-python's own transpiler.

We use cel-python's `Phase1Transpiler`/`Phase2Transpiler` (the `CompiledRunner` path) with a
few overrides, then run the generated code ourselves:

* each program gets its own globals, so there is no shared state between threads (cel-python's
  `Transpiler.evaluate` keeps the activation in module globals: trap 3 of CEL_NOTES.md);
* Roster's functions and constants are bound by name into those globals (trap 2);
* literals are built once per program instead of once per evaluation;
* `has()` uses Roster's semantics (missing profile keys read as "" but are not "had");
* string `==`/`!=` take a fast path.
"""

from __future__ import annotations

import re
import threading
from pathlib import Path
from string import Template
from typing import Any, cast

import celpy
import lark
from celpy.evaluation import Phase1Transpiler, Phase2Transpiler, TranspilerTree

from .checker import integer_literal
from .functions import (
    CONSTANTS,
    GLOBAL_CONSTANTS,
    PLAIN_FUNCTIONS,
    QUALIFIED_NAMES,
    TYPE_VALUES,
    symbol,
)
from .literals import bytes_value, string_value
from .runtime import COMPREHENSIONS, METERED_OPERATORS, OPERATORS

# `opt.optMap(x, body)`, `opt.optFlatMap(x, body)` -> their runtime helpers
OPTIONAL_MACROS = {"optMap": "_opt_map", "optFlatMap": "_opt_flat_map"}

_parser_lock = threading.Lock()
_parser: lark.Lark | None = None


def parser() -> lark.Lark:
    """The Lark parser producing `TranspilerTree` nodes (built once, ~0.2 s).

    Roster's own grammar (cel.lark beside this module: cel-python's, with the specification's
    string literals and backtick-quoted field names), so cel-python's process-wide parser
    singleton (CEL_NOTES trap 1) plays no part.
    """
    global _parser
    if _parser is not None:
        return _parser
    with _parser_lock:
        if _parser is None:
            from celpy.celparser import CELParser

            grammar = (Path(__file__).parent / "cel.lark").read_text(encoding="utf-8")
            _parser = lark.Lark(
                grammar,
                parser="lalr",
                start="expr",
                debug=False,
                g_regex_flags=re.M,
                # (a second callback here, for QUOTED_IDENT, silently disables this one)
                lexer_callbacks={"IDENT": CELParser.ambiguous_literals},
                propagate_positions=True,
                maybe_placeholders=False,
                priority="invert",
                tree_class=TranspilerTree,
                # The LALR tables take ~1 s to build and are the same every time: kept in the
                # user's cache folder (a file per grammar and Lark version, checked by Lark).
                cache=_cache_file(grammar),
            )
    return _parser


def _cache_file(grammar: str) -> str | bool:
    """Where Lark keeps the built parser, or False (build it each time) if nowhere is
    writable."""
    import hashlib

    from platformdirs import user_cache_path

    digest = hashlib.sha256(f"{lark.__version__}\n{grammar}".encode()).hexdigest()[:16]
    folder = user_cache_path("roster")
    try:
        folder.mkdir(parents=True, exist_ok=True, mode=0o700)
    except OSError:
        return False
    return str(folder / f"cel-parser-{digest}.lark-cache")


def parse(text: str) -> lark.Tree[lark.Token]:
    """The parse tree of `text`; a backtick-quoted field name (`content-type`) becomes a
    plain name token, so the checker and the transpiler see one kind of field."""
    tree = parser().parse(text)
    for node in tree.iter_subtrees():
        if node.data not in ("member_dot", "member_optdot"):
            continue
        token = node.children[1]
        if isinstance(token, lark.Token) and token.type == "QUOTED_IDENT":
            node.children[1] = token.update("IDENT", token.value[1:-1])
    return tree


def dotted_name(tree: Any) -> str | None:
    """`c1.user.v1` for a member chain made only of identifiers, else None."""
    names: list[str] = []
    node = tree
    while isinstance(node, lark.Tree):
        if node.data in ("member", "primary") and len(node.children) == 1:
            node = node.children[0]
        elif node.data == "member_dot":
            names.append(cast(lark.Token, node.children[1]).value)
            node = node.children[0]
        elif node.data == "ident":
            names.append(cast(lark.Token, node.children[0]).value)
            return ".".join(reversed(names))
        else:
            return None
    return None


def bound_name(tree: Any) -> str | None:
    """The name of a comprehension's variable (`x` in `list.all(x, …)`), or None when the
    argument is not a bare name."""
    node = tree
    while isinstance(node, lark.Tree):
        if node.data == "ident":
            return str(cast(lark.Token, node.children[0]).value)
        if len(node.children) != 1:
            return None
        node = node.children[0]
    return None


def comprehension_arity(name: str, arguments: int) -> int:
    """How many variables `x.name(…)` with this many arguments binds: 1 for the standard
    macros (`all(x, p)`), 2 for the two-variable forms (`all(i, v, p)`,
    `transformList(i, v, [filter,] value)`), 0 when it is not a comprehension."""
    if name in ("map", "filter", "all", "exists", "exists_one", "existsOne") and arguments == 2:
        return 1
    if name in OPTIONAL_MACROS:
        return 1 if arguments == 2 else 0
    found = COMPREHENSIONS.get(name)
    return 2 if found is not None and arguments in found[1] else 0


_SINGLE = ("expr", "conditionalor", "conditionaland", "relation", "addition",
           "multiplication", "unary", "member", "primary", "paren_expr")  # fmt: skip


def selected_field(tree: Any) -> tuple[Any, str] | None:
    """For the argument of `has(...)`: (the object tree, the field name) or None."""
    node = tree
    while isinstance(node, lark.Tree):
        if node.data == "member_dot":
            return node.children[0], cast(lark.Token, node.children[1]).value
        if node.data in _SINGLE and len(node.children) == 1:
            node = node.children[0]
        else:
            return None
    return None


def indexed_field(tree: Any) -> tuple[Any, Any] | None:
    """For the argument of `has(...)` written as an index (`has(x["key"])`): (the map tree,
    the key tree) or None."""
    node = tree
    while isinstance(node, lark.Tree):
        if node.data == "member_index":
            return node.children[0], node.children[1]
        if node.data in _SINGLE and len(node.children) == 1:
            node = node.children[0]
        else:
            return None
    return None


def _init_items(tree: TranspilerTree) -> list[TranspilerTree]:
    """The elements of a list literal, or the keys and values of a map literal, in order."""
    if not tree.children:
        return []
    return cast(list[TranspilerTree], cast(TranspilerTree, tree.children[0]).children)


class RosterPhase1(Phase1Transpiler):
    """cel-python's first transpiler pass with Roster's names and optimisations."""

    def __init__(self, facade: Any, metered: bool = False) -> None:
        super().__init__(facade)
        self.literals: dict[str, Any] = {}
        self.metered = metered

    def func_name(self, label: str) -> str:
        if label in PLAIN_FUNCTIONS:
            return symbol(label)
        if self.metered and label in METERED_OPERATORS:
            return METERED_OPERATORS[label]
        if label in OPERATORS:
            return OPERATORS[label]
        return super().func_name(label)

    def _logic(self, tree: TranspilerTree, helper: str, parts: tuple[str, ...]) -> None:
        """`&&`, `||` and `?:` through Roster's short-circuiting helpers."""
        lines = [f"ex_${{n}}_{part} = lambda activation: ${{{part}}}" for part in parts]
        arguments = ", ".join(f"ex_${{n}}_{part}" for part in parts)
        lines.append(f"ex_${{n}} = lambda activation: {helper}(activation, {arguments})")
        bindings: dict[str, Any] = {"n": lambda t: str(t.expr_number)}
        for index, part in enumerate(parts):
            bindings[part] = lambda t, i=index: t.children[i].transpiled
        tree.checked_exception = (Template("\n".join(lines)), bindings)
        tree.transpiled = f"ex_{tree.expr_number}(activation)"

    def conditionalor(self, tree: TranspilerTree) -> None:
        if len(tree.children) == 2:
            self._logic(tree, "_or", ("l", "r"))
        else:
            super().conditionalor(tree)

    def conditionaland(self, tree: TranspilerTree) -> None:
        if len(tree.children) == 2:
            self._logic(tree, "_and", ("l", "r"))
        else:
            super().conditionaland(tree)

    def expr(self, tree: TranspilerTree) -> None:
        if len(tree.children) == 3:
            self._logic(tree, "_cond", ("c", "l", "r"))
        else:
            super().expr(tree)

    def literal(self, tree: TranspilerTree) -> None:
        token = cast(lark.Token, tree.children[0])
        if token.type in ("INT_LIT", "UINT_LIT"):
            # parsed here, not by eval of Python source: `007` is 7, and a value out of range
            # is a SchemaError at the literal rather than celpy's bare ValueError
            value, unsigned = integer_literal(token)
            name = f"_k{len(self.literals)}"
            kind = celpy.celtypes.UintType if unsigned else celpy.celtypes.IntType
            self.literals[name] = kind(value)
            tree.transpiled = name
            return
        if token.type in ("STRING_LIT", "MLSTRING_LIT", "BYTES_LIT"):
            name = f"_k{len(self.literals)}"
            if token.type == "BYTES_LIT":
                self.literals[name] = celpy.celtypes.BytesType(bytes_value(token))
            else:
                self.literals[name] = celpy.celtypes.StringType(string_value(token))
            tree.transpiled = name
            return
        super().literal(tree)
        if tree.transpiled != "None":
            name = f"_k{len(self.literals)}"
            self.literals[name] = eval(tree.transpiled, {"celpy": celpy})  # generated by celpy
            tree.transpiled = name

    def ident(self, tree: TranspilerTree) -> None:
        name = cast(lark.Token, tree.children[0]).value
        if name in GLOBAL_CONSTANTS or name in TYPE_VALUES:
            tree.transpiled = symbol(name)
        else:
            super().ident(tree)

    def member_dot(self, tree: TranspilerTree) -> None:
        path = dotted_name(tree)
        if path is not None and (path in CONSTANTS or path in TYPE_VALUES):
            tree.transpiled = symbol(path)
        else:
            super().member_dot(tree)

    def member_optdot(self, tree: TranspilerTree) -> None:
        member, token = tree.children
        field = cast(lark.Token, token).value
        tree.transpiled = f"_opt_select({cast(TranspilerTree, member).transpiled}, {field!r})"

    def member_optindex(self, tree: TranspilerTree) -> None:
        member, index = cast(list[TranspilerTree], tree.children)
        tree.transpiled = f"_opt_index({member.transpiled}, {index.transpiled})"

    def optelem(self, tree: TranspilerTree) -> None:
        tree.transpiled = cast(TranspilerTree, tree.children[0]).transpiled

    def listinits(self, tree: TranspilerTree) -> None:
        items = cast(list[TranspilerTree], tree.children)
        tree.transpiled = ", ".join(item.transpiled for item in items)

    def list_lit(self, tree: TranspilerTree) -> None:
        items = _init_items(tree)
        if any(item.data == "optelem" for item in items):
            parts = ", ".join(f"({item.data == 'optelem'}, {item.transpiled})" for item in items)
            tree.transpiled = f"_opt_list([{parts}])"
        else:
            super().list_lit(tree)

    def map_lit(self, tree: TranspilerTree) -> None:
        items = _init_items(tree)
        if any(item.data == "optelem" for item in items[::2]):
            parts = ", ".join(
                f"({key.data == 'optelem'}, {key.transpiled}, {value.transpiled})"
                for key, value in zip(items[::2], items[1::2], strict=True)
            )
            tree.transpiled = f"_opt_map_lit([{parts}])"
        else:
            super().map_lit(tree)

    def _comprehension(self, tree: TranspilerTree, helper: str, names: list[str]) -> None:
        """`x.name(a, b, …)` as a call of the runtime's `helper` with the variables' names, the
        body, the source and, for a transform with a filter, the filter."""
        args = cast(list[TranspilerTree], cast(TranspilerTree, tree.children[2]).children)
        parts = args[len(names) :]
        lines = ["ex_${n}_l = lambda activation: ${member}"]
        lines.append("ex_${n}_x = lambda activation: ${body}")
        extra = ""
        if len(parts) == 2:
            lines.append("ex_${n}_f = lambda activation: ${keep}")
            extra = ", ex_${n}_f"
        bound = repr(names[0]) if len(names) == 1 else repr(tuple(names))
        lines.append(
            f"ex_${{n}} = lambda activation: {helper}(activation, {bound}, ex_${{n}}_x, "
            f"ex_${{n}}_l{extra})"
        )
        bindings: dict[str, Any] = {
            "n": lambda t: str(t.expr_number),
            "member": lambda t: cast(TranspilerTree, t.children[0]).transpiled,
            "body": lambda t: parts[-1].transpiled,
            "keep": lambda t: parts[0].transpiled,
        }
        tree.checked_exception = (Template("\n".join(lines)), bindings)
        tree.transpiled = f"ex_{tree.expr_number}(activation)"

    def member_dot_arg(self, tree: TranspilerTree) -> None:
        member = tree.children[0]
        method = cast(lark.Token, tree.children[1]).value
        if len(tree.children) == 3:
            given = cast(TranspilerTree, tree.children[2]).children
            arity = comprehension_arity(method, len(given))
            if arity == 2 or (arity == 1 and method in ("existsOne", *OPTIONAL_MACROS)):
                names = [cast(str, bound_name(arg)) for arg in given[:arity]]
                if arity == 2:
                    helper = COMPREHENSIONS[method][0]
                else:
                    helper = OPTIONAL_MACROS.get(method, "_macro_exists_one")
                self._comprehension(tree, helper, names)
                return
        path = dotted_name(member)
        if path is not None and f"{path}.{method}" in QUALIFIED_NAMES:
            args = ""
            if len(tree.children) == 3:
                args = cast(TranspilerTree, tree.children[2]).transpiled
            tree.transpiled = f"{symbol(path + '.' + method)}({args})"
        else:
            super().member_dot_arg(tree)

    def ident_arg(self, tree: TranspilerTree) -> None:
        name = cast(lark.Token, tree.children[0]).value
        if name == "has" and len(tree.children) == 2:
            args = cast(TranspilerTree, tree.children[1]).children
            found = selected_field(args[0]) if len(args) == 1 else None
            if found is not None:
                target, field = found
                tree.transpiled = (
                    f"_has(activation, lambda activation: {target.transpiled}, {field!r})"
                )
                return
            indexed = indexed_field(args[0]) if len(args) == 1 else None
            if indexed is not None:  # has(x["key"]): `"key" in x` (the checker warns)
                target, key = indexed
                tree.transpiled = (
                    f"_has_index(activation, lambda activation: {target.transpiled}, "
                    f"lambda activation: {key.transpiled})"
                )
                return
        super().ident_arg(tree)


def rewrite_helpers(source: str) -> str:
    """cel-python's helper names as the generated program binds them."""
    return source.replace("celpy.evaluation.result(", "_result(").replace(
        "celpy.evaluation.macro_", "_macro_"
    )


def transpile(tree: TranspilerTree, *, metered: bool = False) -> tuple[str, dict[str, Any]]:
    """Python source defining `__cel__(activation)`, and the literal values it refers to.
    `metered`: operators that build values spend from the evaluation's budget (budget.py)."""

    class Facade:
        base_activation = celpy.evaluation.Activation(functions={})

    phase1 = RosterPhase1(Facade, metered)
    phase1.visit(tree)
    phase2 = Phase2Transpiler(Facade)  # type: ignore[arg-type]  # a stand-in for its runner
    phase2.visit(tree)
    statements = list(phase2._statements)
    top = re.fullmatch(r"(ex_\d+)\(activation\)", tree.transpiled)
    final = top.group(1) if top else f"lambda activation: {tree.transpiled}"
    if metered:
        # each evaluation starts with the engine's whole cost budget (budget.py); a def rather
        # than a wrapper around the program saves a call per evaluation
        statements.append("def __cel__(activation):")
        statements.append("    _meter.left = _limits.max_cost")
        statements.append(f"    return {tree.transpiled}")
    else:
        statements.append(f"__cel__ = {final}")
    # Literals are hoisted, so no text from the expression's strings is in the source and
    # this replacement cannot touch user data.
    return rewrite_helpers("\n".join(statements)), phase1.literals


class Activation:
    """The variables of one evaluation, read by transpiled code as `activation.name`.

    Much lighter than cel-python's Activation (whose `__getattr__` builds a typing.Union on
    every access): the variables dict *is* the instance dict.
    """

    def __init__(self, variables: dict[str, Any]) -> None:
        self.__dict__ = variables

    def __getattr__(self, name: str) -> Any:
        raise NameError(name)

    def nested_activation(self, annotations: Any = None, vars: Any = None) -> Activation:
        child = Activation.__new__(Activation)
        child.__dict__ = {**self.__dict__, **(vars or {})}
        return child

    def resolve_variable(self, name: str) -> Any:
        return getattr(self, name)
