"""Issue 12 §5: credentials in connector settings are refused without echoing them; the actor of
runs and audit events is the OS user, not USER/LOGNAME; the store and its folder are their
owner's alone, and a store readable by others gets a warning with the command that fixes it."""

from __future__ import annotations

import copy
import json
import os
import pwd
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner

from console.cli import main
from engine.services import open_services
from engine.store.db import default_db_path
from tests.engine.org import CONFIG, write_org

PASSWORD = "Hunter2-very-secret"
GITHUB_TOKEN = "ghp_" + "Ab3" * 12


def cli(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(main, list(args))
    return result.exit_code, result.stdout, result.stderr


def store(tmp_path: Path) -> tuple[Path, Path]:
    db = tmp_path / "roster.db"
    config = write_org(tmp_path / "org")
    assert cli("init", "--empty", "--db", str(db))[0] == 0
    assert cli("config", "import", str(config), "--db", str(db))[0] == 0
    return db, config


@pytest.mark.parametrize(
    ("key", "value", "words"),
    [
        ("base_url", f"https://admin:{PASSWORD}@ldap.example.com/", "a URL with a user name"),
        ("server", f"ldaps://cn=admin:{PASSWORD}@ldap.example.com", "a URL with a user name"),
        ("auth", GITHUB_TOKEN, "a GitHub token"),
        ("header", f"Bearer {PASSWORD}", "an authorization header"),
    ],
)
def test_a_credential_in_a_setting_is_refused_and_never_echoed(
    tmp_path: Path, key: str, value: str, words: str
) -> None:
    db, path = store(tmp_path)
    config = copy.deepcopy(CONFIG)
    config["apps"][1]["settings"][key] = value
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    secret = value.split(":")[-1].split("@")[0] if "@" in value else value.split()[-1]
    for args in (["config", "validate"], ["config", "import"]):
        code, out, err = cli(*args, str(path), "--db", str(db))
        assert code == 1, (args, out, err)
        assert f"apps[1].settings.{key}" in out + err
        assert f"app `idp`: `{key}` holds {words}" in out + err
        assert secret not in out + err and value not in out + err
    code, out, err = cli(
        "config", "set", f"apps.idp.settings.{key}", json.dumps(value), "--db", str(db)
    )
    assert code == 1, out + err
    assert f"`{key}` holds {words}" in out + err and secret not in out + err
    # nothing of it reached the store: not the configuration, not the audit log
    assert secret not in cli("config", "export", "--db", str(db))[1]
    assert secret not in cli("audit", "--json", "--db", str(db))[1]


def test_ordinary_urls_and_paths_are_not_credentials(tmp_path: Path) -> None:
    db, path = store(tmp_path)
    config = copy.deepcopy(CONFIG)
    config["apps"][1]["settings"]["homepage"] = "https://idp.example.com/admin?user=x"
    config["apps"][1]["settings"]["password_env"] = "IDP_PASSWORD"
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    code, out, err = cli("config", "validate", str(path), "--db", str(db))
    assert "credential" not in out + err and "user name or password" not in out + err


def test_the_actor_is_the_os_user_not_the_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    db, _ = store(tmp_path)
    me = pwd.getpwuid(os.getuid()).pw_name
    for name in ("USER", "LOGNAME", "LNAME", "USERNAME"):
        monkeypatch.setenv(name, "mallory")
    assert cli("sync", "--db", str(db))[0] == 0
    assert cli("config", "set", "directories.hr.filter", '"CREATE"', "--db", str(db))[0] == 0
    assert cli("link", "github:g1", "ann.lee@example.com", "--db", str(db))[0] == 0
    (run,) = json.loads(cli("runs", "--json", "--db", str(db))[1])
    assert run["started_by"] == me
    audit = json.loads(cli("audit", "--json", "--db", str(db))[1])
    assert audit and {entry["actor"] for entry in audit} == {me}


@pytest.fixture
def usual_umask() -> Iterator[None]:
    old = os.umask(0o022)  # files 0644 unless created otherwise
    yield
    os.umask(old)


@pytest.mark.usefixtures("usual_umask")
def test_a_new_store_and_its_folder_are_the_owners_alone(tmp_path: Path) -> None:
    db = tmp_path / "new" / "folder" / "roster.db"
    assert cli("init", "--empty", "--db", str(db))[0] == 0
    assert stat.S_IMODE(db.stat().st_mode) == 0o600
    assert stat.S_IMODE(db.parent.stat().st_mode) == 0o700
    # the default store (HOME is the test's own, see conftest)
    code, out, err = cli("init", "--empty")
    assert code == 0, out + err
    default = default_db_path()
    assert stat.S_IMODE(default.stat().st_mode) == 0o600
    assert stat.S_IMODE(default.parent.stat().st_mode) == 0o700
    assert "Warning" not in err


def test_a_store_readable_by_others_gets_a_warning_with_the_fix(tmp_path: Path) -> None:
    code, _, _ = cli("init", "--empty")
    assert code == 0
    default = default_db_path()
    default.chmod(0o644)
    default.parent.chmod(0o755)
    code, out, err = cli("runs")
    assert code == 0
    assert f"Warning: The identity store {default} can be read by other users (-rw-r--r--" in err
    assert f"chmod 600 {default}" in err and f"chmod 700 {default.parent}" in err
    dashboard = open_services(db_path=default).dashboard()
    assert dashboard.warnings[0].startswith(f"The identity store {default} can be read")
    os.system(err.split("yours alone: ", 1)[1].strip())  # the command it gives fixes it
    code, out, err = cli("runs")
    assert "Warning" not in err
    assert not any("can be read" in w for w in open_services(db_path=default).dashboard().warnings)


def test_json_output_keeps_stderr_for_its_error_only(tmp_path: Path) -> None:
    assert cli("init", "--empty")[0] == 0
    default_db_path().chmod(0o644)
    code, out, err = cli("runs", "--json")
    assert code == 0 and json.loads(out) == [] and err == ""
    code, out, err = cli("runs", "99", "--json")
    assert code == 1 and json.loads(err)["ok"] is False


def test_a_team_store_shared_through_its_group_is_not_warned_about(tmp_path: Path) -> None:
    """docs/roles.md keeps a team's store readable by its group: only users outside the group
    are warned about, with a fix that keeps the group's access (newcomer review: the advice
    `chmod 600` would have locked the team out)."""
    db = tmp_path / "team.db"
    assert cli("init", "--empty", "--db", str(db))[0] == 0
    db.chmod(0o660)
    assert "Warning" not in cli("runs", "--db", str(db))[2]
    db.chmod(0o664)
    err = cli("runs", "--db", str(db))[2]
    assert "can be read by users outside its group (-rw-rw-r--); it holds" in err
    os.system(err.split("its group: ", 1)[1].strip())  # the command it gives fixes it
    assert stat.S_IMODE(db.stat().st_mode) == 0o660
    assert "Warning" not in cli("runs", "--db", str(db))[2]


def test_a_secret_file_that_is_a_pipe_is_refused_at_once(tmp_path: Path) -> None:
    """A named pipe passed the mode and size checks and was then waited on for ever: `app
    test` and the sync hung, the sync with its lock held (hostile review)."""
    import os
    import time

    from engine.connectors.secrets import read_secret
    from engine.errors import ConnectorError

    pipe = tmp_path / "pw.fifo"
    os.mkfifo(pipe, 0o600)
    started = time.monotonic()
    with pytest.raises(ConnectorError) as refused:
        read_secret("ld", {"password_file": str(pipe)}, "password", tmp_path)
    assert time.monotonic() - started < 5
    assert "a named pipe (FIFO), not a regular file" in refused.value.message
    assert "Put the password alone in a regular file (chmod 600)" in refused.value.message
    plain = tmp_path / "pw"
    plain.write_text("s3cret\n")
    plain.chmod(0o600)
    assert read_secret("ld", {"password_file": str(plain)}, "password", tmp_path) == "s3cret"


def test_a_file_that_is_not_a_store_is_refused_and_left_as_it_was(tmp_path: Path) -> None:
    """Another program's database: `init` wrote Roster's tables beside its own (after `status`
    advised it); a file that is not SQLite gave SQLAlchemy's text; `status` on an empty file
    turned it into a database while saying nothing was created (hostile review)."""
    import os
    import sqlite3
    from contextlib import closing

    from click.testing import CliRunner

    from console.cli import main

    runner = CliRunner()
    other = tmp_path / "grafana.db"
    with closing(sqlite3.connect(other)) as connection, connection:
        connection.execute("CREATE TABLE dashboard (x)")
    before = other.read_bytes()
    for command in (["status"], ["init", "--empty"], ["init", "--sample"]):
        result = runner.invoke(main, [*command, "--db", str(other)])
        assert result.exit_code == 1, result.output
        assert "is not an identity store: it holds another program's database" in result.stderr
        assert "(tables dashboard)" in result.stderr and "roster init" not in result.stderr
    assert other.read_bytes() == before
    # many programs migrate with alembic too: its table alone does not make a store
    migrated = tmp_path / "app.db"
    with closing(sqlite3.connect(migrated)) as connection, connection:
        connection.execute("CREATE TABLE users (x)")
        connection.execute("CREATE TABLE alembic_version (version_num VARCHAR(32) NOT NULL)")
        connection.execute("INSERT INTO alembic_version VALUES ('abc123def')")
    before = migrated.read_bytes()
    for command in (["status"], ["init", "--empty"]):
        result = runner.invoke(main, [*command, "--db", str(migrated)])
        assert result.exit_code == 1, result.output
        assert "it holds another program's database (tables alembic_version, users)" in (
            result.stderr
        )
    assert migrated.read_bytes() == before
    pipe = tmp_path / "pipe.db"
    os.mkfifo(pipe)
    result = runner.invoke(main, ["status", "--db", str(pipe)])
    assert result.exit_code == 1 and "is a named pipe (FIFO), not an identity store" in (
        result.stderr
    )

    text = tmp_path / "notes.db"
    text.write_text("hello\n")
    result = runner.invoke(main, ["status", "--db", str(text)])
    assert result.exit_code == 1
    assert "is not an identity store: it is not a SQLite database at all" in result.stderr
    assert "sqlalche" not in result.stderr and text.read_text() == "hello\n"

    empty = tmp_path / "empty.db"
    empty.touch()
    result = runner.invoke(main, ["status", "--db", str(empty)])
    assert result.exit_code == 1 and "No identity store at" in result.stderr
    assert empty.stat().st_size == 0  # read, not written
    # an empty file is a new store's place: init takes it
    assert runner.invoke(main, ["init", "--empty", "--db", str(empty)]).exit_code == 0


def test_a_store_that_cannot_be_written_says_what_to_make_writable() -> None:
    from engine.store.location import refused_error

    error = refused_error("/srv/r.db", "OperationalError: attempt to write a readonly database")
    assert "cannot be written" in error.message and "folder" in error.message
    assert "writable by the user running Roster" in error.message


def test_a_file_limit_that_is_not_a_size_is_named_and_the_default_used(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """0 or -1 refused every changed app as over a limit of 1,048 bytes, and "abc" was taken
    as the default without a word (hostile review)."""
    from engine.files import DEFAULT_MAX_APP_FILE_MB, app_file_limit, limit_problems
    from engine.services import open_services
    from engine.setup import demo_folder_for

    for value in ("0", "-1", "abc", "nan"):
        monkeypatch.setenv("ROSTER_MAX_APP_FILE_MB", value)
        assert app_file_limit() == DEFAULT_MAX_APP_FILE_MB * 1024 * 1024
        (problem,) = limit_problems()
        assert f"ROSTER_MAX_APP_FILE_MB is {value!r}, not a number of megabytes" in problem
    monkeypatch.setenv("ROSTER_MAX_APP_FILE_MB", "0.5")
    assert app_file_limit() == 512 * 1024 and limit_problems() == []

    monkeypatch.setenv("ROSTER_MAX_APP_FILE_MB", "0")
    services = open_services(db_path=tmp_path / "r.db", init="sample")
    hr = demo_folder_for(services.db) / "apps" / "hr.yaml"
    hr.write_text(hr.read_text().replace("Software Engineer", "Software Person", 1))
    result = services.sync()
    assert result.status == "applied", result.error
    assert any("ROSTER_MAX_APP_FILE_MB is '0'" in note for note in result.stages[0].notes)


def test_each_server_store_has_a_demo_folder_of_its_own(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Every PostgreSQL demo shared one folder, and a second `init` replaced the first store's
    app files (a newcomer's review). The folder names the database, never the password."""
    from engine.setup import demo_folder_for
    from engine.store.db import Database

    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path))
    one = demo_folder_for(Database("postgresql+psycopg://team:s3cret@db.example:5432/roster"))
    two = demo_folder_for(Database("postgresql+psycopg://team:s3cret@db.example:5432/weird db"))
    other = demo_folder_for(Database("postgresql+psycopg://team:s3cret@db2.example:5432/roster"))
    assert len({one, two, other}) == 3
    assert one.parent == tmp_path / "roster" and one.name.startswith("demo-roster-")
    assert two.name.startswith("demo-weird_db-")
    assert not any("s3cret" in str(folder) for folder in (one, two, other))
    # the same store, the same folder (the password is no part of it)
    again = demo_folder_for(Database("postgresql+psycopg://team:other@db.example:5432/roster"))
    assert again == one


def test_a_url_that_cannot_be_read_never_shows_its_password() -> None:
    """A password holding "@" or "/" (not percent-encoded) showed past its first character
    (a newcomer's review). Everything between the user and the host is hidden, and the
    message says to percent-encode."""
    from engine.errors import StoreError
    from engine.store.db import Database

    with pytest.raises(StoreError) as refused:
        Database("postgresql+psycopg://weird:p@ss:w/rd#%?&x@127.0.0.1:5999/weirddb")
    message = refused.value.message
    assert "'postgresql+psycopg://weird:***@127.0.0.1:5999/weirddb'" in message
    assert "ss:w" not in message and "rd#" not in message
    assert "percent-encoded: @ as %40" in message


def test_a_secret_file_may_be_shared_with_the_team_s_group_only(tmp_path: Path) -> None:
    """An operator syncs with the bind password too (docs/roles.md): a file the team's group
    reads (640) is taken; one the group may change, or anyone may read, is refused with the
    chmod that fixes it (640 was refused, and its advice, 600, locked the operator out)."""
    from engine.connectors.secrets import read_secret
    from engine.errors import ConnectorError

    secret = tmp_path / "pw"
    secret.write_text("s3cret\n")
    secret.chmod(0o640)
    assert read_secret("ld", {"password_file": str(secret)}, "password", tmp_path) == "s3cret"
    for mode, says in ((0o660, "changed by its group"), (0o644, "read by other users")):
        secret.chmod(mode)
        with pytest.raises(ConnectorError) as refused:
            read_secret("ld", {"password_file": str(secret)}, "password", tmp_path)
        assert f"can be {says} (mode {mode:o})" in refused.value.message
        assert f"chmod 640 {secret}" in refused.value.message
        assert "s3cret" not in refused.value.message


def test_a_command_to_copy_never_holds_a_masked_password() -> None:
    """A suggested command held the URL with `***` for its password, which fails to sign in
    when pasted (a newcomer's review): it names the variable instead."""
    from console.settings import Settings
    from engine.services.facade import store_url_option
    from engine.store.db import Database

    with_password = "postgresql+psycopg://team:s3cret@db.example/roster"
    assert store_url_option(Database(with_password)) == '--database-url "$ROSTER_DATABASE_URL"'
    assert Settings(database_url=with_password).init_command() == (
        'roster init --database-url "$ROSTER_DATABASE_URL"'
    )
    plain = "postgresql+psycopg://team@db.example/roster"
    assert store_url_option(Database(plain)) == f"--database-url {plain}"


def test_a_server_store_that_cannot_be_reached_says_what_to_check() -> None:
    """The raw SQLAlchemy text ("Background on this error at: https://sqlalche.me/…"), and
    "Can't load plugin" for postgres:// (a newcomer's review)."""
    import socket

    from engine.errors import StoreError
    from engine.store.db import Database

    with socket.socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    with pytest.raises(StoreError) as refused:
        Database(f"postgresql+psycopg://team:s3cret@127.0.0.1:{port}/roster").exists()
    message = refused.value.message
    assert "Check that the server is running" in message and "sqlalche.me" not in message
    assert "s3cret" not in message
    with pytest.raises(StoreError) as unknown:
        Database("postgres://team@127.0.0.1/roster").exists()
    assert "Roster does not know the URL's kind 'postgres'" in unknown.value.message
    assert "postgresql+psycopg://" in unknown.value.message
