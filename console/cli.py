"""The `roster` command line. Every command calls the same engine facade the console uses.

Text for people, JSON (--json) for scripts; errors go to stderr. Exit codes: 0 done, 1 bad input
or failure, 2 usage, 3 blocked by the deletion threshold, 4 another sync is running, 5 applied
(or planned) but some apps failed to import or some pushes were refused.
"""

from __future__ import annotations

import atexit
import gc
import json
import re
import sys
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn, TypeVar

import click
from click.core import ParameterSource

from console.cli_progress import count_reporter, stage_reporter, working
from console.cli_wrap import terminal_columns, wrapped
from console.settings import Settings
from engine.changes import deletion_lines, describe_counts
from engine.errors import InvalidInput, Problem, RosterError
from engine.text import one_line, printable, value_text

if TYPE_CHECKING:
    from engine.services import LinkResult

F = TypeVar("F", bound=Callable[..., Any])


def _store_options(func: F) -> F:
    """--db / --database-url on the group and on every command, so both orders work. Where each
    value came from is kept: a value on the command line wins over the environment."""

    def remember(key: str) -> Callable[[click.Context, click.Parameter, Any], Any]:
        def callback(ctx: click.Context, param: click.Parameter, value: Any) -> Any:
            if value is not None:
                source = ctx.get_parameter_source(param.name or key)
                typed = source is not ParameterSource.ENVIRONMENT
                given = ctx.find_root().ensure_object(dict).setdefault("store", {})
                # the group and each command read the environment again: never let that
                # replace a value typed on the command line
                if typed or not given.get(key, (None, False))[1]:
                    given[key] = (value, typed)
            return value

        return callback

    func = click.option(
        "--database-url",
        envvar="ROSTER_DATABASE_URL",
        expose_value=False,
        callback=remember("database_url"),
        help="Any SQLAlchemy URL (PostgreSQL for teams). Env: ROSTER_DATABASE_URL.",
    )(func)
    func = click.option(
        "--db",
        "db",
        envvar="ROSTER_DB",
        expose_value=False,
        type=click.Path(dir_okay=False, path_type=Path),
        callback=remember("db"),
        help="SQLite file of the identity store. Env: ROSTER_DB.",
    )(func)
    return func


_STORE_NAMES = {
    "db": ("--db", "ROSTER_DB"),
    "database_url": ("--database-url", "ROSTER_DATABASE_URL"),
}


def _settings() -> Settings:
    """The store the command works on: the command line wins over the environment; --db and
    --database-url at the same level name two stores, which is a usage error."""
    ctx = click.get_current_context()
    given: dict[str, tuple[Any, bool]] = (ctx.find_root().obj or {}).get("store", {})
    typed = {key: value for key, (value, on_line) in given.items() if on_line}
    chosen = typed or {key: value for key, (value, _) in given.items()}
    if len(chosen) > 1:
        names = [_STORE_NAMES[key][0 if typed else 1] for key in sorted(chosen, reverse=True)]
        raise click.UsageError(
            f"{' and '.join(names)} both name an identity store; give only one"
            + ("" if typed else " (or pass --db / --database-url, which wins)")
        )
    return Settings(db_path=chosen.get("db"), database_url=chosen.get("database_url"))


def _services(init: str | None = None) -> Any:
    from engine.services import open_services

    settings = _settings()
    if init is None and not settings.store_exists():
        if settings.explicit:
            # only the default store is created on first start: a mistyped --db must not
            # silently become a new demo store
            raise RosterError(
                f"No identity store at {settings.describe()}; nothing was created. Check the "
                f"path, or create a store there with `{settings.init_command()}`."
                + settings.url_hint()
            )
        echo(
            f"No identity store at {settings.describe()}; creating it with the demo organisation…",
            err=True,
        )
    services = open_services(
        db_path=settings.db_path, database_url=settings.database_url, init=init
    )
    # text for people only: with --json, stderr carries the error's JSON and nothing else
    as_json = bool(click.get_current_context().params.get("as_json"))
    loose = None if as_json else services.db.permission_warning()
    if loose:
        echo(f"Warning: {loose}", err=True)
    return services


# JSON escapes C0 controls itself; these it leaves raw (DEL, C1, bidi and invisible format
# characters). Escaping them as \uXXXX is the same JSON, and harmless in a terminal.
_JSON_RAW = re.compile(
    "[\x7f-\x9f\u00ad\u061c\u180e\u200b\u200e\u200f\u2028-\u202e\u2060-\u2069\ufeff]"
)


def _emit(data: Any) -> None:
    click.echo(_json_text(data))


def _json_text(data: Any) -> str:
    text = json.dumps(data, indent=2, default=str, ensure_ascii=False)
    return _JSON_RAW.sub(lambda m: f"\\u{ord(m.group()):04x}", text)


def _emit_streaming(
    head: dict[str, Any], key: str, items: Iterable[Any], tail: dict[str, Any]
) -> None:
    """`_emit` of {**HEAD, KEY: [ITEMS], **TAIL}, written as the items come (a first sync's
    1.3 million changes, held whole as one JSON text, took 4.4 GB)."""
    opening = _json_text({**head, key: []})
    assert opening.endswith("[]\n}")
    click.echo(opening[: -len("]\n}")], nl=False)
    written, block = 0, []
    for item in items:
        block.append(("," if written else "") + "\n    " + _json_text(item).replace("\n", "\n    "))
        written += 1
        if len(block) >= 1000:
            click.echo("".join(block), nl=False)
            block = []
    click.echo("".join(block) + ("\n  ]" if written else "]"), nl=False)
    rest = _json_text(tail)
    click.echo(("," + rest[1:]) if tail else "\n}")


#: The most characters one message prints; --json gives values in full.
TEXT_LIMIT = 20_000


def echo(message: Any = "", *, err: bool = False, nl: bool = True, wrap: bool = False) -> None:
    """Print text for people: data in it (names, values, reasons) may hold escape sequences or
    control characters, which are shown as `\\x1b` and never reach the terminal; a huge value
    is cut (with an ellipsis) instead of flooding it. `wrap`: an item of a list of prose, broken
    between words at a terminal's width (console/cli_wrap.py says why only those)."""
    text = printable(message, TEXT_LIMIT)
    if wrap:
        width = terminal_columns(sys.stderr if err else sys.stdout)
        text = wrapped(text, width) if width is not None else text
    click.echo(text, err=err, nl=nl)


def echo_line(message: Any, *, err: bool = False) -> None:
    """One record's line (a change, a push, a value): a line break in its data is shown as
    `\\n`, never printed: a value from an app must not forge another line of the log (hostile
    review: a display name holding "\\n  [ownership] …" added a fake change to `roster runs`)."""
    click.echo(printable(message, TEXT_LIMIT, one_line=True), err=err)


def echo_item(prefix: str, text: Any, *, err: bool = False) -> None:
    """`text` after `prefix`, its further lines (a file's other problems) indented under the
    first so that each item of a list stays one block."""
    first, *rest = str(text).split("\n")
    echo(prefix + first, err=err)
    for line in rest:
        echo(" " * len(prefix) + line, err=err)


class Number(click.IntRange):
    """A whole number in a range: "'x' is not a valid integer." (not "integer range"), and
    bounded above by what the store's integers hold (a larger one was a traceback)."""

    name = "integer"

    def __init__(self, min: int | None = None, max: int | None = 2**62) -> None:  # noqa: A002
        super().__init__(min=min, max=max)


def _count(n: int, noun: str) -> str:
    return f"{n:,} {noun}{'' if n == 1 else 's'}"


def _fail(exc: RosterError, as_json: bool) -> None:
    if as_json:
        click.echo(
            json.dumps(
                {
                    "ok": False,
                    "error": exc.message,
                    "problems": [p.as_dict() for p in exc.problems],
                },
                indent=2,
                default=str,
            ),
            err=True,
        )
    else:
        echo(f"Error: {exc.message}", err=True)
        for problem in exc.problems:
            echo_line(f"  {problem}", err=True)
    sys.exit(exc.exit_code)


def _guard(func: F) -> F:
    """Turn engine errors into clear messages and exit codes, never tracebacks."""
    import functools

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except RosterError as exc:
            _fail(exc, bool(kwargs.get("as_json")))

    return wrapper  # type: ignore[return-value]


@click.group(invoke_without_command=True, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="roster", prog_name="roster", message="%(prog)s %(version)s")
@_store_options
@click.pass_context
def main(ctx: click.Context) -> None:
    """Roster: the identity-data console. With no command, opens the console."""
    ctx.ensure_object(dict)
    atexit.register(_exit_at_once)
    if ctx.invoked_subcommand is None:
        _open_console()


def _exit_at_once() -> None:
    """The collection Python runs as it exits walks every object still alive: 8 s after a
    command (or the console) read a store of 100,000 people. The stores' connections, held
    in cycles, are closed first (else SQLite leaves its log beside the file, with the last
    writes only in it); then everything alive is frozen, out of that collection's way."""
    db = sys.modules.get("engine.store.db")  # never imported just to exit
    if db is not None:
        db.dispose_all()
    gc.freeze()


@_guard
def _open_console() -> None:
    services = _services()
    from console.app import RosterApp

    app = RosterApp(services)
    try:
        app.run()
    except Exception as exc:  # noqa: BLE001 - outside the app's loop: report, never a traceback
        from console.crash import crash_message, write_crash_report

        report = write_crash_report(exc, where="the console")
        echo(crash_message(exc, report, "the console").plain, err=True)
        sys.exit(1)
    if app.return_code:
        sys.exit(app.return_code)


@main.command()
@_store_options
@click.option("--sample", is_flag=True, help="Load the demo organisation (the default).")
@click.option("--empty", is_flag=True, help="Create an empty store.")
@click.option(
    "--sample-ldap",
    "ldap_url",
    metavar="URL",
    help="The demo with its AD app reading this directory (ldap:// or ldaps://).",
)
@click.option("--ldap-base-dn", metavar="DN", help="With --sample-ldap: where the users are.")
@click.option("--ldap-bind-dn", metavar="DN", help="With --sample-ldap: the account to bind as.")
@click.option(
    "--ldap-password-env",
    metavar="NAME",
    default="ROSTER_LDAP_PASSWORD",
    show_default=True,
    help="With --sample-ldap: the environment variable holding the bind password.",
)
@click.option(
    "--ldap-ca-file", metavar="PATH", help="With --sample-ldap: the CA of the server's certificate."
)
@click.option(
    "--ldap-filter", metavar="FILTER", help="With --sample-ldap: the user filter (AD's default)."
)
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@_guard
def init(
    sample: bool,
    empty: bool,
    ldap_url: str | None,
    ldap_base_dn: str | None,
    ldap_bind_dn: str | None,
    ldap_password_env: str,
    ldap_ca_file: str | None,
    ldap_filter: str | None,
    as_json: bool,
) -> None:
    """Create the identity store, empty or with the demo organisation.

    --sample-ldap URL: the demo, with its Active Directory app reading a real directory
    (nothing is started; the AD push rule is off, so nothing is written to the directory).
    """
    if sample and empty:
        raise click.UsageError("--sample and --empty exclude each other; give one")
    if ldap_url and empty:
        raise click.UsageError("--sample-ldap and --empty exclude each other; give one")
    if ldap_url and not (ldap_base_dn and ldap_bind_dn):
        raise click.UsageError("--sample-ldap needs --ldap-base-dn and --ldap-bind-dn")
    if not ldap_url and (ldap_base_dn or ldap_bind_dn or ldap_ca_file or ldap_filter):
        raise click.UsageError("the --ldap-* options go with --sample-ldap URL")
    mode = "empty" if empty else "sample"
    settings = _settings()
    if settings.store_exists():
        raise RosterError(
            f"{settings.describe()} already holds an identity store; nothing was changed. "
            + (
                "Create another database for a new store (createdb NAME) and give its URL "
                "with --database-url, or use this one as it is."
                if settings.database_url
                else "Pick another file with --db, or delete that one first."
            )
        )
    if ldap_url:
        ldap: dict[str, Any] = {
            "url": ldap_url,
            "bind_dn": ldap_bind_dn,
            "password_env": ldap_password_env,
            "base_dn": ldap_base_dn,
            "flavour": "active_directory",
        }
        if ldap_ca_file:
            ldap["ca_file"] = str(Path(ldap_ca_file).expanduser().resolve())
        if ldap_filter:
            ldap["user_filter"] = ldap_filter
        services = _services(init="empty")
        result = services.init_store("sample", ldap=ldap)
        services.invalidate()
        mode = "sample-ldap"
        for failure in result.failures if result is not None else []:
            # e.g. the directory is unreachable: the demo is created, the AD app is not read
            echo(f"Warning: {failure['app']}: {failure['reason']}", err=True)
    else:
        services = _services(init=mode)
    summary = services.dashboard(with_care=False)  # the counts: no care lists
    data = {
        "ok": True,
        "mode": mode,
        "store": settings.describe(),
        "people": summary.people,
        "accounts": summary.accounts,
        "apps": len(summary.apps),
    }
    if as_json:
        _emit(data)
    else:
        echo(
            f"Created {settings.describe()} ({mode}): {summary.people} people, "
            f"{summary.accounts} accounts in {len(summary.apps)} apps."
        )
        echo(
            f"You ({services.actor}) are its admin: `roster users grant OS_USER viewer` lets "
            "someone else look (docs/roles.md)."
        )


@main.command()
@_store_options
@click.option(
    "--dry-run", is_flag=True, help="Plan only: compute and store the plan, change nothing."
)
@click.option("--allow-deletes", is_flag=True, help="Apply even past the deletion threshold.")
@click.option(
    "--expect-plan",
    metavar="PLAN",
    help="Apply only if nothing the plan PLAN (printed by --dry-run) was computed from has "
    "changed since: the apps' data, the configuration, manual decisions, other runs. Else "
    "nothing is applied (exit 1).",
)
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@_guard
def sync(dry_run: bool, allow_deletes: bool, expect_plan: str | None, as_json: bool) -> None:
    """Import every app, identify people, link accounts and compute attributes.

    To apply exactly what you reviewed: `roster sync --dry-run` prints `plan: PLAN`, then
    `roster sync --expect-plan PLAN` applies it, or refuses if anything it stands on changed."""
    from engine.services import APPLIED_STATUSES, describe_stage_plan, plan_counts

    if dry_run and expect_plan:
        raise click.UsageError("--expect-plan applies a plan: leave out --dry-run")
    services = _services()
    doing = "Planning the sync" if dry_run else "Syncing"
    with working(doing, as_json=as_json) as say:
        result = services.sync(
            dry_run=dry_run,
            allow_deletes=allow_deletes,
            expect_plan=expect_plan,
            progress=stage_reporter(say),
        )
    if as_json:
        _emit(result.as_dict())
    elif result.status == "plan-changed":
        echo(f"Run {result.run_id}: {result.status}")
        echo(f"Error: {result.error}", err=True)
    else:
        # "Run 6 (dry run): planned, nothing written", as the console titles it
        mode = " (dry run)" if result.dry_run else ""
        written = ", nothing written" if result.dry_run else ""
        of_plan = f" (the plan of run {result.plan_run})" if result.plan_run else ""
        took = sum(result.seconds.values())
        echo(f"Run {result.run_id}{mode}: {result.status}{written}{of_plan} · {took:,.1f} s")
        # what the plan changes per stage (as the console's confirmation says it), then the
        # stage's own counters, which count everything it looked at
        planned = plan_counts(change.as_dict() for change in result.planned)
        for stage in result.stages:
            echo(f"  {stage.name:<11} {describe_stage_plan(planned.get(stage.name))}")
            if stage.name == "provision" and any(result.accounts.values()):
                echo(f"              accounts: {_accounts_line(result.accounts)}")
            if stage.counts:
                echo(f"              looked at: {describe_counts(stage.counts)}")
            for note in stage.notes:
                echo(f"    {note}")
            for problem in stage.problems[:10]:
                echo_item("    ! ", problem)
            if len(stage.problems) > 10:
                echo(f"    … and {len(stage.problems) - 10} more (roster runs {result.run_id})")
        applied = result.status in APPLIED_STATUSES
        count = len(result.planned)
        listed = f"`roster runs {result.run_id}` lists {'it' if count == 1 else 'them'}"
        refused = result.not_applied
        if applied and refused:
            # the pushes an app refused (or could not be reached for) were not applied
            outcome = f": {count - refused:,} applied, {refused:,} refused by the apps ({listed})"
        elif applied:
            outcome = f" applied ({listed})" if count else " applied"
        else:
            outcome = " planned (nothing was applied" + (f"; {listed})" if count else ")")
        echo(f"  {count:,} change{'' if count == 1 else 's'}{outcome}")
        for line in deletion_lines(result.deletions):
            # which ones, for the first few (`--json` and `roster runs` list them all)
            named = ", ".join(line.objects[:3]) + (", …" if len(line.objects) > 3 else "")
            if line.disables:
                said = f"{'disabled' if applied else 'would disable'} {line.count:,} "
                said += line.disabled_text
            else:
                said = f"{'deleted' if applied else 'would delete'} {line.count:,} {line.text}"
            echo(f"  {said}" + (f" ({named})" if named else ""))
        if result.dry_run and result.plan:
            echo(f"plan: {result.plan}  (roster sync --expect-plan {result.plan} applies it)")
        if result.failures:
            done = "Applied" if applied else "Planned"
            echo(
                f"{done} with failures (exit 5): fix these and sync again; "
                f"`roster runs {result.run_id}` has the details.",
                err=True,
            )
            for failure in result.failures:
                echo_item(f"  {failure['app']} ({failure['stage']}): ", failure["reason"], err=True)
        elif result.error:
            echo(f"Error: {result.error}", err=True)
    sys.exit(result.exit_code)


def _accounts_line(accounts: dict[str, int]) -> str:
    """ "4 created, 1 refused by the app": what became of the accounts a sync set out to
    create, as its provision stage counted them (nothing is counted twice)."""
    planned, created, refused = accounts["planned"], accounts["created"], accounts["refused"]
    if created or refused:
        parts = [f"{created} created", f"{refused} refused by the app"]
    else:
        parts = [f"{planned} to create, none created"] if planned else []
    if accounts["invalid"]:
        parts.append(f"{accounts['invalid']} not planned (a field failed; see below)")
    return ", ".join(parts)


@main.command()
@_store_options
@click.option(
    "--context",
    "context",
    required=True,
    # spelled out, not read from engine.cel: importing it would cost --help its speed
    help="CEL context: directory_filter, account_key (an account); user_key, attribute_source, "
    "push_condition, push_mapping, provisioning_field (a person); cel (no record). "
    "docs/concepts.md describes each.",
)
@click.option("--user", "user_email", help="Evaluate against the person with this email (or id).")
@click.option("--account", "account_key", help="Evaluate against APP:EXTERNAL_ID.")
@click.option("--all", "everyone", is_flag=True, help="Evaluate against everyone in scope.")
@click.option("--app", "app_id", help="With --all in an account context: only this app's accounts.")
@click.option(
    "--against",
    "against",
    metavar="PATH",
    help="Compare with the saved expression at PATH over everyone in scope "
    "(e.g. push_rules.ad-core.condition); implies --all. For a directory filter or a merge "
    "or ownership rule, also what saving it would do: people created and removed, accounts "
    "with another owner.",
)
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.argument("expression")
@_guard
def preview(
    context: str,
    user_email: str | None,
    account_key: str | None,
    everyone: bool,
    app_id: str | None,
    against: str | None,
    as_json: bool,
    expression: str,
) -> None:
    """Evaluate a CEL EXPRESSION in CONTEXT against one record or everyone (the `cel` context
    has no record: the language alone).

    Exits 1 when the expression does not compile or fails for the record, or with --all for
    any record in scope, or when the time budget stopped it before every record was evaluated
    (JSON: `ok` says it compiled, `errors` counts the records it failed for, `timed_out`)."""
    from engine.cel import CONTEXTS, NO_RECORD

    if context not in CONTEXTS:
        raise click.UsageError(f"unknown context {context!r}; use one of {', '.join(CONTEXTS)}")
    kind = CONTEXTS[context].subject_kind
    if kind == NO_RECORD and (user_email or account_key or everyone or against):
        raise click.UsageError(
            f"the {context} context has no record: leave out --user, --account, --all and "
            "--against (or choose a context such as push_condition)"
        )
    if sum(bool(x) for x in (user_email, account_key, everyone)) > 1:
        raise click.UsageError("give one of --user, --account or --all")
    if against and (user_email or account_key):
        raise click.UsageError(
            "--against compares over everyone in scope; leave out --user and --account"
        )
    if kind == "account" and user_email or kind == "user" and account_key:
        raise click.UsageError(
            f"the {context} context evaluates against {kind}s; "
            f"use {'--account' if kind == 'account' else '--user'}"
        )
    if not (everyone or against) and (user_email or account_key or kind == NO_RECORD):
        quick = _preview_without_services(context, expression, user_email, account_key)
        if quick is not None:
            _print_one(quick.result, quick.record, as_json, context)
    services = _services()
    if everyone or against:
        # against a filter or a merge / ownership rule: also what saving it does to people
        with working("Evaluating over everyone in scope", as_json=as_json) as say:
            result = services.preview_all(
                context,
                expression,
                app_id=app_id,
                against=against,
                impact=against is not None,
                progress=count_reporter(
                    say, "records", "now what saving it would do" if against else ""
                ),
            )
        _print_population(result, as_json, context)
        # a script asking "does this hold for everyone" must not read success from a count,
        # nor from a preview stopped by its time budget before it saw everyone
        finished = not (result.timed_out or result.cancelled)
        sys.exit(0 if result.ok and not result.errors and finished else 1)
    record: Any = None
    if kind == NO_RECORD:
        pass
    elif account_key:
        record = services.account_by_key(account_key)
    elif user_email:
        record = services.user_by_email(user_email)
    else:
        first = services.first_record(context)  # a directory filter's: a directory account
        if first is None:
            raise RosterError(f"The store has no {kind}s to evaluate against.")
        record = services.record(first)
        if not as_json:
            which = "--account APP:ID" if kind == "account" else "--user EMAIL"
            echo(f"note: no record was named: the first {kind}; give {which} or --all", err=True)
    _print_one(services.preview_one(context, expression, record), record, as_json, context)


def _preview_without_services(
    context: str, expression: str, user_email: str | None, account_key: str | None
) -> Any:
    """A one-record preview of a SQLite store read straight through its driver
    (engine/services/one_record.py: half the time of opening the services); None when the
    store is not one to read that way (a server, missing, to migrate)."""
    settings = _settings()
    if settings.database_url is not None:
        return None
    from engine.services.one_record import preview_sqlite
    from engine.store.location import default_db_path, permission_warning

    path = (settings.db_path or default_db_path()).expanduser()
    if not path.is_file():
        return None

    def warn() -> None:  # as `_services` does, while the store is open (its -wal is there)
        loose = permission_warning(path.resolve())
        if loose and not click.get_current_context().params.get("as_json"):
            echo(f"Warning: {loose}", err=True)

    return preview_sqlite(path, context, expression, user_email, account_key, opened=warn)


def _decides(context: str, value: Any) -> str:
    """What VALUE decides where CONTEXT's expression is read, when its text does not say it:
    a directory filter's true is CREATE (the summary over everyone counts decisions)."""
    if context != "directory_filter":
        return ""
    from engine.cel.results import normalize_filter_result

    decided = normalize_filter_result(value)  # anything else failed: the error says so
    return "" if decided is None or decided == value else f"  ({decided})"


def _print_one(result: Any, record: Any, as_json: bool, context: str) -> NoReturn:
    from engine.records import record_label

    if as_json:
        _emit(result.as_dict())
    else:
        if record is not None:
            echo(f"record: {record_label(record)}")
        if result.ok:
            shown = json.dumps(result.value, ensure_ascii=False, default=str)
            echo(f"value:  {shown}{_decides(context, result.value)}")
            echo(f"type:   {result.type}   ({result.elapsed_ms:.2f} ms)")
        else:
            _print_problem(result.error, result.caret)
        for warning in result.warnings:
            echo(
                f"warning: {warning.message}" + (f" ({warning.hint})" if warning.hint else ""),
                err=True,
            )
    sys.exit(0 if result.ok else 1)


def _print_problem(problem: Problem | None, caret: str) -> None:
    if problem is None:
        return
    where = f"line {problem.line}, column {problem.column}: " if problem.line else ""
    echo(f"error: {where}{problem.message}", err=True)
    if caret:
        echo(caret, err=True)
    if problem.hint:
        echo(f"hint: {problem.hint}", err=True)


def _print_population(result: Any, as_json: bool, context: str) -> None:
    from engine.preview import format_number, summary_label

    if as_json:
        _emit(result.as_dict())
        return
    if not result.ok:
        _print_problem(result.error, result.caret)
        return
    scope = f" ({result.scope})" if result.scope else ""
    echo(
        f"{result.count:,} records{scope} in {result.elapsed_ms:,.0f} ms, "
        f"{_count(result.errors, 'error')}"
    )
    if result.note:
        echo(f"note: {result.note}", err=True)
    every_record_failed = result.count and result.errors == result.count
    for key, value in result.summary.items() if not every_record_failed else ():
        if key == "top":
            for item, count in value:
                echo(f"  {count:>7,}  {item}")
        else:
            echo(f"  {summary_label(key)}: {format_number(value)}")
    # one line per message, not per record: a type error fails everyone the same way
    by_message: dict[str, list[str]] = {}
    for error in result.first_errors:
        by_message.setdefault(error["message"], []).append(error["record"])
    for message, records in by_message.items():
        echo(f"  error: {message}")
        echo(f"    for {', '.join(records[:3])}{', …' if len(records) > 3 else ''}")
    if result.errors > len(result.first_errors):
        named = len(result.first_errors)
        echo(f"  {result.errors:,} records failed in all; --json names the first {named}")
    for sample in result.samples[:5]:
        value = json.dumps(sample["value"], default=str, ensure_ascii=False)
        echo(f"  sample: {sample['record']} → {value}{_decides(context, sample['value'])}")
    compare = result.compare
    if compare is not None:
        if compare.error:
            echo(f"against {compare.against}: {compare.error}", err=True)
        else:
            echo(
                f"against {compare.against}: {compare.changed} changed, "
                f"{compare.became_empty} became empty"
            )
            shown = compare.samples[:5]
            for sample in shown:
                before = json.dumps(sample["before"], default=str, ensure_ascii=False)
                after = json.dumps(sample["after"], default=str, ensure_ascii=False)
                echo(f"  changed: {sample['record']}: {before} → {after}")
            if compare.changed > len(shown):
                echo(f"  … and {compare.changed - len(shown):,} more changed")
            _print_impact(compare)
    for warning in result.warnings:
        echo(
            f"warning: {warning.message}" + (f" ({warning.hint})" if warning.hint else ""), err=True
        )


def _print_impact(compare: Any) -> None:
    if compare.impact_error:
        echo(f"if saved: could not simulate the sync: {compare.impact_error}", err=True)
    if compare.impact is not None:
        print_identity_impact(compare.impact)


def print_identity_impact(impact: Any) -> None:
    """What saving an edit would do to people and owners (an IdentityImpact), in words."""
    people = impact.people_created + impact.people_removed
    echo(
        "if saved (against the saved configuration): "
        f"{impact.people_created:,} created and {impact.people_removed:,} removed "
        f"{'person' if people == 1 else 'people'}, "
        f"{_count(impact.owner_changed, 'account')} with another owner"
    )
    names = {"people_created": "created", "people_removed": "removed", "owner_changed": "moves"}
    for kind, labels in impact.samples.items():
        for label in labels[:5]:
            echo(f"  {names.get(kind, kind)}: {label}")
        total = getattr(impact, kind, 0)
        if isinstance(total, int) and total > len(labels[:5]):
            echo(f"  … and {total - len(labels[:5]):,} more {names.get(kind, kind)}")


@main.command()
@_store_options
@click.argument("email")
@click.argument("attribute")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@_guard
def explain(email: str, attribute: str, as_json: bool) -> None:
    """Why the person with EMAIL (or id) has their ATTRIBUTE value: every candidate and its
    outcome."""
    data = _services().explain(email, attribute)
    if as_json:
        _emit(data.to_json())
        return
    echo(f"{data.user} · {data.attribute} ({data.mode} mode)")
    echo(f"  value:  {json.dumps(data.value, ensure_ascii=False)}")
    echo(f"  source: {data.source or '(none)'}")
    echo(f"  why:    {data.reason}")
    if data.has_pending:
        echo(
            f"  next:   {json.dumps(data.pending, ensure_ascii=False)} (what its sources give "
            "now: the next sync sets it)"
        )
    for number, line in enumerate(data.reads_others):  # a sync computes it again when they move
        echo(f"  {'reads:' if number == 0 else '':<7} {printable(line, 300)}")
    for candidate in data.candidates:
        scores = candidate.scores
        extra = (
            f" [{candidate.direction}; scores create {scores['create']}, update "
            f"{scores['update']}, delete {scores['delete']}]"
            if scores
            else ""
        )
        echo(
            f"  {candidate.outcome:<8} {candidate.source:<28} "
            f"{json.dumps(candidate.value, ensure_ascii=False)}{extra}"
        )
        expression = data.expressions.get(candidate.source)
        if expression is not None:  # whole, line by line: a `//` comment ends at its line
            echo("           CEL:")
            for line in expression.strip("\n").split("\n"):
                echo(f"             {printable(line.rstrip(), 300)}")
        echo(f"           {candidate.reason}")


def _print_link(data: LinkResult, as_json: bool, *, follows: bool = True) -> None:
    """FOLLOWS: the change can move more at the next sync (a link, an unlink, a released
    pin; pinning the link as it is moves nothing)."""
    if as_json:
        _emit(data.to_json())
        return
    owner = data.owner or "nobody"
    pinned = "pinned: syncs leave it alone" if data.pinned else "not pinned: rules decide"
    was = ""
    if data.previous and data.owner:
        was = f"; it was {data.previous}'s" + (", linked by hand" if data.previous_manual else "")
    echo(f"{data.account} → {owner} ({pinned}{was})")
    if follows:
        # what follows from it is the next sync's (its --dry-run tells it before; computing
        # it here would simulate the whole store's identities at every scripted link)
        echo(
            "  What else follows (other accounts, attributes, pushes) is applied at the next "
            "sync: `roster sync --dry-run` shows it."
        )


def _print_link_impact(impact: Any, as_json: bool) -> None:
    if as_json:
        _emit({"dry_run": True, **impact.as_dict()})
        return
    if impact.after is None:
        before = impact.before or "nobody"
        echo(f"Would unlink {impact.account} from {before} (dry run: nothing saved)")
    else:
        echo(
            f"Would link {impact.account} to {impact.after} (now: {impact.before or 'nobody'};"
            " dry run: nothing saved)"
        )
    _print_impact_lines(impact)


def _print_impact_lines(impact: Any) -> None:
    """What else a link, an unlink or an unpin changes at the next sync (engine LinkImpact)."""
    if impact.quiet:
        echo("  Nothing else changes: no other account, person or attribute value.")
        return
    echo("  It also changes, at the next sync:")
    for line in impact.lines():
        echo_line(f"    {line}")


@main.command()
@_store_options
@click.argument("account")
@click.argument("email")
@click.option("--no-pin", is_flag=True, help="Let later syncs' rules change the link again.")
@click.option(
    "--dry-run",
    is_flag=True,
    help="Change nothing: show what else the link would change (other accounts, attributes).",
)
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@_guard
def link(account: str, email: str, no_pin: bool, dry_run: bool, as_json: bool) -> None:
    """Link ACCOUNT (APP:EXTERNAL_ID) to the person with EMAIL (or id); pinned unless
    --no-pin."""
    if dry_run:
        _print_link_impact(_services().link_impact(account, email, pin=not no_pin), as_json)
        return
    _print_link(_services().set_link(account, email, pin=not no_pin), as_json)


@main.command()
@_store_options
@click.argument("account")
@click.option("--no-pin", is_flag=True, help="Let later syncs' rules link it again.")
@click.option(
    "--dry-run",
    is_flag=True,
    help="Change nothing: show what else unlinking would change (other accounts, attributes).",
)
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@_guard
def unlink(account: str, no_pin: bool, dry_run: bool, as_json: bool) -> None:
    """Unlink ACCOUNT (APP:EXTERNAL_ID) from its owner; pinned unlinked unless --no-pin."""
    if dry_run:
        _print_link_impact(_services().link_impact(account, None, pin=not no_pin), as_json)
        return
    _print_link(_services().set_link(account, None, pin=not no_pin), as_json)


@main.command()
@_store_options
@click.argument("account")
@click.option("--off", is_flag=True, help="Release the pin: rules decide again.")
@click.option(
    "--dry-run",
    is_flag=True,
    help="With --off: change nothing, show whom the rules would give the account to and what "
    "else that changes.",
)
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@_guard
def pin(account: str, off: bool, dry_run: bool, as_json: bool) -> None:
    """Pin ACCOUNT's (APP:EXTERNAL_ID) current link so syncs never change it."""
    if dry_run and not off:
        raise InvalidInput(
            "--dry-run goes with --off: pinning keeps the link as it is and changes nothing "
            "else; `roster pin ACCOUNT` pins it."
        )
    if dry_run:
        services = _services()
        pinned = services.account_by_key(account).pinned
        impact = services.unpin_impact(account)
        if as_json:
            _emit({"dry_run": True, "pinned": pinned, **impact.as_dict()})
            return
        now = impact.before or "nobody"
        if not pinned:
            echo(
                f"{impact.account} is not pinned: the rules decide its owner already (now: "
                f"{now}); there is nothing to unpin."
            )
            return
        if impact.after == impact.before:
            then = f"the rules keep it with {now}"
        else:
            then = f"the rules give it to {impact.after or 'nobody'}"
        echo(f"Would unpin {impact.account} (now: {now}; dry run: nothing saved): {then}.")
        _print_impact_lines(impact)
        return
    _print_link(_services().pin(account, pinned=not off), as_json, follows=off)


@main.command("push-plan")
@_store_options
@click.argument("rule", required=False)
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@_guard
def push_plan(rule: str | None, as_json: bool) -> None:
    """What the push rules (or RULE) would write now, per person and attribute; sends nothing."""
    services = _services()
    with working("Planning the pushes", as_json=as_json):
        data = services.push_plan(rule)
    rules = services.push_rules().rules if rule is not None else []
    off = any(r.name == rule and not r.enabled for r in rules)  # (the Push screen says it too)
    said = (
        f"push rule {rule!r} is off: a sync pushes nothing for it. Turn it on to plan it: "
        f"roster config set push_rules.{rule}.enabled true"
    )
    if as_json:  # a script reads the same as a person: "notes"
        _emit({**data.to_json(), "notes": [*data.notes, *([said] if off else [])]})
        return
    echo(f"Push plan (nothing is sent): {describe_counts(data.counts, 'nothing')}")
    if off:
        echo(f"  {said}")
    for name, items in data.rules.items():
        echo(f"{name}: {len(items)} accounts")
        for item in items:
            echo_line(f"  {item.account} ({item.user})")
            if item.error:
                echo_line(f"    ! not pushed: {item.error}")
                continue
            for target, change in item.changes.items():
                echo_line(f"    {target}: {value_text(change.old)} → {value_text(change.new)}")
    if data.without_account:
        echo(f"targeted but without an account ({len(data.without_account)}):")
        for entry in data.without_account:
            echo(f"  {entry}")
    for note in data.notes:
        echo(f"  note: {note}")
    for problem in data.problems:
        echo_item("  ! ", problem, err=True)


#: `--limit 0`: every item (more than any store holds)
ALL_OF_THEM = 2**62


@main.command("merge-matrix")
@_store_options
@click.argument("app", required=False)
@click.option(
    "--list",
    "kind",
    type=click.Choice(["ambiguous", "unmatched", "unowned"]),
    help="List the accounts behind a number instead of the counts.",
)
@click.option("--rule", help="With --list: what this rule found (a row of the matrix).")
@click.option(
    "--limit", type=Number(min=0), default=50, show_default=True,
    help="With --list: at most this many accounts (0: all of them).",
)  # fmt: skip
@click.option("--offset", type=Number(min=0), default=0, help="With --list: skip these.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@_guard
def merge_matrix(
    app: str | None, kind: str | None, rule: str | None, limit: int, offset: int, as_json: bool
) -> None:
    """What each merge rule and each ownership strategy finds now (for APP, or every app):
    matched, ambiguous, found nobody, decided by an earlier rule; owned and unowned. Nothing
    is changed."""
    if rule is not None and kind is None:
        raise click.UsageError("--rule narrows a list: add --list ambiguous|unmatched|unowned")
    services = _services()
    with working("Matching every account", as_json=as_json):
        if kind is not None:
            listing = services.matrix_accounts(
                kind, app, rule=rule, offset=offset, limit=limit or ALL_OF_THEM
            )
        else:
            matrix = services.merge_matrix(app)
    if kind is not None:
        if as_json:
            _emit(listing.as_dict())
            return
        _print_matrix_listing(listing, app, rule)
        return
    if as_json:
        _emit(matrix.as_dict())
        return
    _print_matrix(matrix)


def _print_matrix(matrix: Any) -> None:
    rules = [r.rule for d in matrix.directories for r in d.rules]
    width = max([len("merge rule"), *map(len, rules)]) + 2
    for directory in matrix.directories:
        echo(
            f"Directory {directory.app}: {_count(directory.considered, 'account')} considered"
            f" ({directory.pinned} pinned, {_count(directory.errors, 'filter error')})"
        )
        echo(f"  {'merge rule':<{width}}{'matched':>9}{'ambiguous':>11}{'nobody':>8}{'earlier':>9}")
        for r in directory.rules:
            echo(
                f"  {r.rule:<{width}}{r.matched:>9,}{r.ambiguous:>11,}"
                f"{r.unmatched:>8,}{r.decided_earlier:>9,}"
            )
    if matrix.apps:
        if matrix.directories:
            echo()
        width = max([len("app"), *(len(a.app) for a in matrix.apps)]) + 2
        echo(
            f"{'app':<{width}}{'ownership':<11}{'owned':>8}{'unowned':>9}"
            f"{'ambiguous':>11}{'pinned':>8}"
        )
        for a in matrix.apps:
            echo(
                f"{a.app:<{width}}{a.strategy:<11}{a.owned:>8,}{a.unowned:>9,}"
                f"{a.ambiguous:>11,}{a.pinned:>8,}"
            )
    if not matrix.directories and not matrix.apps:
        echo("No directories and no apps are configured.")
        return
    # each table's legend, and the lists its numbers can be opened with (others are refused)
    lists = []
    if matrix.directories:
        echo("matched: the first rule to find exactly one person; ambiguous: found several;")
        echo("nobody: found no one; earlier: an earlier rule decided.")
        lists.append("a directory's: --list unmatched|ambiguous [--rule NAME]")
    if matrix.apps:
        echo("owned: the rules (or an admin) found its person (pinned ones included);")
        echo("unowned: no one; ambiguous: several; pinned: linked by hand, left alone.")
        lists.append("an app's: --list unowned|ambiguous")
    echo("Nothing was changed. The accounts behind a number:")
    for line in lists:
        echo(f"  {line}")


def _print_matrix_listing(listing: Any, app: str | None, rule: str | None) -> None:
    where = "".join([f" in {app}" if app else "", f" by rule {rule!r}" if rule else ""])
    if not listing.total:
        echo(f"No {listing.kind} accounts{where}.")
        return
    first, last = listing.offset + 1, listing.offset + len(listing.rows)
    shown = f"{first}–{last} of {listing.total:,}" if listing.rows else f"{listing.total:,}"
    echo(f"{listing.kind.capitalize()} accounts{where} ({shown}):")
    width = min(40, max(len(r.key) for r in listing.rows) + 2) if listing.rows else 0
    for row in listing.rows:
        # an account's name, its id and the people a reason names are data: one line each,
        # cut, never a line break (a name holding one forged a line: hostile review)
        key, label = one_line(row.key, 200), one_line(row.label, 200)
        echo_line(f"  {key:<{width}}{label}")
        echo_line(f"  {'':<{width}}{one_line(row.reason, 1000)}")
    if last < listing.total:
        echo(f"… {listing.total - last:,} more: --offset {last}")


class _ProvisionGroup(click.Group):
    """`roster provision APP --user EMAIL` is short for `roster provision create APP ...`;
    `roster provision test APP FIELD --user EMAIL` tests one field."""

    def resolve_command(
        self, ctx: click.Context, args: list[str]
    ) -> tuple[str | None, click.Command | None, list[str]]:
        if args and args[0] not in self.commands and not args[0].startswith("-"):
            return "create", self.commands["create"], args
        return super().resolve_command(ctx, args)


@main.group(cls=_ProvisionGroup)
@_store_options
def provision() -> None:
    """Create an account in APP for one person, or test one provisioning field.

    \b
    roster provision APP --user EMAIL [--dry-run] [--json]
    roster provision test APP FIELD --user EMAIL [--json]
    roster provision check APP FIELD [--cel EXPR] [--json]
    roster provision queue [--json]
    """


def _shown_value(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, default=str)


def _print_plan_fields(fields: list[Any]) -> None:
    width = max((len(f.key) for f in fields), default=0)
    for item in fields:
        mark = "ok " if item.ok else "!! "
        value = "(not set)" if item.value is None else _shown_value(item.value)
        line = f"  {mark}{item.key:<{width}}  {value}  [{item.type}, {item.source}]"
        echo(line)
        if not item.ok:
            echo(f"       {item.reason}" + (f" ({item.hint})" if item.hint else ""))
        elif item.note:
            echo(f"       note: {item.note}")


@provision.command("queue")
@_store_options
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@_guard
def provision_queue(as_json: bool) -> None:
    """The accounts the next sync creates for approved access requests; creates nothing."""
    services = _services()
    with working("Working out the provisioning queue", as_json=as_json):
        data = services.provision_queue()
    if as_json:
        _emit(data.to_json())
        return
    echo(f"Provisioning queue (nothing is created): {describe_counts(data.counts, 'nothing')}")
    for item in data.ready:
        echo(f"  ready  {item.app} for {item.user} (request {item.request})")
    for problem in data.problems:
        echo(f"  !      {problem}")


@provision.command("create")
@_store_options
@click.argument("app")
@click.option("--user", "user_email", required=True, help="The person's email (or id).")
@click.option("--dry-run", is_flag=True, help="Plan and check every field; create nothing.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@_guard
def provision_create(app: str, user_email: str, dry_run: bool, as_json: bool) -> None:
    """Create an account in APP for the person with EMAIL and link it (exit 1 if refused)."""
    from engine.provision import ProvisionRefused

    services = _services()
    try:  # an email, or a person's id (engine.services.records.user_by_email)
        result = services.provision(app, user_email, dry_run=dry_run)
    except ProvisionRefused as exc:
        result = exc.result
    plan = result.plan
    if as_json:
        _emit(result.as_dict())
        sys.exit(0 if result.ok else 1)
    mode = " (dry run)" if dry_run else ""
    echo(f"Provision {plan.app_id} for {plan.user}{mode}")
    for problem in plan.problems:
        echo(f"  !! {problem}")
    _print_plan_fields(plan.fields)
    run = f" (run {result.run_id})" if result.run_id else ""
    if result.error:
        echo(f"Error: {result.error}{run}", err=True)
    elif not plan.ok:
        echo(
            f"Error: no account was created: {len(plan.reasons())} problem"
            f"{'s' if len(plan.reasons()) != 1 else ''}{run}.",
            err=True,
        )
    elif dry_run:
        echo(f"Dry run: every field is valid; nothing was created{run}.")
    else:
        echo(f"Created {plan.app_id}:{result.account}, linked to {plan.user}{run}.")
    sys.exit(0 if result.ok else 1)


@provision.command("test")
@_store_options
@click.argument("app")
@click.argument("field_key", metavar="FIELD")
@click.option("--user", "user_email", required=True, help="The person's email (or id).")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@_guard
def provision_test(app: str, field_key: str, user_email: str, as_json: bool) -> None:
    """Evaluate APP's provisioning FIELD for the person with EMAIL: value and type, or the error."""
    result = _services().provision_test(app, field_key, user_email)  # an email, or an id
    if as_json:
        _emit({"app": app, "user": user_email, **result.as_dict()})
        sys.exit(0 if result.ok else 1)
    required = ", required" if result.required else ""
    echo(f"{app}.{result.key} ({result.field_type}{required}) for {user_email}")
    if result.expression is not None:
        echo(f"expression: {result.expression.strip()}")
    echo(f"source: {result.source}")
    if result.ok:
        value = "(not set)" if result.value is None else _shown_value(result.value)
        echo(f"value:  {value}")
        echo(f"type:   {result.type}")
        if result.note:
            echo(f"note:   {result.note}")
    else:
        if result.value is not None:
            echo(f"value:  {_shown_value(result.value)}")
            echo(f"type:   {result.type}")
        where = f"line {result.line}, column {result.column}: " if result.line else ""
        echo(f"error: {where}{result.reason}", err=True)
        if result.hint:
            echo(f"hint: {result.hint}", err=True)
    sys.exit(0 if result.ok else 1)


@provision.command("check")
@_store_options
@click.argument("app")
@click.argument("field_key", metavar="FIELD")
@click.option("--cel", "text", default=None, help="Check this expression instead of the saved one.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@_guard
def provision_check(app: str, field_key: str, text: str | None, as_json: bool) -> None:
    """APP's provisioning FIELD over everyone who is not deleted: how many get a value that
    fits, an empty one, an invalid one or an error (exit 1 if anyone would get no account)."""
    check = _services().provision_check(app, field_key, text)
    if as_json:
        _emit(check.as_dict())
        clean = not (check.blocked or check.shared or check.taken)
        sys.exit(0 if check.compile_error is None and clean else 1)
    required = ", required" if check.required else ""
    echo(f"{check.app_id}.{check.key} ({check.field_type}{required}) over {check.total} people")
    if check.expression is not None and check.expression.strip():
        echo(f"expression: {check.expression.strip()}")
    error = check.compile_error
    if error is not None:
        where = f"line {error.line}, column {error.column}: " if error.line else ""
        echo(f"error: {where}{error.reason}", err=True)
        if error.hint:
            echo(f"hint: {error.hint}", err=True)
        sys.exit(1)
    echo("  ".join(f"{k} {v}" for k, v in check.counts.items()) + f"  (default {check.defaulted})")
    for outcome in ("error", "invalid", "empty"):
        for sample in check.samples.get(outcome, []):
            reason = f": {sample['reason']}" if sample["reason"] else ""
            echo(f"  {outcome:<7} {sample['person']}{reason}")
    # a unique field (an account's id): a value two people get, or one the app already has,
    # is refused by the app for all but one of them
    for count, samples, what in (
        (check.shared, check.shared_samples, "get a value someone else gets too"),
        (check.taken, check.taken_samples, f"get a value an account of {check.app_id} already has"),
    ):
        if count:
            who = f"{count:,} {'person' if count == 1 else 'people'}"
            echo(f"! {who} without an account there would {what}:")
            for sample in samples:
                echo_line(f"  {sample}")
    if check.note:
        echo(f"note: {check.note}", err=True)
    refused = [
        f"{check.blocked} would get no account in {check.app_id} "
        f"({check.blocked_without_account} of them have none there yet)"
        if check.blocked
        else "",
        f"{check.shared:,} would share a value and {check.taken:,} would get one an account "
        f"has, which {check.app_id} takes once (above)"
        if check.shared or check.taken
        else "",
    ]
    if any(refused):
        echo(f"Error: {'; '.join(r for r in refused if r)}.", err=True)
    sys.exit(1 if check.blocked or check.shared or check.taken else 0)


@main.group()
def config() -> None:
    """Export, validate and import the configuration as YAML."""


@config.command("export")
@_store_options
@click.argument("file", required=False, type=click.Path(dir_okay=False, path_type=Path))
@_guard
def config_export(file: Path | None) -> None:
    """Write the configuration as YAML to FILE (or standard output)."""
    if file is not None and not file.parent.is_dir():
        raise RosterError(
            f"Cannot write the configuration to {file}: the folder {file.parent} does not "
            "exist. Create it first, or give a file in an existing folder."
        )
    # relative file paths are read from the folder of the file imported: written from the
    # folder the export goes to, an export imported back unchanged names the same files (to
    # standard output they stay as stored, from the folder `roster status` names)
    text = _services().export_config(file.parent if file is not None else None)
    if file is None:
        # to a terminal, a bidi override or other invisible character in a value is shown as
        # its escape (YAML writes them raw: hostile review); to a file or a pipe, the text is
        # exact, so that it imports back
        on_terminal = sys.stdout.isatty()
        click.echo(printable(text, None) if on_terminal else text, nl=False)
    else:
        try:
            file.write_text(text, encoding="utf-8")
        except OSError as exc:
            raise RosterError(
                f"Cannot write the configuration to {file}: {exc.strerror or exc}. Check the "
                "folder's permissions and free space, or give another file."
            ) from exc
        echo(f"Wrote the configuration to {file}.", err=True)


def _read(file: Path) -> str:
    """A configuration file's text; a file that cannot be read or is not UTF-8 is a clear
    problem naming the line and column of the first bad byte."""
    from engine.config import read_config_file

    return read_config_file(file)


@config.command("validate")
@_store_options
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@_guard
def config_validate(file: Path, as_json: bool) -> None:
    """Check FILE and report every problem with its line and path (exit 1 on errors)."""
    text = _read(file)
    settings = _settings()
    if settings.store_exists():  # the store's data lets it warn about profile keys nobody has
        result = _services().validate_config(text, source=str(file), base_dir=file.parent)
    else:  # validating a file must not create a store
        from engine.config import validate_text

        result = validate_text(text, source=str(file), base_dir=file.parent)
    errors = [p for p in result.problems if p.severity == "error"]
    if as_json:
        _emit({"ok": not errors, "problems": [p.as_dict() for p in result.problems]})
    else:
        for problem in result.problems:
            echo(f"{problem.severity}: {file}: {problem}", err=True)
        echo(
            f"{file}: "
            + ("valid" if not errors else _count(len(errors), "error"))
            + (
                f", {_count(len(result.problems) - len(errors), 'warning')}"
                if len(result.problems) > len(errors)
                else ""
            )
        )
    sys.exit(1 if errors else 0)


@config.command("import")
@_store_options
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--dry-run", is_flag=True, help="Show the difference; change nothing.")
@click.option(
    "--allow-missing-files",
    is_flag=True,
    help="Import even when apps would read files that do not exist where the saved "
    "configuration's do (relative paths start from FILE's folder).",
)
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@_guard
def config_import(file: Path, dry_run: bool, allow_missing_files: bool, as_json: bool) -> None:
    """Replace the configuration with FILE (all or nothing)."""
    result = _services().import_config(
        _read(file),
        source=str(file),
        base_dir=file.parent,
        dry_run=dry_run,
        allow_missing_files=allow_missing_files,
    )
    if as_json:
        _emit(result.to_json())
        sys.exit(1 if result.refused else 0)
    for warning in result.warnings:
        echo(f"warning: {warning}", err=True)
    for change in result.changes:
        echo(f"  {change.describe()}")
    if not result.changes:
        echo("No differences against the current configuration.")
    if result.refused:  # as the import itself would say it, and fail
        echo(f"Dry run: the import would be refused: {result.refused}", err=True)
        sys.exit(1)
    echo(
        ("Imported" if result.applied else "Dry run: would import") + f" {file} "
        f"({len(result.changes)} changes)." + ("" if result.applied else " Nothing was changed.")
    )


@main.command()
@_store_options
@click.argument("run_id", required=False, type=Number(min=1))
@click.option(
    "--limit",
    type=Number(min=0),
    default=None,
    help="How many runs to list (50), or of one run's changes to show (200; with --json, "
    "all). 0 shows them all.",
)
@click.option("--applied", is_flag=True, help="List only runs that applied, no dry runs.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@_guard
def runs(run_id: int | None, limit: int | None, applied: bool, as_json: bool) -> None:
    """List runs, or show one run's counts and changes."""
    from engine.services import change_differences

    services = _services()
    if run_id is None:
        items = services.runs(limit=50 if limit is None else limit or None, applied_only=applied)
        if as_json:
            _emit([r.to_json() for r in items])
            return
        if items:
            # 80 columns with a short user name (`roster runs N` gives the seconds)
            echo(
                f"{'run':>5}  {'started':<16}  {'kind':<9} {'mode':<8} {'status':<21} "
                f"{'changes':>8}  by"
            )
        for run in items:
            changes = (run.counts or {}).get("changes")
            echo(
                f"{run.id:>5}  {run.started_at:%Y-%m-%d %H:%M}  {run.kind:<9} "
                f"{'dry run' if run.dry_run else 'apply':<8} {run.status:<21} "
                f"{f'{changes:,}' if isinstance(changes, int) else '—':>8}  {run.started_by}"
            )
        if not items:
            echo("No runs yet: `roster sync --dry-run` plans one.")
        return
    if limit is None:
        limit = 0 if as_json else 200
    if as_json:
        summary = services.run_summary(run_id)
        pushes = services.push_history(limit=100_000, run_id=run_id)
        writes = services.external_writes(run_id)
        _emit_streaming(
            # with --limit, each list holds the first ones: its total says how many more
            {**summary.to_json(), "total_changes": services.count_run_changes(run_id)},
            "changes",
            (c.to_json() for c in services.each_run_change(run_id, limit or None)),
            {
                "total_push_executions": len(pushes),
                "push_executions": [p.to_json() for p in (pushes[:limit] if limit else pushes)],
                "total_external_writes": len(writes),
                "external_writes": [w.to_json() for w in (writes[:limit] if limit else writes)],
            },
        )
        return
    summary = services.run_summary(run_id)
    pushes = services.push_history(limit=100_000, run_id=run_id)
    writes = services.external_writes(run_id)
    echo(
        f"Run {summary.id} ({summary.kind}, {'dry run' if summary.dry_run else 'apply'}): "
        f"{summary.status}, started {summary.started_at:%Y-%m-%d %H:%M:%S} by "
        f"{summary.started_by}"
    )
    if summary.plan_run is not None:
        echo(f"  the plan of run {summary.plan_run}, applied as it was planned")
    if summary.carried_out_by is not None:
        echo(f"  its plan was applied as it was planned by run {summary.carried_out_by}")
    if summary.settled is not None:
        echo(
            "  settled: a sync on the same data ends at once"
            if summary.settled
            else "  not settled: the next sync has more to do (the notes say what)"
        )
    if summary.error:
        echo(f"  error: {summary.error}")
    notes = summary.notes
    for stage, counts in summary.stage_counts.items():
        if counts:
            echo(f"  {stage:<11} {describe_counts(counts, '')}")
        for note in notes.get(stage, ()):  # under the stage, as `roster sync` prints them
            echo_item("    ", note)
    # bounded by --limit as the changes are: 200 push problems came before the first change
    for stage, problems in summary.problems.items():
        for problem in problems[:limit] if limit else problems:
            echo_item(f"  [{stage} problem] ", problem)
        if limit and len(problems) > limit:
            echo(
                f"  … and {_count(len(problems) - limit, f'more {stage} problem')}: "
                f"`roster runs {run_id} --limit 0` shows them all."
            )
    if any(summary.accounts.values()):
        echo(f"  accounts: {_accounts_line(summary.accounts)}")
    # what a killed run had written, as the next sync found it in the apps; bounded by
    # --limit as the changes are (456 of them were printed before the first change)
    recovered = [w for w in writes if w.recovered]
    for write in recovered[:limit] if limit else recovered:
        what = write.account or f"new {write.app} account"
        echo_line(
            f"  [{write.outcome}, read back by run {write.settled_by_run}] {write.kind} "
            f"{value_text(what)} ({value_text(write.user)}): {value_text(write.reason)}"
        )
    if limit and len(recovered) > limit:
        echo(
            f"  … and {_count(len(recovered) - limit, 'more write')} read back: "
            f"`roster runs {run_id} --limit 0` shows them all, `--json` too."
        )
    # a push the app took is among the changes below ([push]): only the refused are listed
    sent = [push for push in pushes if push.success]
    if sent:
        echo(f"  pushes: {_count(len(sent), 'account')} written to by the push rules")
    refused = [push for push in pushes if not push.success]
    for push in refused[:limit] if limit else refused:
        written = "; ".join(
            f"{k}: {value_text(v[0])} → {value_text(v[1])}" for k, v in push.changes.items()
        )
        echo_line(
            f"  [push {push.rule}] {push.account} ({push.user}) failed: "
            f"{value_text(push.reason)}: {written}"
        )
    if limit and len(refused) > limit:
        more = len(refused) - limit
        echo(
            f"  … and {more:,} more failed push{'' if more == 1 else 'es'}: "
            f"`roster runs {run_id} --limit 0` shows them all."
        )
    shown = 0
    for change in services.each_run_change(run_id, limit or None):  # as they are read
        shown += 1
        # two maps (an account's profile): only the keys that changed, as the console shows;
        # a map from nothing (a new person's attributes): each of its keys
        differences = change_differences(change.field or "record", change.old, change.new)
        written = "; ".join(
            f"{path}: {value_text(old)} → {value_text(new)}" for path, old, new in differences
        )
        applied = "" if change.applied or summary.dry_run else "  [not applied]"
        echo_line(f"  [{change.stage}] {change.object_id} {written}  ({change.reason}){applied}")
    if limit and shown == limit:
        more = services.count_run_changes(run_id) - limit
        if more > 0:
            echo(
                f"  … and {_count(more, 'more change')}: `roster runs {run_id} --limit 0` "
                "shows them all, `--json` too."
            )


@main.group()
def app() -> None:
    """Check an app's connection before the first sync."""


@app.command("test")
@_store_options
@click.argument("app_id", metavar="APP")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@_guard
def app_test(app_id: str, as_json: bool) -> None:
    """Connect to APP with its saved settings and show a few accounts and the fields found.

    Nothing is written. Exit 0 when the app answered, 1 when it did not (the message says why).
    """
    result = _services().app_test(app_id)
    if as_json:
        _emit(result.to_json())
        sys.exit(0 if result.ok else 1)
    where = f" ({result.server})" if result.server else ""
    echo(f"{result.app}: {result.kind} connector{where}, {result.elapsed:.2f} s")
    if not result.ok:
        echo(f"Error: {result.message}", err=True)
        sys.exit(1)
    echo(result.message)
    for account in result.accounts:
        name = account["display_name"] or account["username"] or account["email"]
        echo(f"  {account['external_id']}  {name}  {account['email']}  {account['status']}")
    if result.fields:
        echo(f"fields found: {', '.join(result.fields)}")


@main.command()
@_store_options
@click.option(
    "--host", default="127.0.0.1", show_default=True,
    help="Where to listen: this machine only, unless you name another address.",
)  # fmt: skip
@click.option("--port", type=Number(min=1, max=65535), default=8000, show_default=True)
@_guard
def serve(host: str, port: int) -> None:
    """The console in a browser (textual-serve), bound to this machine.

    Prints a link with a secret token: the server answers only a browser that brings it, and
    every browser session is the console as you (your OS user and role). From elsewhere, open
    an SSH tunnel (ssh -L 8000:127.0.0.1:8000 HOST) and the printed link. Ctrl+C stops it.
    """
    from console.serve import check_free, console_command, loopback, make_server, new_token

    services = _services()  # the store exists and is yours to open (else: why not, now)
    settings = _settings()
    store = (
        ["--database-url", settings.database_url]
        if settings.database_url
        else ["--db", str((settings.db_path or services.db.sqlite_path).resolve())]
    )
    check_free(host, port)
    token = new_token()
    server = make_server(console_command(store), host, port, token)
    shown = f"[{host}]" if ":" in host else host
    echo(f"Serving the Roster console for {services.actor} ({services.role()}) on {shown}:{port}.")
    if host in ("0.0.0.0", "::"):  # every address of this machine: name one to open
        echo(f"Open: http://THIS-HOST:{port}/?token={token} (THIS-HOST: this machine's name)")
    else:
        echo(f"Open: http://{shown}:{port}/?token={token}")
    if loopback(host):
        echo("Only this machine can connect; from elsewhere, tunnel over SSH:")
        echo(f"  ssh -L {port}:127.0.0.1:{port} THIS-HOST, then open the link above.")
    else:
        echo(
            f"Warning: {host} may be reachable from other machines, over plain HTTP: anyone "
            "who sees the link acts as you.",
            err=True,
        )
    echo("Anyone with the link acts as you. Ctrl+C stops the server.")
    try:
        server.serve()
    except OSError as exc:  # taken between the check and now
        raise RosterError(f"Cannot listen on {shown}:{port}: {exc.strerror or exc}.") from None


# The object-path commands (`config get|set|delete|move|enable|disable|edit`, `audit`) live in
# their own module; importing it registers them on `config` and `main`. So do `status` and
# `people show`, `users` (roles) and `backup`.
from console import cli_edit, cli_people, cli_roles, cli_store  # noqa: E402, F401

if __name__ == "__main__":  # pragma: no cover
    main()
