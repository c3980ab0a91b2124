"""The LDAP connector against a real OpenLDAP server (tests/ldap_server.py): import with the
OpenLDAP and Active Directory attribute maps, paged import beyond the server's size limit,
delta import, push, refused pushes with their LDAP result codes, provisioning, and the
connection failures an admin meets (wrong password, unreachable, timeout, TLS).

Without slapd this fails in CI (CI=true) and is skipped only on a developer's machine."""

from __future__ import annotations

import base64
import os
import time
import uuid
from pathlib import Path
from typing import Any

import ldap3
import pytest

from engine.connectors.base import ConnectorSpec
from engine.connectors.ldap.connector import LdapConnector
from engine.connectors.registry import describe
from engine.errors import ConnectorError
from tests.engine.ldap_directory import (
    MANY,
    ad_person,
    app_settings,
    openldap_person,
)
from tests.ldap_server import SIZE_LIMIT, TITLE_LIMIT, LdapServer, free_port, silent_server

# the slapd, ou and bind_password fixtures
pytest_plugins = ("tests.engine.ldap_directory",)


def connector(settings: dict[str, Any], app_id: str = "dir") -> LdapConnector:
    return LdapConnector(ConnectorSpec(app_id, "ldap", settings, Path("/tmp")))


def read(slapd: LdapServer, dn: str, *attributes: str) -> dict[str, list[Any]]:
    admin = slapd.admin()
    try:
        admin.search(dn, "(objectClass=*)", search_scope=ldap3.BASE, attributes=list(attributes))
        return {k: list(v) for k, v in admin.response[0]["raw_attributes"].items() if v}
    finally:
        admin.unbind()


def test_imports_openldap_people_with_the_flavours_map(
    slapd: LdapServer, ou: str, bind_password: str
) -> None:
    boss_dn, boss = openldap_person(ou, "bo", "Bo Chen", employeeNumber="E2")
    ann_dn, ann = openldap_person(
        ou, "ann", "Ann Lee", employeeNumber="E1", title="Engineer", manager=boss_dn
    )
    slapd.add_entries([(boss_dn, boss), (ann_dn, ann)])
    listing = connector(app_settings(slapd, ou, bind_password)).list_all()

    by_name = {a.username: a for a in listing.accounts}
    assert sorted(by_name) == ["ann", "bo"]
    first = by_name["ann"]
    uuid.UUID(first.external_id)  # entryUUID
    assert (first.display_name, first.given_name, first.family_name) == ("Ann Lee", "Ann", "Lee")
    assert (first.email, first.emails) == ("ann@example.com", ["ann@example.com"])
    assert first.employee_ids == ["E1"]
    assert first.status == "ENABLED"
    assert first.manager == "bo@example.com"  # the manager's DN resolved to its email
    assert first.profile["manager_dn"] == boss_dn
    assert first.profile["title"] == "Engineer"
    assert first.profile["dn"] == ann_dn
    assert "userPassword" not in first.profile  # never read
    assert listing.complete and listing.cursor  # a full listing, and where a delta starts


def test_imports_active_directory_people_with_the_flavours_map(
    slapd: LdapServer, ou: str, bind_password: str
) -> None:
    guid = uuid.UUID("12345678-1234-5678-9abc-def012345678")
    ann_dn, ann = ad_person(
        ou, "alee", "Ann Lee", guid=guid, employeeID="E1", extensionAttribute1="badge 7"
    )
    gone_dn, gone = ad_person(ou, "gone", "Old Timer", userAccountControl="514")
    slapd.add_entries([(ann_dn, ann), (gone_dn, gone)])
    settings = app_settings(slapd, ou, bind_password, flavour="active_directory")
    listing = connector(settings).list_all()

    by_name = {a.username: a for a in listing.accounts}
    first = by_name["alee"]
    assert first.external_id == str(guid)  # objectGUID as AD shows it
    assert first.usernames == ["alee", "alee@corp.example.com"]
    assert first.emails == ["alee@example.com", "alee@old.example.com"]  # smtp only, no X400
    assert first.employee_ids == ["E1"]
    assert first.status == "ENABLED"
    assert by_name["gone"].status == "DISABLED"  # userAccountControl 514: ACCOUNTDISABLE
    assert first.profile["extensionAttribute1"] == "badge 7"  # unknown to the map: profile
    assert first.profile["whenChanged"] == "20240501120000.0Z"
    assert first.profile["proxyAddresses"][0] == "SMTP:alee@example.com"


def test_a_paged_import_reads_more_than_the_servers_size_limit(
    slapd: LdapServer, bind_password: str
) -> None:
    base = f"ou=Many,{slapd.suffix}"
    # the limit is real: one unpaged search as the service account stops at it
    plain = ldap3.Connection(
        ldap3.Server("127.0.0.1", port=slapd.port, get_info=ldap3.NONE),
        slapd.bind_dn,
        slapd.password,
        auto_bind=True,
    )
    plain.search(base, "(objectClass=inetOrgPerson)", attributes=["uid"])
    assert plain.result["description"] == "sizeLimitExceeded"
    assert len(plain.response) == SIZE_LIMIT
    plain.unbind()

    listing = connector(app_settings(slapd, base, bind_password, page_size=200)).list_all()
    assert len(listing.accounts) == MANY > SIZE_LIMIT
    assert len({a.external_id for a in listing.accounts}) == MANY
    assert {a.username for a in listing.accounts} == {f"p{n:06d}" for n in range(MANY)}


def test_a_delta_import_lists_only_what_changed_since_the_cursor(
    slapd: LdapServer, ou: str, bind_password: str
) -> None:
    old_dn, old = openldap_person(ou, "old", "Old Entry")
    slapd.add_entries([(old_dn, old)])
    time.sleep(1.1)  # modifyTimestamp has whole seconds
    new_dn, new = openldap_person(ou, "new", "New Entry")
    slapd.add_entries([(new_dn, new)])
    app = connector(app_settings(slapd, ou, bind_password))
    full = app.list_all()
    assert {a.username for a in full.accounts} == {"old", "new"}

    time.sleep(1.1)
    admin = slapd.admin()
    admin.modify(new_dn, {"title": [(ldap3.MODIFY_REPLACE, ["Changed"])]})
    admin.unbind()
    delta = app.list_changes(full.cursor)
    assert not delta.complete
    # "old" changed before the last import's newest timestamp: not listed again
    assert [(a.username, a.profile.get("title")) for a in delta.accounts] == [("new", "Changed")]
    assert delta.cursor != full.cursor

    # a complete listing is due: full_import_hours 0 means every import is complete
    always_full = connector(app_settings(slapd, ou, bind_password, full_import_hours=0))
    assert always_full.list_changes(full.cursor).complete
    # delta imports switched off: complete, no cursor
    no_delta = connector(app_settings(slapd, ou, bind_password, delta=False)).list_all()
    assert no_delta.complete and no_delta.cursor == ""
    # a cursor from another base DN or filter is not trusted
    other = connector(app_settings(slapd, ou, bind_password, user_filter="(uid=*)"))
    assert other.list_changes(full.cursor).complete


def test_push_modifies_only_the_changed_attributes(
    slapd: LdapServer, ou: str, bind_password: str
) -> None:
    boss_dn, boss = openldap_person(ou, "bo", "Bo Chen")
    ann_dn, ann = openldap_person(ou, "ann", "Ann Lee", title="Engineer", telephoneNumber="+1 1")
    slapd.add_entries([(boss_dn, boss), (ann_dn, ann)])
    app = connector(app_settings(slapd, ou, bind_password))
    ann_id = next(a.external_id for a in app.list_all().accounts if a.username == "ann")

    refused = app.update_accounts(
        {ann_id: {"title": "Staff Engineer", "manager": "bo@example.com", "mobile": ""}}
    )
    assert refused == {}
    entry = read(slapd, ann_dn, "title", "manager", "telephoneNumber", "mobile")
    assert entry["title"] == [b"Staff Engineer"]
    assert entry["manager"] == [boss_dn.encode()]  # the email looked up, the DN written
    assert entry["telephoneNumber"] == [b"+1 1"]  # not in the push: untouched
    assert "mobile" not in entry
    again = {a.username: a for a in app.list_all().accounts}["ann"]
    assert again.profile["title"] == "Staff Engineer"
    assert again.profile["manager"] == "bo@example.com"  # as pushed: the next plan is quiet


def test_refused_pushes_come_back_per_person_with_the_ldap_result_code(
    slapd: LdapServer, bind_password: str
) -> None:
    protected = f"ou=Protected,{slapd.suffix}"
    guarded_dn, guarded = openldap_person(protected, f"g{uuid.uuid4().hex[:6]}", "Guarded One")
    slapd.add_entries([(guarded_dn, guarded)])
    base = slapd.suffix  # sees ou=Protected and the rest
    fine_dn, fine = openldap_person(f"ou=Service,{base}", f"f{uuid.uuid4().hex[:6]}", "Fine One")
    long_dn, long = openldap_person(f"ou=Service,{base}", f"l{uuid.uuid4().hex[:6]}", "Long One")
    slapd.add_entries([(fine_dn, fine), (long_dn, long)])
    app = connector(
        app_settings(slapd, base, bind_password, user_filter="(objectClass=inetOrgPerson)")
    )
    ids = {a.profile["dn"]: a.external_id for a in app.list_all().accounts}

    too_long = "T" * (TITLE_LIMIT + 1)  # within Roster's schema (128), beyond the server's
    refused = app.update_accounts(
        {
            ids[guarded_dn]: {"title": "Boss"},
            ids[long_dn]: {"title": too_long},
            ids[fine_dn]: {"title": "Fine"},
            "no-such-id": {"title": "x"},
        }
    )
    assert "insufficientAccessRights (LDAP result 50)" in refused[ids[guarded_dn]].message
    assert "constraintViolation (LDAP result 19)" in refused[ids[long_dn]].message
    assert "no entry with entryUUID 'no-such-id'" in refused["no-such-id"].message
    assert ids[fine_dn] not in refused
    assert read(slapd, fine_dn, "title")["title"] == [b"Fine"]
    assert "title" not in read(slapd, guarded_dn, "title")


def test_push_values_are_checked_against_the_push_schema_first(
    slapd: LdapServer, ou: str, bind_password: str
) -> None:
    dn, person = openldap_person(ou, "ann", "Ann Lee")
    slapd.add_entries([(dn, person)])
    app = connector(app_settings(slapd, ou, bind_password, custom_push_attributes=False))
    ann_id = app.list_all().accounts[0].external_id
    refused = app.update_accounts({ann_id: {"title": "x" * 129, "nonsense": "y"}})
    message = refused[ann_id].message
    assert "title: 129 characters long; at most 128 are allowed" in message
    assert "'nonsense' is not an attribute this app accepts" in message
    assert "title" not in read(slapd, dn, "title")  # all or nothing for the person


def test_provisioning_adds_an_entry_under_the_configured_ou(
    slapd: LdapServer, ou: str, bind_password: str
) -> None:
    boss_dn, boss = openldap_person(ou, "bo", "Bo Chen")
    slapd.add_entries([(boss_dn, boss), (f"ou=New,{ou}", {"objectClass": ["organizationalUnit"]})])
    app = connector(app_settings(slapd, ou, bind_password, create_ou=f"ou=New,{ou}"))
    created = app.create_account(
        {"uid": "nina", "cn": "Nina Out", "sn": "Out", "mail": "nina@example.com",
         "manager": "bo@example.com", "title": "Consultant"}
    )  # fmt: skip
    assert created.username == "nina"
    uuid.UUID(created.external_id)  # the server's entryUUID, as an import lists it
    assert created.manager == "bo@example.com"
    entry = read(slapd, f"uid=nina,ou=New,{ou}", "cn", "mail", "manager", "title")
    assert entry["manager"] == [boss_dn.encode()]
    assert entry["title"] == [b"Consultant"]
    assert created.external_id in {a.external_id for a in app.list_all().accounts}

    with pytest.raises(ConnectorError) as taken:
        app.create_account({"uid": "nina", "cn": "Nina Again", "sn": "Again"})
    assert "entryAlreadyExists (LDAP result 68)" in taken.value.message
    assert "Nothing was created" in taken.value.message
    with pytest.raises(ConnectorError) as missing_field:
        app.create_account({"uid": "x"})
    assert "cn is required" in missing_field.value.message


def test_active_directory_provisioning_sets_user_account_control_and_the_password_over_ldaps(
    slapd: LdapServer, ou: str, bind_password: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AD_INITIAL_PASSWORD", "Initial-Pa55-0731")
    settings = app_settings(
        slapd, ou, bind_password, flavour="active_directory",
        url=slapd.ldaps_url, ca_file=slapd.ca_file, initial_password_env="AD_INITIAL_PASSWORD",
        # the test server cannot mint objectGUIDs as AD does; entryUUID stands in for the id
        attributes={"id": "entryUUID"},
    )  # fmt: skip
    app = connector(settings)
    fields = {
        "sAMAccountName": "nina",
        "userPrincipalName": "nina@corp.example.com",
        "displayName": "Nina Out",
        "sn": "Out",
        "enabled": False,
    }
    created = app.create_account(fields)
    assert (created.username, created.status) == ("nina", "DISABLED")
    assert created.usernames == ["nina", "nina@corp.example.com"]
    entry = read(slapd, f"cn=Nina Out,{ou}", "userAccountControl", "unicodePwd", "pwdLastSet")
    assert entry["userAccountControl"] == [b"514"]
    assert entry["unicodePwd"] == ['"Initial-Pa55-0731"'.encode("utf-16-le")]
    assert entry["pwdLastSet"] == [b"0"]  # the password must be changed at the first logon

    plain = connector({**settings, "url": slapd.url, "ca_file": None})
    with pytest.raises(ConnectorError) as refused:
        plain.create_account({**fields, "sAMAccountName": "other", "displayName": "Other One"})
    assert "only over an encrypted connection" in refused.value.message
    assert "Initial-Pa55" not in refused.value.message
    assert "Other One" not in str(slapd_dns(slapd, ou))


def slapd_dns(slapd: LdapServer, base: str) -> list[str]:
    admin = slapd.admin()
    try:
        admin.search(base, "(objectClass=*)", attributes=[])
        return [item["dn"] for item in admin.response]
    finally:
        admin.unbind()


def test_a_wrong_password_says_so(
    slapd: LdapServer, ou: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("WRONG_PASSWORD", "not-the-password-42")
    with pytest.raises(ConnectorError) as failed:
        connector(app_settings(slapd, ou, "WRONG_PASSWORD")).list_all()
    message = failed.value.message
    assert "invalid credentials (LDAP result 49)" in message
    assert "WRONG_PASSWORD (password_env)" in message
    assert "not-the-password-42" not in message


def test_an_unreachable_server_says_so(ou: str, bind_password: str, slapd: LdapServer) -> None:
    url = f"ldap://127.0.0.1:{free_port()}"
    settings = app_settings(slapd, ou, bind_password, url=url, timeout=8, retries=2)
    started = time.monotonic()
    with pytest.raises(ConnectorError) as failed:
        connector(settings).list_all()
    elapsed = time.monotonic() - started
    assert "cannot be reached" in failed.value.message
    assert "Connection refused" in failed.value.message
    assert 1.4 < elapsed < 5  # tried again after 0.5 s and 1 s: a server may be restarting
    once = app_settings(slapd, ou, bind_password, url=url, timeout=8, retries=0)
    started = time.monotonic()
    with pytest.raises(ConnectorError):
        connector(once).list_all()
    assert time.monotonic() - started < 0.5


def test_a_server_that_does_not_answer_times_out(
    ou: str, bind_password: str, slapd: LdapServer
) -> None:
    with silent_server() as port:
        settings = app_settings(slapd, ou, bind_password, url=f"ldap://127.0.0.1:{port}",
                                timeout=2)  # fmt: skip
        started = time.monotonic()
        with pytest.raises(ConnectorError) as failed:
            connector(settings).list_all()
        elapsed = time.monotonic() - started
    assert "did not answer within 2 s" in failed.value.message
    assert 1.5 < elapsed < 4  # the timeout bounds the whole request, retries included


def test_ldaps_and_start_tls_verify_the_servers_certificate(
    slapd: LdapServer, ou: str, bind_password: str
) -> None:
    dn, person = openldap_person(ou, "ann", "Ann Lee")
    slapd.add_entries([(dn, person)])
    ldaps = app_settings(slapd, ou, bind_password, url=slapd.ldaps_url, ca_file=slapd.ca_file)
    assert [a.username for a in connector(ldaps).list_all().accounts] == ["ann"]
    start_tls = app_settings(slapd, ou, bind_password, start_tls=True, ca_file=slapd.ca_file)
    assert [a.username for a in connector(start_tls).list_all().accounts] == ["ann"]

    untrusted = app_settings(slapd, ou, bind_password, url=slapd.ldaps_url)  # no ca_file
    with pytest.raises(ConnectorError) as failed:
        connector(untrusted).list_all()
    assert "the TLS connection failed" in failed.value.message
    assert "CERTIFICATE_VERIFY_FAILED" in failed.value.message
    assert "Check ca_file" in failed.value.message


def test_probe_reads_a_few_accounts(slapd: LdapServer, bind_password: str) -> None:
    base = f"ou=Many,{slapd.suffix}"
    listing = connector(app_settings(slapd, base, bind_password, page_size=100)).probe(limit=3)
    assert len(listing.accounts) == 3


def test_the_password_file_must_be_readable_by_its_owner_only(
    slapd: LdapServer, ou: str, tmp_path: Path
) -> None:
    secret = tmp_path / "bind.pw"
    secret.write_text(slapd.password + "\n")
    secret.chmod(0o644)
    settings = app_settings(slapd, ou, "unused")
    del settings["password_env"]
    settings["password_file"] = str(secret)
    with pytest.raises(ConnectorError) as failed:
        connector(settings).list_all()
    assert "can be read by other users (mode 644)" in failed.value.message
    assert f"chmod 600 {secret}" in failed.value.message
    secret.chmod(0o600)
    assert connector(settings).list_all().complete


def test_settings_are_checked_without_the_server() -> None:
    spec = ConnectorSpec(
        "ad",
        "ldap",
        {"url": "http://x", "password": "x", "flavour": "novell", "scope": "deep",
         "page_size": 0, "attributes": {"shoe_size": "x", "id": ""}},
        Path("/tmp"),
    )  # fmt: skip
    with pytest.raises(ConnectorError) as failed:
        describe(spec)
    paths = {p.path: p.message for p in failed.value.problems}
    assert "'http://x' is not an ldap:// or ldaps:// URL" in paths["apps.ad.settings.url"]
    assert "unknown setting 'password'" in paths["apps.ad.settings.password"]
    assert "'bind_dn' is missing" in paths["apps.ad.settings.bind_dn"]
    assert "the password is missing" in paths["apps.ad.settings.password_env"]
    assert "unknown or missing flavour 'novell'" in paths["apps.ad.settings.flavour"]
    assert "unknown scope 'deep'" in paths["apps.ad.settings.scope"]
    assert "'page_size' must be a whole number from 1" in paths["apps.ad.settings.page_size"]
    assert "not an account field" in paths["apps.ad.settings.attributes.shoe_size"]
    assert "never changes" in paths["apps.ad.settings.attributes.id"]

    good = describe(
        ConnectorSpec(
            "ad", "ldap",
            {"url": "ldaps://dc1.example.com", "bind_dn": "CN=r", "password_env": "P",
             "base_dn": "DC=example,DC=com", "flavour": "active_directory",
             "create_ou": "OU=New,DC=example,DC=com"},
            Path("/tmp"),
        )
    )  # fmt: skip
    assert good.kind == "ldap" and good.flavour == "active_directory"
    assert good.capabilities.push and good.capabilities.provisioning
    assert good.push_field("title") is not None
    assert good.creation_field("ou").default == "OU=New,DC=example,DC=com"  # type: ignore[union-attr]
    assert os.environ.get("P") is None  # describing reads no secret


def test_a_missing_base_dn_and_an_unknown_host_say_so(
    slapd: LdapServer, bind_password: str
) -> None:
    missing_base = app_settings(slapd, f"ou=Nowhere,{slapd.suffix}", bind_password)
    with pytest.raises(ConnectorError) as no_base:
        connector(missing_base).list_all()
    assert f"the base DN 'ou=Nowhere,{slapd.suffix}' does not exist (LDAP result 32)" in (
        no_base.value.message
    )
    unknown_host = app_settings(
        slapd, slapd.suffix, bind_password, url="ldap://no-such-host.invalid"
    )
    started = time.monotonic()
    with pytest.raises(ConnectorError) as no_host:
        connector(unknown_host).list_all()
    assert "the host name 'no-such-host.invalid' does not resolve" in no_host.value.message
    assert time.monotonic() - started < 5  # not retried: it fails the same way every time


def test_groups_are_entitlements_and_provisioning_joins_them(
    slapd: LdapServer, ou: str, bind_password: str
) -> None:
    ann_dn, ann = openldap_person(ou, "ann", "Ann Lee")
    bo_dn, bo = openldap_person(ou, "bo", "Bo Chen")
    vpn, wiki = f"cn=vpn,{ou}", f"cn=wiki,{ou}"
    guarded = f"cn=g{uuid.uuid4().hex[:6]},ou=Protected,{slapd.suffix}"
    slapd.add_entries(
        [(ann_dn, ann), (bo_dn, bo),
         (vpn, {"objectClass": ["groupOfNames"], "member": [ann_dn, bo_dn],
                "description": "Remote access"}),
         (wiki, {"objectClass": ["groupOfNames"], "member": [bo_dn]}),
         (guarded, {"objectClass": ["groupOfNames"], "member": [bo_dn]})]
    )  # fmt: skip
    app = connector(app_settings(slapd, ou, bind_password, group_base_dn=ou))
    listing = app.list_all()
    assert {(e.external_id, e.name, e.description) for e in listing.entitlements} == {
        (vpn, "vpn", "Remote access"),
        (wiki, "wiki", ""),
    }
    names = {a.external_id: a.username for a in listing.accounts}
    assert sorted((names[g.account_external_id], g.entitlement_external_id) for g in
                  listing.grants) == [("ann", vpn), ("bo", vpn), ("bo", wiki)]  # fmt: skip

    created = app.create_account({"uid": "cy", "cn": "Cy New", "sn": "New", "groups": [wiki]})
    cy_dn = f"uid=cy,{ou}"
    assert cy_dn.encode() in read(slapd, wiki, "member")["member"]
    again = app.list_all()
    assert (created.external_id, wiki) in {
        (g.account_external_id, g.entitlement_external_id) for g in again.grants
    }

    with pytest.raises(ConnectorError) as no_group:
        app.create_account({"uid": "dee", "cn": "Dee", "sn": "Dee", "groups": [f"cn=nope,{ou}"]})
    assert f"no group 'cn=nope,{ou}'" in no_group.value.message
    assert f"uid=dee,{ou}" not in slapd_dns(slapd, ou)
    # a group that refuses the new member: the entry leaves the groups it joined and goes
    with pytest.raises(ConnectorError) as refused:
        app.create_account({"uid": "eve", "cn": "Eve", "sn": "Eve", "groups": [vpn, guarded]})
    assert "insufficientAccessRights (LDAP result 50)" in refused.value.message
    assert "The new entry was removed again; nothing was created." in refused.value.message
    assert f"uid=eve,{ou}" not in slapd_dns(slapd, ou)
    assert f"uid=eve,{ou}".encode() not in read(slapd, vpn, "member")["member"]


def test_a_server_that_does_not_speak_ldap_is_named_as_such(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A web server at the LDAP URL's port: ldap3's decoder raised KeyError, reported as
    "failed unexpectedly … report this as a Roster bug" (a newcomer's review)."""
    import socket
    import threading

    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(4)
    port = listener.getsockname()[1]
    stop = threading.Event()

    def answer() -> None:
        listener.settimeout(0.2)
        while not stop.is_set():
            try:
                client, _ = listener.accept()
            except OSError:
                continue
            with client:
                try:
                    client.recv(4096)
                    client.sendall(
                        b"HTTP/1.1 400 Bad Request\r\nContent-Type: text/html\r\n"
                        b"Content-Length: 40\r\n\r\n<html><body>bad request</body></html>\n"
                    )
                except OSError:
                    pass

    server = threading.Thread(target=answer, daemon=True)
    server.start()
    monkeypatch.setenv("NOT_LDAP_PW", "x")
    settings = {
        "url": f"ldap://127.0.0.1:{port}",
        "bind_dn": "cn=x",
        "password_env": "NOT_LDAP_PW",
        "base_dn": "dc=x",
        "flavour": "openldap",
        "timeout": 3,
        "retries": 0,
    }
    try:
        with pytest.raises(ConnectorError) as failed:
            connector(settings).list_all()
    finally:
        stop.set()
        server.join()
        listener.close()
    message = failed.value.message
    assert f"LDAP server ldap://127.0.0.1:{port} did not answer in LDAP" in message, message
    assert "ldaps://" in message and "Roster bug" not in message


def test_a_value_a_file_app_refuses_holds_back_its_entry_alone(
    slapd: LdapServer, ou: str, bind_password: str
) -> None:
    """A 5 MB description and a name with an escape sequence came into the store from LDAP as
    they were (a newcomer's review); a file app refuses both. The entry is held back, named
    with the value (its stored account stays as it was); the rest of the directory is listed:
    refusing the whole listing stopped every leaver's import for one self-edited value."""
    dn, person = openldap_person(ou, "long", "Long Value", employeeNumber="E7")
    other_dn, other = openldap_person(ou, "fine", "Fine Person", employeeNumber="E8")
    slapd.add_entries([(dn, person), (other_dn, other)])
    settings = app_settings(slapd, ou, bind_password)
    listing = connector(settings).list_all()
    assert len(listing.accounts) == 2 and not listing.held
    held_id = next(a.external_id for a in listing.accounts if a.username == "long")
    admin = slapd.admin()
    try:
        for change, says in (
            ({"description": "x" * 70_000}, "profile.description is 70,000 characters long"),
            ({"description": "ok", "displayName": "Eve\x1b[31mRed"}, "holds a control character"),
        ):
            admin.modify(dn, {k: [(ldap3.MODIFY_REPLACE, [v])] for k, v in change.items()})
            listing = connector(settings).list_all()
            assert [a.username for a in listing.accounts] == ["fine"]
            message = listing.held[held_id]
            assert dn in message and says in message, message
            assert "\x1b" not in message and "its account stays as it was" in message
    finally:
        admin.unbind()


def test_binary_attributes_are_base64_whatever_their_bytes(
    slapd: LdapServer, ou: str, bind_password: str
) -> None:
    """A binary value whose bytes happen to decode as UTF-8 was text, and one holding a control
    byte refused the whole app's import (about one 16-byte GUID in 12,000 does: LDAP review).
    Known binary attributes, those an app names in binary_attributes and those the server
    sends with ;binary are always `base64:…`."""
    pkcs = b"\x1b]0;PWNED\x07"  # valid UTF-8, with control bytes
    dn, person = openldap_person(
        ou, "bin", "Bin Ary", userPKCS12=pkcs, description="\x01\x02 plain"
    )
    slapd.add_entries([(dn, person)])
    settings = app_settings(slapd, ou, bind_password)
    held = connector(settings).list_all()  # description is text here: its control bytes
    (message,) = held.held.values()  # hold the entry back
    assert not held.accounts and "profile.description holds a control character" in message
    assert "settings.binary_attributes" in message
    listing = connector({**settings, "binary_attributes": ["Description"]}).list_all()
    (account,) = listing.accounts
    assert account.profile["userPKCS12"] == "base64:" + base64.b64encode(pkcs).decode()
    assert (
        account.profile["description"] == "base64:" + base64.b64encode(b"\x01\x02 plain").decode()
    )


def test_binary_attributes_must_be_a_list_of_names(
    slapd: LdapServer, ou: str, bind_password: str
) -> None:
    for bad in ("description", ["not an attribute!"], [3]):
        with pytest.raises(ConnectorError) as refused:
            connector(app_settings(slapd, ou, bind_password, binary_attributes=bad))
        assert "binary_attributes must be a list of attribute names" in str(refused.value)


def test_two_entries_with_one_id_refuse_the_import_naming_both(
    slapd: LdapServer, ou: str, bind_password: str
) -> None:
    """uid=ann in the OU and uid=ann in a sub-OU were one account, the last entry read winning
    (Ann Lee became Ann Impostor in the same run, LDAP review). A file app refuses a repeated
    id; so does a directory, naming both entries."""
    sub = f"ou=Sub,{ou}"
    first_dn, first = openldap_person(ou, "ann", "Ann Lee")
    slapd.add_entries([(first_dn, first), (sub, {"objectClass": ["organizationalUnit"]})])
    second_dn, second = openldap_person(sub, "ann", "Ann Impostor", mail="impostor@example.com")
    slapd.add_entries([(second_dn, second)])
    by_uid = {"id": "uid"}  # (the flavour's id, entryUUID, is the directory's own: unique)
    assert len(connector(app_settings(slapd, ou, bind_password)).list_all().accounts) == 2
    with pytest.raises(ConnectorError) as refused:
        connector(app_settings(slapd, ou, bind_password, attributes=by_uid)).list_all()
    message = refused.value.message
    assert first_dn in message and second_dn in message, message
    assert "the same id 'ann' (their uid)" in message
    assert "id: entryUUID" in message and "nothing of this app was imported" in message
    # one level down only: one entry, imported
    one = connector(
        app_settings(slapd, ou, bind_password, scope="one", attributes=by_uid)
    ).list_all()
    assert [a.display_name for a in one.accounts] == ["Ann Lee"]


def test_a_delta_refuses_a_changed_entry_that_shares_an_unchanged_ones_id(
    slapd: LdapServer, ou: str, bind_password: str
) -> None:
    """A delta lists only the changed entries: a new uid=ann in a sub-OU took over the
    account of the unchanged uid=ann, its pushes going to the other entry (hostile review).
    The delta looks each changed id up and refuses, naming both."""
    by_uid = {"id": "uid"}
    first_dn, first = openldap_person(ou, "ann", "Ann Lee")
    sub = f"ou=Sub,{ou}"
    slapd.add_entries([(first_dn, first), (sub, {"objectClass": ["organizationalUnit"]})])
    app = connector(app_settings(slapd, ou, bind_password, attributes=by_uid))
    full = app.list_all()
    time.sleep(1.1)  # modifyTimestamp has whole seconds
    second_dn, second = openldap_person(sub, "ann", "Ann Impostor", mail="impostor@example.com")
    slapd.add_entries([(second_dn, second)])
    with pytest.raises(ConnectorError) as refused:
        app.list_changes(full.cursor)
    message = refused.value.message
    assert first_dn in message and second_dn in message, message
    # a changed entry whose id is its own alone passes
    admin = slapd.admin()
    try:
        admin.delete(second_dn)
        time.sleep(1.1)
        admin.modify(first_dn, {"title": [(ldap3.MODIFY_REPLACE, ["Lead"])]})
    finally:
        admin.unbind()
    delta = app.list_changes(full.cursor)
    assert [a.profile.get("title") for a in delta.accounts] == ["Lead"]
