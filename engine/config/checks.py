"""The meaning of a configuration: references, duplicates, capabilities, secrets and CEL.

`Checker` runs on the items that passed the shape checks (`partial_sections` keeps each with its
index in the document, so every issue has the right path) and returns Issues; the caller locates
them in the file. Items whose shape is wrong are checked without the broken fields (`_salvage`),
so one typo does not hide the rest of the report.
"""

from __future__ import annotations

import importlib
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path as FsPath
from typing import Any, Protocol

from pydantic import BaseModel, ValidationError

from engine.config.issues import Issue, suggest
from engine.config.model import (
    ACCOUNT_FIELDS,
    DEFAULT_STRATEGY,
    EMAIL_PRESETS,
    INBOUND_DIRECTIONS,
    App,
    Attribute,
    Directory,
    KeySpec,
    MatchRule,
    PushRule,
    Settings,
    credential_kind,
    is_secret_key,
)
from engine.config.schema_errors import clean_loc
from engine.config.yaml_positions import Path
from engine.connectors.base import ConnectorDescription, ConnectorSpec
from engine.errors import ConnectorError, Problem
from engine.records import STANDARD_ATTRIBUTES
from engine.text import hidden_character, printable

Describe = Callable[[ConnectorSpec], ConnectorDescription]

_SLUG = re.compile(r"^[a-z0-9][a-z0-9_\-]*\Z")
#: The longest name (of an app, a rule) and id (an app's, a custom attribute's) the
#: configuration takes: names are shown in lists, tables and the journal
MAX_NAME_CHARS = 200
MAX_ID_CHARS = 64
# \Z, not $: "$" also matches before a final line break ("team\n" was taken: review)
_ATTRIBUTE_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_]*\Z")
_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*\Z")


def _credential_in(value: Any) -> str | None:
    """What credential a setting's value (or an item of a list value) holds, if any."""
    values = value if isinstance(value, list) else [value]
    return next((kind for v in values if (kind := credential_kind(v)) is not None), None)


class CelChecker(Protocol):
    def check(self, context: str, text: str) -> list[Problem]: ...


@dataclass
class Sections:
    """The items that passed the schema layer, with their index in the document."""

    settings: Settings | None
    apps: list[tuple[int, App]]
    directories: list[tuple[int, Directory]]
    attributes: list[tuple[int, Attribute]]
    push_rules: list[tuple[int, PushRule]]
    declared_apps: set[str]  # ids of every app entry, valid or not (no cascade of "unknown app")
    declared_attributes: set[str]  # casefolded names, valid or not
    dropped: list[Path] = field(default_factory=list)  # fields left out for their shape errors


# Fields an item can be checked without when their content has shape errors: the item's other
# problems (references, duplicates) are still reported, and nothing is said about what was left out.
_SALVAGEABLE = {
    "name",
    "settings",
    "ownership",
    "provisioning",
    "filter",
    "merge_rules",
    "sources",
    "flow_rules",
    "targeting",
    "mappings",
}


def _salvage(model: type[BaseModel], item: Any) -> tuple[BaseModel | None, list[Path]]:
    """The item validated without the fields that have shape errors, and the fields dropped."""
    dropped: list[Path] = []
    data = item
    for _ in range(len(_SALVAGEABLE) + 2):
        try:
            return model.model_validate(data), dropped
        except ValidationError as exc:
            if not isinstance(data, dict):
                return None, dropped
            data = dict(data)
            for error in exc.errors():
                loc = clean_loc(error["loc"])
                if not loc or not isinstance(loc[0], str) or loc[0] not in data:
                    return None, dropped  # a required field is missing
                key = loc[0]
                if key in model.model_fields and key not in _SALVAGEABLE:
                    return None, dropped
                del data[key]
                dropped.append((key,))
    return None, dropped


def _valid_items(
    model: type[BaseModel], raw: Any, section: str, dropped: list[Path]
) -> list[tuple[int, Any]]:
    if not isinstance(raw, list):
        return []
    items: list[tuple[int, Any]] = []
    for index, item in enumerate(raw):
        valid, lost = _salvage(model, item)
        if valid is not None:
            items.append((index, valid))
            dropped.extend((section, index, *path) for path in lost)
    return items


def _raw_names(raw: Any, key: str) -> set[str]:
    if not isinstance(raw, list):
        return set()
    return {item[key] for item in raw if isinstance(item, dict) and isinstance(item.get(key), str)}


def partial_sections(raw: dict[str, Any]) -> Sections:
    try:
        settings: Settings | None = Settings.model_validate(raw.get("settings") or {})
    except ValidationError:
        settings = None
    dropped: list[Path] = []
    return Sections(
        settings=settings,
        apps=_valid_items(App, raw.get("apps"), "apps", dropped),
        directories=_valid_items(Directory, raw.get("directories"), "directories", dropped),
        attributes=_valid_items(Attribute, raw.get("attributes"), "attributes", dropped),
        push_rules=_valid_items(PushRule, raw.get("push_rules"), "push_rules", dropped),
        declared_apps=_raw_names(raw.get("apps"), "id"),
        declared_attributes={n.casefold() for n in _raw_names(raw.get("attributes"), "name")},
        dropped=dropped,
    )


def _default_describe() -> tuple[Describe | None, set[str] | None]:
    registry = importlib.import_module("engine.connectors.registry")
    describe = getattr(registry, "describe", None)
    kinds = getattr(registry, "KNOWN_KINDS", None)
    return describe, set(kinds) if kinds is not None else None


def _default_cel(population: Any) -> CelChecker | None:
    # An import error inside the CEL engine is a bug and propagates; only an engine that does
    # not offer CelEngine at all is skipped (with a warning in the report).
    cel_module = importlib.import_module("engine.cel")
    engine_class = getattr(cel_module, "CelEngine", None)
    if engine_class is None:
        return None
    engine: CelChecker = engine_class(population=population)
    return engine


FILTER_SAMPLE = 200  # records a directory filter is tried on when validating
COST_SAMPLE = 200  # records an expression that can grow is tried on when validating
COST_SAMPLE_SECONDS = 5.0  # and for how long at most
FAIL_SAMPLE = 20  # records any expression is tried on, to say when it fails for all of them

_PATH_TOKEN = re.compile(r"\[(\d+)\]|\.?([^.\[\]]+)")


def _connector_path(text: str, app_id: str) -> Path:
    """A connector problem's path (`apps.ad.settings.push_schema[0].key`) below `settings`."""
    for prefix in (f"apps.{app_id}.settings", f"apps[{app_id}].settings", "settings"):
        if text.startswith(prefix):
            text = text[len(prefix) :]
            break
    else:
        return ()
    parts: list[str | int] = []
    for index, name in _PATH_TOKEN.findall(text):
        parts.append(int(index) if index else name)
    return tuple(parts)


class Checker:
    def __init__(
        self,
        sections: Sections,
        *,
        base_dir: FsPath,
        describe: Describe | None,
        cel: CelChecker | None,
        population: Any,
    ) -> None:
        self.s = sections
        self.base_dir = base_dir
        self.issues: list[Issue] = []
        self.known_kinds: set[str] | None = None
        if describe is None:
            describe, self.known_kinds = _default_describe()
            if describe is None:
                self.warning(
                    (),
                    "connector settings were not checked: the connector registry is not available",
                    "this Roster installation is incomplete; reinstall it",
                    unlocated=True,
                )
        self.describe = describe
        if cel is None:
            cel = _default_cel(population)
            if cel is None:
                self.warning(
                    (),
                    "CEL expressions were not checked: the CEL engine is not available",
                    "this Roster installation is incomplete; reinstall it",
                    unlocated=True,
                )
        self.cel = cel
        self.descriptions: dict[str, ConnectorDescription] = {}
        self.apps: dict[str, App] = {}
        self.attributes: dict[str, Attribute] = {}
        self.directory_apps: set[str] = set()
        self.secret_paths: set[Path] = set()

    # ------------------------------------------------------------------ helpers

    def error(self, path: Path, message: str, hint: str = "", *, at_key: bool = False) -> None:
        self.issues.append(Issue(path, message, hint, "error", at_key))

    def warning(
        self,
        path: Path,
        message: str,
        hint: str = "",
        *,
        at_key: bool = False,
        unlocated: bool = False,
    ) -> None:
        self.issues.append(Issue(path, message, hint, "warning", at_key, unlocated=unlocated))

    def visible_name(self, path: Path, name: str, what: str) -> bool:
        """Whether NAME is one line of visible text; an error at PATH when it is not. Names are
        shown in lists, menus, the journal and the CLI's tables: an escape sequence in one
        would be escaped everywhere, and a line break or a bidi override reads as something
        else."""
        if len(name) > MAX_NAME_CHARS:
            # a 50-million-character name was saved: 150 MB in the store, and every audit and
            # status read it (day-two review)
            self.error(
                path,
                f"{what} is {len(name):,} characters long: a name is at most "
                f"{MAX_NAME_CHARS} (it is shown in lists, tables and the journal)",
                "shorten it; a description can go in a YAML comment",
            )
            return False
        hidden = hidden_character(name)
        if hidden is None and (name.strip() or not name):
            return True
        if hidden is None:
            self.error(path, f"{what} is only blanks", "give it a name, or leave it out")
            return False
        breaks = "\n\r\t\v\f\x85\u2028\u2029"
        kind = "a line break or tab" if hidden in breaks else "an invisible or control character"
        self.error(
            path,
            f"{what} `{printable(name, 60, one_line=True)}` holds {kind} "
            f"(`{printable(hidden, one_line=True)}`)",
            "a name is one line of visible text: remove it",
        )
        return False

    def check_cel(self, path: Path, context: str, text: str, app: str | None = None) -> None:
        """`app`: the app whose accounts (an account's context) or whose account holders (a
        push mapping's) the expression is evaluated for: the records it is tried on."""
        if not text.strip():
            self.error(path, "the CEL expression is empty", "write an expression or remove the key")
            return
        if self.cel is None:
            return
        try:
            found = self.cel.check(context, text)
        except Exception as exc:  # the checker must never take validation down
            self.error(
                path,
                f"the CEL expression could not be checked: {exc}",
                "simplify the expression; if it looks right, report this as a Roster bug",
            )
            return
        for problem in found:
            self.issues.append(
                Issue(
                    path,
                    problem.message,
                    problem.hint,
                    problem.severity or "error",
                    cel_position=(problem.line, problem.column),
                )
            )
        if not any(problem.severity == "error" for problem in found):
            self.check_cost(path, context, text)
            self.check_fails_everywhere(path, context, text, app)

    def check_fails_everywhere(
        self, path: Path, context: str, text: str, app: str | None = None
    ) -> None:
        """An expression that compiles but fails for every record of a sample (`string + 1`)
        would fail in every sync: said before it is saved (a warning: the store may not hold
        the records it is meant for yet). Tried only on the records it is evaluated for: an
        account's expression on the accounts of its APP, a push mapping on the people with an
        account in its APP (`accounts.ad.…` fails for the others, as it is meant to); the
        expressions whose records depend on more (a provisioning field, a merge rule's
        account side) are not tried."""
        cel: Any = self.cel
        population = getattr(cel, "population", None)
        if population is None:
            return
        from engine.cel import CONTEXTS, NO_RECORD, CelCompileError, CelEvalError

        spec = CONTEXTS.get(context)
        if spec is None or spec.subject_kind == NO_RECORD or context == "provisioning_field":
            return
        if (spec.subject_kind == "account" or context == "push_mapping") and app is None:
            return
        try:
            program = cel.compile(context, text)
        except CelCompileError:
            return  # reported by check()
        if spec.subject_kind == "account":
            pool = [a for a in population.accounts if a.app_id == app]
        elif context == "push_mapping":
            holders = {a.owner_id for a in population.accounts if a.app_id == app}
            pool = [u for u in population.users if u.id in holders]
        else:
            pool = population.users
        step = max(1, len(pool) // (FAIL_SAMPLE * 2))  # (a store of 100,000: never all of them)
        sample = [r for r in pool[::step] if r.status != "DELETED"][:FAIL_SAMPLE]
        first: str | None = None
        for record in sample:
            try:
                cel.evaluate(program, cel.activation_for(context, record))
            except CelEvalError as exc:
                if exc.over_budget:
                    return  # check_cost says so
                first = first or str(exc)
                continue
            except (TypeError, ValueError):
                return
            return  # it works for someone
        if first is not None:
            self.warning(
                path,
                f"the expression fails for every one of the {len(sample):,} records it was "
                f"tried on: {first}",
                "every sync would report it for everyone; preview it with "
                f"`roster preview --context {context} --all …` and fix it",
            )

    def check_cost(self, path: Path, context: str, text: str) -> None:
        """An expression that can grow (a comprehension, `replace`, …) is tried on a sample of
        the records at hand with the document's budgets (settings.cel): one that goes over
        the cost budget for a record, or whose time per record would take a sync stage past
        its time budget, is refused before it is saved, instead of failing every sync."""
        cel: Any = self.cel
        population = getattr(cel, "population", None)
        if population is None or not hasattr(cel, "limits"):
            return
        from engine.cel import (
            CONTEXTS,
            CelCompileError,
            CelEvalError,
            CelLimits,
            CelTimeBudgetError,
        )

        try:
            program = cel.compile(context, text)
        except CelCompileError:
            return  # reported by check()
        if not program.metered:
            return  # linear in its text and its record: nothing to estimate
        spec = CONTEXTS[context]
        records = [
            record
            for record in (
                population.accounts if spec.subject_kind == "account" else population.users
            )
            if record.status != "DELETED"
        ]
        if not records:
            return
        step = max(1, len(records) // COST_SAMPLE)
        sample = records[::step][:COST_SAMPLE]
        settings = self.s.settings.cel if self.s.settings is not None else None
        limits = CelLimits.of(settings)
        saved, cel.limits = cel.limits, limits
        seconds = min(COST_SAMPLE_SECONDS, limits.max_seconds_per_stage)
        started = time.perf_counter()
        tried = 0
        try:
            with cel.time_budget("trying the expression on a sample of records", seconds):
                for record in sample:
                    tried += 1
                    try:
                        cel.evaluate(program, cel.activation_for(context, record))
                    except CelEvalError as exc:
                        if exc.over_budget:
                            self._over_cost(path, exc, limits, record)
                            return
                    except (TypeError, ValueError):
                        continue
        except CelTimeBudgetError:
            self.error(
                path,
                f"the expression is too slow: trying it on {tried} of {len(records):,} records "
                f"took more than {seconds:g} s",
                "make it cheaper (fewer comprehensions, smaller replacements), or raise "
                "settings.cel.max_seconds_per_stage",
            )
            return
        finally:
            cel.limits = saved
        per_record = (time.perf_counter() - started) / max(tried, 1)
        estimate = per_record * len(records)
        if estimate > limits.max_seconds_per_stage:
            self.error(
                path,
                f"the expression would take about {estimate:,.0f} s for the {len(records):,} "
                f"records in the store ({per_record * 1000:,.1f} ms each), over "
                f"settings.cel.max_seconds_per_stage ({limits.max_seconds_per_stage:g} s)",
                "make it cheaper, or raise settings.cel.max_seconds_per_stage",
            )

    def _over_cost(self, path: Path, exc: Any, limits: Any, record: Any) -> None:
        label = getattr(record, "email", "") or getattr(record, "external_id", "") or "a record"
        self.issues.append(
            Issue(
                path,
                f"the expression goes over its cost budget of {limits.max_cost:,} units "
                f"(settings.cel.max_cost) for {printable(str(label), 60)}"
                + (f" at `{printable(exc.part, 60)}`" if exc.part else ""),
                "it builds too much text or too many items: simplify it, or raise "
                "settings.cel.max_cost",
                "error",
                cel_position=(exc.line, exc.column) if exc.line else None,
            )
        )

    def check_filter_results(self, path: Path, directory: Directory) -> None:
        """A filter that compiles but decides nothing (`account.email`, `1 + 1`) would leave every
        account of its directory in error on each sync: tried on the app's records at hand, a
        filter that returns no decision for any of them is refused."""
        population = getattr(self.cel, "population", None)
        accounts = [
            a
            for a in (getattr(population, "accounts", None) or [])
            if a.app_id == directory.app and a.status != "DELETED"
        ][:FILTER_SAMPLE]
        if not accounts or directory.filter is None:
            return
        from engine.cel import CelCompileError, CelEvalError, normalize_filter_result, to_python

        cel: Any = self.cel
        try:
            program = cel.compile("directory_filter", directory.filter)
        except CelCompileError:
            return  # check_cel reported it
        wrong: list[tuple[Any, Any]] = []
        for account in accounts:
            try:
                value = cel.evaluate(program, cel.activation_for("directory_filter", account))
            except (CelEvalError, ValueError):
                continue  # data-dependent failures are the preview's and the run's to report
            if normalize_filter_result(value) is not None:
                return
            wrong.append((account, value))
        if wrong:
            account, value = wrong[0]
            shown = printable(repr(to_python(value)), 60)
            self.error(
                path,
                f"the filter decides nothing: it returned no decision for any of the "
                f"{len(wrong)} {directory.app} accounts tried (e.g. {account.external_id} → "
                f"{shown})",
                'return true, false, "CREATE", "MATCH_ONLY" or "IGNORE"',
            )

    def app_ref(self, path: Path, app_id: str, what: str) -> App | None:
        """The app `app_id` refers to; an error when no app has that id."""
        app = self.apps.get(app_id)
        if app is None and app_id not in self.s.declared_apps:
            hint = suggest(app_id, self.s.declared_apps) or (
                "define it under `apps:` first"
                if not self.s.declared_apps
                else "known apps: " + ", ".join(sorted(self.s.declared_apps))
            )
            self.error(path, f"{what} refers to app `{app_id}`, which is not defined", hint)
        return app

    def attribute_ref(self, path: Path, name: str, what: str) -> Attribute | None:
        attribute = self.attributes.get(name.casefold())
        if attribute is None and name.casefold() not in self.s.declared_attributes:
            names = [a.name for a in self.attributes.values()]
            hint = suggest(name, names) or "define it under `attributes:` first"
            self.error(path, f"{what} refers to attribute `{name}`, which is not defined", hint)
        return attribute

    # ------------------------------------------------------------------ run

    def run(self) -> list[Issue]:
        self.check_requests_file()
        self.check_apps()
        self.check_directories()
        self.check_ownership_and_provisioning()
        self.check_attributes()
        self.check_push_rules()
        return self.issues

    # ------------------------------------------------------------------ apps

    def check_apps(self) -> None:
        first: dict[str, int] = {}
        for index, app in self.s.apps:
            path: Path = ("apps", index)
            if len(app.id) > MAX_ID_CHARS:
                self.error(
                    (*path, "id"),
                    f"app id `{app.id[:40]}…` is {len(app.id):,} characters long: an id is at "
                    f"most {MAX_ID_CHARS}",
                    "shorten it (it names the app's accounts: APP:ID)",
                )
            elif not _SLUG.match(app.id):
                slug = re.sub(r"[^a-z0-9_\-]+", "_", app.id.lower()).strip("_-") or "app"
                self.error(
                    (*path, "id"),
                    f"app id `{app.id}` is not a slug",
                    f"use lower-case letters, digits, `_` and `-`, e.g. `{slug}`",
                )
            if app.id in first:
                self.error(
                    (*path, "id"),
                    f"app id `{app.id}` is used twice",
                    f"apps[{first[app.id]}] already has this id; every app needs its own",
                )
                continue
            first[app.id] = index
            self.apps[app.id] = app
            self.visible_name((*path, "name"), app.name, "the app's name")
            self.check_secrets((*path, "settings"), app.settings, app.id)
            self.check_connector(path, app)

    def check_secrets(self, path: Path, settings: dict[str, Any], app_id: str) -> None:
        for key, value in settings.items():
            here: Path = (*path, key)
            if isinstance(value, dict):
                self.check_secrets(here, value, app_id)
                continue
            folded = key.lower()
            if folded.endswith("_env"):
                if not isinstance(value, str) or not _ENV_NAME.match(value):
                    self.error(
                        here,
                        f"`{key}` must name an environment variable; the value given is not a "
                        "variable name (is it the secret itself?)",
                        f"write `{key}: {(app_id + '_' + key[:-4]).upper()}` and set that "
                        "variable in the environment Roster runs in",
                    )
            elif is_secret_key(key) and value not in (None, ""):
                self.secret_paths.add(here)
                self.error(
                    here,
                    f"`{key}` holds a secret written into the configuration; secrets are never "
                    "stored in Roster's configuration, database or exports",
                    f"use `{key}_env: {(app_id + '_' + key).upper()}` and put the secret in that "
                    "environment variable",
                    at_key=True,
                )
            elif (kind := _credential_in(value)) is not None:
                self.secret_paths.add(here)
                self.error(
                    here,
                    f"app `{app_id}`: `{key}` holds {kind}, a secret written into the "
                    "configuration (the value is not shown); secrets are never stored in "
                    "Roster's configuration, database or exports",
                    "remove the user name and password from the URL and give the password "
                    f"with `password_env: {(app_id + '_password').upper()}`"
                    if kind.startswith("a URL")
                    else f"put it in an environment variable and write `{key}_env: "
                    f"{(app_id + '_' + key).upper()}` instead",
                    at_key=True,
                )

    def check_connector(self, path: Path, app: App) -> None:
        if self.known_kinds is not None and app.connector not in self.known_kinds:
            hint = suggest(app.connector, self.known_kinds) or (
                "known connectors: " + ", ".join(sorted(self.known_kinds))
            )
            self.error((*path, "connector"), f"unknown connector kind `{app.connector}`", hint)
            return
        if self.describe is None:
            return
        spec = ConnectorSpec(
            app_id=app.id, kind=app.connector, settings=dict(app.settings), base_dir=self.base_dir
        )
        try:
            self.descriptions[app.id] = self.describe(spec)
            self.check_files(path, app, self.descriptions[app.id])
        except ConnectorError as exc:
            if not exc.problems:
                where: Path = (*path, "settings") if self.known_kinds else (*path, "connector")
                self.error(where, exc.message, "fix the app's `connector` and `settings`")
            for problem in exc.problems:
                here = (*path, "settings", *_connector_path(problem.path, app.id))
                if here in self.secret_paths:
                    continue  # already reported as a literal secret
                self.error(here, problem.message, problem.hint)
        except Exception as exc:  # a connector bug must not hide the rest of the report
            self.error(
                (*path, "settings"),
                f"the `{app.connector}` connector failed: {exc}",
                "check the settings; if they look right, report this as a Roster bug",
            )

    def check_requests_file(self) -> None:
        """The access-requests file, like an app's files: a warning when it is not there."""
        given = self.s.settings.access_requests if self.s.settings is not None else None
        if not given:
            return
        resolved = FsPath(given).expanduser()
        if not resolved.is_absolute():
            resolved = FsPath(self.base_dir).absolute() / resolved
        if not resolved.exists():
            self.warning(
                ("settings", "access_requests"),
                f"the access requests file {resolved} does not exist",
                "relative paths follow the configuration file's folder; fix `access_requests` "
                "or put the file there before the next sync",
            )

    def check_files(self, path: Path, app: App, description: ConnectorDescription) -> None:
        """A file the connector reads that is not there: a warning (the file may be copied in
        later), naming the app and the path as resolved, since relative paths follow the
        configuration file's folder."""
        for key, resolved in description.files:
            if FsPath(resolved).exists():
                continue
            given = app.settings.get(key)
            relative = isinstance(given, str) and not FsPath(given).expanduser().is_absolute()
            self.warning(
                (*path, "settings", key),
                f"app `{app.id}` reads {resolved}, which does not exist",
                (
                    f"`{given}` is relative to the configuration file's folder "
                    f"({FsPath(self.base_dir).absolute()}); "
                    if relative
                    else ""
                )
                + f"fix `{key}` or put the file there before the next sync",
            )

    # ------------------------------------------------------------------ directories

    def check_directories(self) -> None:
        first: dict[str, int] = {}
        for index, directory in self.s.directories:
            path: Path = ("directories", index)
            app = self.app_ref((*path, "app"), directory.app, "this directory")
            if directory.app in first:
                self.error(
                    (*path, "app"),
                    f"`{directory.app}` is listed as a directory twice",
                    f"directories[{first[directory.app]}] already lists it; keep one entry",
                )
                continue
            first[directory.app] = index
            self.directory_apps.add(directory.app)
            description = self.descriptions.get(directory.app)
            if app is not None and description is not None:
                if not description.capabilities.directory:
                    self.error(
                        (*path, "app"),
                        f"app `{directory.app}` cannot be a directory (its connector does not "
                        "supply people)",
                        "remove it from `directories:`; its accounts find owners by ownership",
                    )
            if directory.filter is not None:
                before = len(self.issues)
                self.check_cel(
                    (*path, "filter"), "directory_filter", directory.filter, directory.app
                )
                if len(self.issues) == before:
                    self.check_filter_results((*path, "filter"), directory)
            if directory.merge_rules is not None:
                if not directory.merge_rules:
                    self.error(
                        (*path, "merge_rules"),
                        "`merge_rules` is empty, so no account could ever match a person",
                        "leave `merge_rules` out to use the defaults (email, then employee id)",
                    )
                self.check_match_rules((*path, "merge_rules"), directory.merge_rules)

    def check_match_rules(self, path: Path, rules: list[MatchRule]) -> None:
        names: dict[str, int] = {}
        for index, rule in enumerate(rules):
            here: Path = (*path, index)
            if not rule.name.strip():
                self.error((*here, "name"), "a rule needs a name", "e.g. `name: email`")
            elif not self.visible_name((*here, "name"), rule.name, "the rule's name"):
                pass
            elif rule.name.casefold() in names:
                self.error(
                    (*here, "name"),
                    f"two rules are named `{rule.name}`",
                    f"rule {names[rule.name.casefold()] + 1} has this name; names must differ",
                )
            else:
                names[rule.name.casefold()] = index
            self.check_key_spec((*here, "account"), rule.account, "account_key")
            self.check_key_spec((*here, "user"), rule.user, "user_key")

    def check_key_spec(self, path: Path, spec: KeySpec, context: str) -> None:
        side = "account" if context == "account_key" else "user"
        if spec.preset is None and spec.cel is None:
            self.error(
                path,
                f"the {side} side needs `preset` or `cel`",
                "e.g. `{preset: primary_email}` or `{cel: 'lowerAscii(...)'}`",
            )
        elif spec.preset is not None and spec.cel is not None:
            self.error(path, f"the {side} side gives both `preset` and `cel`", "keep one of them")
        if spec.strip_plus_tag and spec.preset not in EMAIL_PRESETS:
            self.error(
                (*path, "strip_plus_tag"),
                "`strip_plus_tag` applies only to the email presets",
                "use it with `preset: primary_email` or `preset: all_emails`",
            )
        if spec.cel is not None:
            self.check_cel((*path, "cel"), context, spec.cel)

    # ------------------------------------------------------------------ ownership, provisioning

    def check_ownership_and_provisioning(self) -> None:
        for index, app in self.s.apps:
            if self.apps.get(app.id) is not app:
                continue  # a duplicate id, already reported
            path: Path = ("apps", index)
            self.check_ownership((*path, "ownership"), app)
            if app.provisioning is not None:
                self.check_provisioning((*path, "provisioning"), app)

    def check_ownership(self, path: Path, app: App) -> None:
        ownership = app.ownership
        if ownership.strategy == "custom" and not ownership.rules:
            self.error(
                (*path, "rules"),
                "custom ownership needs at least one rule",
                "add rules (same shape as merge rules) or use `strategy: narrow`",
            )
        if ownership.strategy != "custom" and ownership.rules:
            self.error(
                (*path, "rules"),
                f"ownership rules are used only with `strategy: custom` (this is "
                f"`{ownership.strategy}`)",
                "set `strategy: custom` or remove the rules",
            )
        if app.id in self.directory_apps and (
            ownership.strategy != DEFAULT_STRATEGY or ownership.rules
        ):
            self.warning(
                path,
                f"`{app.id}` is a directory, so its ownership setting has no effect",
                "ownership applies to accounts of non-directory apps; remove it",
            )
        self.check_match_rules((*path, "rules"), ownership.rules)

    def check_provisioning(self, path: Path, app: App) -> None:
        provisioning = app.provisioning
        assert provisioning is not None
        description = self.descriptions.get(app.id)
        schema_ok = description is not None and description.capabilities.provisioning
        if description is not None and not description.capabilities.provisioning:
            self.error(
                path,
                f"app `{app.id}` cannot create accounts (its connector does not support "
                "provisioning)",
                "remove `provisioning:` from this app",
            )
        keys = [f.key for f in description.creation_schema] if description else []
        for key, expression in provisioning.fields.items():
            here: Path = (*path, "fields", key)
            if schema_ok and description is not None and description.creation_field(key) is None:
                hint = suggest(key, keys) or (
                    "fields of its account-creation schema: " + ", ".join(keys)
                )
                self.error(
                    here,
                    f"`{key}` is not a field of `{app.id}`'s account-creation schema",
                    hint,
                    at_key=True,
                )
            self.check_cel(here, "provisioning_field", expression)
        if schema_ok and description is not None:
            self.check_listing_filter(path, app, description)
            for schema_field in description.creation_schema:
                if (
                    schema_field.required
                    and schema_field.key not in provisioning.fields
                    and schema_field.default in (None, "", [], {})
                ):
                    self.warning(
                        (*path, "fields"),
                        f"required field `{schema_field.key}` has no mapping and no default; "
                        "every account creation will fail",
                        f"map it: `{schema_field.key}: <CEL expression>`",
                    )

    def check_listing_filter(self, path: Path, app: App, description: ConnectorDescription) -> None:
        """An account Roster creates must be one the app's import lists: created without the
        values its listing filter asks for, the next import does not see it and marks it
        DELETED, and a proactive app creates another at every sync (docs review: the SCIM
        example's `userType eq "Employee"` with no `userType` field)."""
        assert app.provisioning is not None
        unset = [
            key
            for key in description.filter_fields
            if key not in app.provisioning.fields
            and (spec := description.creation_field(key)) is not None
            and spec.default in (None, "", [], {})
        ]
        unknown = [key for key in description.filter_fields if not description.creation_field(key)]
        if not unset and not unknown:
            return
        shown = ", ".join(f"`{key}`" for key in (*unset, *unknown))
        hint = (
            f"map {'them' if len(unset) > 1 else 'it'} in provisioning.fields so that new "
            f"accounts match (e.g. `{unset[0]}: <CEL expression>`), or drop "
            f"{'them' if len(unset) > 1 else 'it'} from the filter"
            if unset
            else "it is no creation field: drop it from the filter, or create accounts elsewhere"
        )
        self.warning(
            (*path, "fields"),
            f"the app lists only the accounts its filter {description.listing_filter!r} "
            f"matches, and provisioning does not set {shown}: an account Roster creates may not "
            "be listed, and the next sync would mark it DELETED (a proactive app would create "
            "another at every sync)",
            hint,
        )

    # ------------------------------------------------------------------ attributes

    def check_attributes(self) -> None:
        first: dict[str, int] = {}
        for index, attribute in self.s.attributes:
            path: Path = ("attributes", index)
            folded = attribute.name.casefold()
            if not attribute.name.strip():
                self.error((*path, "name"), "an attribute needs a name", "e.g. `name: department`")
                continue
            if folded in first:
                other = self.attributes[folded]
                if not attribute.custom and not other.custom and attribute.name == other.name:
                    message = (
                        f"standard attribute `{attribute.name}` is mapped twice; each standard "
                        "attribute can be mapped once"
                    )
                    hint = f"merge its sources into attributes[{first[folded]}]"
                else:
                    message = (
                        f"attribute `{attribute.name}` is defined twice (names are unique "
                        "regardless of case)"
                    )
                    hint = f"attributes[{first[folded]}] is `{other.name}`; rename or merge one"
                self.error((*path, "name"), message, hint)
                continue
            first[folded] = index
            self.attributes[folded] = attribute
            self.check_attribute_kind(path, attribute)
            self.check_sources(path, attribute)
            self.check_flow_rules(path, attribute)

    def check_attribute_kind(self, path: Path, attribute: Attribute) -> None:
        name = attribute.name
        standard = {n.casefold(): n for n in STANDARD_ATTRIBUTES}
        if attribute.custom:
            if name.casefold() in standard:
                self.error(
                    (*path, "custom"),
                    f"`{name}` is a standard attribute, so it cannot be custom",
                    "remove `custom: true` to map the standard attribute, or pick another name",
                )
            elif len(name) > MAX_ID_CHARS:
                self.error(
                    (*path, "name"),
                    f"custom attribute name `{name[:40]}…` is {len(name):,} characters long: a "
                    f"name is at most {MAX_ID_CHARS}",
                    "shorten it",
                )
            elif not _ATTRIBUTE_NAME.match(name):
                self.error(
                    (*path, "name"),
                    f"custom attribute name `{name}` cannot be used in CEL",
                    "start with a letter; use only letters, digits and `_`",
                )
            return
        if name not in STANDARD_ATTRIBUTES:
            if name.casefold() in standard:
                self.error(
                    (*path, "name"),
                    f"standard attribute names are lower-case: write `{standard[name.casefold()]}`",
                    "standard names: " + ", ".join(STANDARD_ATTRIBUTES),
                )
            else:
                suggestion = suggest(name, list(STANDARD_ATTRIBUTES))
                hint = (suggestion + " " if suggestion else "") + (
                    "To define a custom attribute, add `custom: true`."
                )
                self.error((*path, "name"), f"`{name}` is not a standard attribute", hint)
            return
        fixed = STANDARD_ATTRIBUTES[name]
        if attribute.multi_valued is not None and attribute.multi_valued != fixed:
            kind = "multi-valued" if fixed else "single-valued"
            self.error(
                (*path, "multi_valued"),
                f"`{name}` is {kind}; a standard attribute's kind cannot change",
                f"remove `multi_valued` (it is `{str(fixed).lower()}` for `{name}`)",
            )

    def check_sources(self, path: Path, attribute: Attribute) -> None:
        if not attribute.sources:
            self.warning(
                (*path, "sources"),
                f"attribute `{attribute.name}` has no sources; it will stay empty",
                "add a source: `{app: hr, field: profile.department}` or `{cel: '...'}`",
            )
        first: dict[tuple[str | None, ...], int] = {}  # each source as given -> where first
        for index, source in enumerate(attribute.sources):
            here: Path = (*path, "sources", index)
            direct = source.app is not None or source.field is not None
            same = (source.app, source.field, None if source.cel is None else source.cel.strip())
            whole = source.app is not None and source.field is not None
            well_formed = whole if source.cel is None else not direct
            if same in first and well_formed:
                # a well-formed source given twice: the second never gives another value (the
                # first came before it) nor a value the first did not (a union takes both)
                self.warning(
                    here,
                    f"this source repeats sources[{first[same]}] of `{attribute.name}` "
                    f"({printable(_source_text(attribute.sources[first[same]]), 80, one_line=True)}"
                    "): it adds nothing",
                    "remove it",
                )
                continue
            first.setdefault(same, index)
            if source.cel is not None and direct:
                self.error(
                    here, "a source gives both `cel` and `app`/`field`", "keep one kind of source"
                )
            elif source.cel is None and not direct:
                self.error(
                    here,
                    "a source needs `app` and `field`, or `cel`",
                    "e.g. `{app: hr, field: profile.department}` or `{cel: 'subject.email'}`",
                )
            elif source.cel is None and source.app is None:
                self.error(here, "`app` is required with `field`", "name the app the field is in")
            elif source.cel is None and source.field is None:
                self.error(
                    here,
                    "`field` is required with `app`",
                    "an account field (e.g. `email`) or `profile.<key>`",
                )
            if source.app is not None:
                self.app_ref((*here, "app"), source.app, "this source")
            if source.field is not None:
                self.check_field((*here, "field"), source.field)
            if source.cel is not None:
                self.check_cel((*here, "cel"), "attribute_source", source.cel)

    def check_field(self, path: Path, name: str) -> None:
        if name.startswith("profile."):
            if not name[len("profile.") :].strip():
                self.error(path, "`profile.` needs a key", "e.g. `profile.department`")
            return
        if name not in ACCOUNT_FIELDS:
            hint = suggest(name, [*ACCOUNT_FIELDS, f"profile.{name}"]) or (
                f"account fields: {', '.join(ACCOUNT_FIELDS)}; or `profile.<key>` for the app's "
                "own attributes"
            )
            self.error(path, f"`{name}` is not an account field", hint)

    def check_flow_rules(self, path: Path, attribute: Attribute) -> None:
        seen: dict[str, int] = {}
        source_apps = {s.app for s in attribute.sources if s.app is not None}
        for index, rule in enumerate(attribute.flow_rules):
            here: Path = (*path, "flow_rules", index)
            app = self.app_ref((*here, "app"), rule.app, "this flow rule")
            if rule.app in seen:
                self.error(
                    (*here, "app"),
                    f"`{attribute.name}` has two flow rules for `{rule.app}`",
                    f"flow_rules[{seen[rule.app]}] is the first; keep one rule per app",
                )
                continue
            seen[rule.app] = index
            if (
                app is not None
                and rule.direction in INBOUND_DIRECTIONS
                and rule.app not in source_apps
            ):
                self.warning(
                    (*here, "app"),
                    f"the {rule.direction} flow rule for `{rule.app}` has no effect: no source of "
                    f"`{attribute.name}` reads from `{rule.app}`",
                    f"add a source `{{app: {rule.app}, field: ...}}` or remove the rule",
                )
            elif app is not None and rule.direction == "outbound" and rule.app in source_apps:
                # the attribute stage ignores an outbound app's values: the source reads nothing
                self.warning(
                    (*here, "direction"),
                    f"`{rule.app}` is a source of `{attribute.name}`, but its flow rule is "
                    "outbound: its values never flow in, so that source is ignored (a value "
                    "it gave stays until another source changes it)",
                    f"make the rule bidirectional to take `{rule.app}`'s values too, or remove "
                    f"the `{rule.app}` source",
                )

    # ------------------------------------------------------------------ push rules

    def check_push_rules(self) -> None:
        names: dict[str, int] = {}
        enabled_on: dict[str, tuple[int, str]] = {}
        for index, rule in self.s.push_rules:
            path: Path = ("push_rules", index)
            if not rule.name.strip():
                self.error((*path, "name"), "a push rule needs a name", "e.g. `name: ad-core`")
            elif not self.visible_name((*path, "name"), rule.name, "the push rule's name"):
                pass
            elif rule.name in names:
                self.error(
                    (*path, "name"),
                    f"two push rules are named `{rule.name}`",
                    f"push_rules[{names[rule.name]}] has this name; names must differ",
                )
            else:
                names[rule.name] = index
            app = self.app_ref((*path, "app"), rule.app, "this push rule")
            description = self.descriptions.get(rule.app)
            can_push = description is not None and description.capabilities.push
            if app is not None and description is not None and not can_push:
                self.error(
                    (*path, "app"),
                    f"app `{rule.app}` does not support push (its connector cannot write "
                    "attributes)",
                    "push to an app whose connector supports push, e.g. Active Directory",
                )
            if rule.enabled:
                if rule.app in enabled_on:
                    other_index, other_name = enabled_on[rule.app]
                    self.error(
                        (*path, "enabled"),
                        f"two enabled push rules target `{rule.app}` (`{other_name}` and "
                        f"`{rule.name}`); at most one per app",
                        f"set `enabled: false` on one, or merge its mappings into "
                        f"`{other_name}` (push_rules[{other_index}])",
                    )
                else:
                    enabled_on[rule.app] = (index, rule.name)
            self.check_targeting((*path, "targeting"), rule)
            self.check_mappings(path, rule, description if can_push else None)

    def check_targeting(self, path: Path, rule: PushRule) -> None:
        targeting = rule.targeting
        kind = targeting.kind
        if kind != "filter":
            for key in ("entitlements", "attributes"):
                if getattr(targeting, key):
                    self.error(
                        (*path, key),
                        f"`{key}` is used only with `kind: filter` (this is `{kind}`)",
                        "set `kind: filter` or remove it",
                        at_key=True,
                    )
        if kind != "cel" and targeting.cel is not None:
            self.error(
                (*path, "cel"),
                f"`cel` is used only with `kind: cel` (this is `{kind}`)",
                "set `kind: cel` or remove it",
                at_key=True,
            )
        if kind == "cel":
            if targeting.cel is None:
                self.error(
                    (*path, "cel"),
                    "`kind: cel` needs a `cel` condition",
                    "e.g. `cel: 'subject.status == UserStatus.ENABLED'`",
                )
            else:
                self.check_cel((*path, "cel"), "push_condition", targeting.cel)
        if kind == "filter":
            if not targeting.entitlements and not targeting.attributes:
                self.error(
                    path,
                    "a filter needs `entitlements` or `attributes`",
                    "use `kind: everyone` to push to everyone",
                )
            for index, ref in enumerate(targeting.entitlements):
                here: Path = (*path, "entitlements", index)
                self.app_ref((*here, "app"), ref.app, "this entitlement")
                if not ref.entitlement.strip():
                    self.error(
                        (*here, "entitlement"),
                        "the entitlement id is empty",
                        "write the entitlement's id in the app, e.g. `grp-engineering`",
                    )
            for name, values in targeting.attributes.items():
                here = (*path, "attributes", name)
                self.attribute_ref(here, name, "this filter")
                if not values:
                    self.error(here, f"no values given for `{name}`", "list the accepted values")

    def check_mappings(
        self, path: Path, rule: PushRule, description: ConnectorDescription | None
    ) -> None:
        if not rule.mappings:
            self.warning(
                (*path, "mappings"),
                f"push rule `{rule.name}` has no mappings; it pushes nothing",
                "add `- {target: title, attribute: job_title}`",
            )
        targets: dict[str, int] = {}
        schema_keys = [f.key for f in description.push_schema] if description else []
        for index, mapping in enumerate(rule.mappings):
            here: Path = (*path, "mappings", index)
            folded = mapping.target.casefold()
            if not mapping.target.strip():
                self.error(
                    (*here, "target"),
                    "the target attribute is empty",
                    "name the attribute to write in the target app, e.g. `title`",
                )
            elif folded in targets:
                self.error(
                    (*here, "target"),
                    f"`{mapping.target}` is written twice by this push rule",
                    f"mappings[{targets[folded]}] already writes it; keep one",
                )
            else:
                targets[folded] = index
            if (
                description is not None
                and mapping.target.strip()
                and description.push_field(mapping.target) is None
                and not description.capabilities.custom_push_attributes
            ):
                hint = suggest(mapping.target, schema_keys) or (
                    "its push schema has: " + ", ".join(schema_keys)
                )
                self.error(
                    (*here, "target"),
                    f"`{mapping.target}` is not in `{rule.app}`'s push schema, and the "
                    "connector does not allow custom attributes",
                    hint,
                )
            elif (
                description is not None
                and mapping.target.strip()
                and description.push_field(mapping.target) is None
                and (near := _typo_of(mapping.target, schema_keys))
            ):
                # the connector takes any name, so a typo would be written as a new attribute
                self.warning(
                    (*here, "target"),
                    f"`{mapping.target}` is not in `{rule.app}`'s push schema: it would be "
                    "written as a custom attribute of that name",
                    f"did you mean `{near}`?",
                )
            if mapping.attribute is None and mapping.cel is None:
                self.error(
                    here,
                    "a mapping needs `attribute` or `cel`",
                    "e.g. `{target: title, attribute: job_title}`",
                )
            elif mapping.attribute is not None and mapping.cel is not None:
                self.error(here, "a mapping gives both `attribute` and `cel`", "keep one of them")
            if mapping.cel is not None:
                self.check_cel((*here, "cel"), "push_mapping", mapping.cel, rule.app)
            if mapping.attribute is not None:
                attribute = self.attribute_ref(
                    (*here, "attribute"), mapping.attribute, "this mapping"
                )
                if attribute is not None and rule.enabled:
                    self.check_authority((*here, "attribute"), attribute, rule.app)

    def check_authority(self, path: Path, attribute: Attribute, app_id: str) -> None:
        if not attribute.flow_rules:
            return
        flow = attribute.flow_rule_for(app_id)
        if flow is None:
            self.warning(
                path,
                f"`{attribute.name}` has flow rules but none for `{app_id}`, so `{app_id}` counts "
                "as inbound (authoritative); pushing the attribute there works against that",
                f"add a flow rule `{{app: {app_id}, direction: outbound}}` to `{attribute.name}`",
            )
        elif flow.direction == "inbound":
            self.warning(
                path,
                f"`{attribute.name}`'s flow rule for `{app_id}` is inbound (the app is "
                "authoritative), so this push rule's mapping of it is skipped",
                "make the flow rule outbound or bidirectional, or remove this mapping",
            )
        elif flow.direction == "disabled":
            self.warning(
                path,
                f"`{attribute.name}`'s flow rule for `{app_id}` is disabled (written only when an "
                "account is created), so this push rule's mapping of it is skipped",
                "make the flow rule outbound or bidirectional, or remove this mapping",
            )


def _source_text(source: Any) -> str:
    """A source as explain and the Attributes screen write it: `hr:profile.department`."""
    return f"{source.app}:{source.field}" if source.cel is None else f"cel: {source.cel.strip()}"


def _typo_of(name: str, keys: list[str]) -> str | None:
    """The schema key NAME is most likely a misspelling of (two letters off at most: one
    wrong, missing, extra or swapped), if any: a custom attribute merely resembling one
    (`msDS-cloudExtensionAttribute1`) is not."""
    wanted = name.casefold()
    found = [
        (distance, key)
        for key in keys
        if (distance := _edits(wanted, key.casefold())) <= min(2, len(wanted) // 4)
    ]
    return min(found)[1] if found else None


def _edits(a: str, b: str) -> int:
    """Edits from A to B (a letter changed, added, removed, or two neighbours swapped)."""
    if abs(len(a) - len(b)) > 2:
        return 3  # more than any typo counted
    previous2: list[int] = []
    previous = list(range(len(b) + 1))
    for i in range(1, len(a) + 1):
        row = [i] + [0] * len(b)
        for j in range(1, len(b) + 1):
            cost = a[i - 1] != b[j - 1]
            row[j] = min(previous[j] + 1, row[j - 1] + 1, previous[j - 1] + cost)
            if i > 1 and j > 1 and a[i - 1] == b[j - 2] and a[i - 2] == b[j - 1]:
                row[j] = min(row[j], previous2[j - 2] + 1)
        previous2, previous = previous, row
    return previous[len(b)]
