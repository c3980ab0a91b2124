"""LDAP import benchmark (README.md): the LDAP connector's paged import of N entries from a
local slapd (tests/ldap_server.py: mdb backend, a size limit of 500 per unpaged search), next
to `ldapsearch` reading the same entries with the same page size in the same run.

    python bench/ldap_import.py                     # 100,000 entries
    python bench/ldap_import.py --entries 10000     # a smaller directory

The entries are loaded offline with slapadd before the server starts (not timed). Both readers
bind as the same service account over ldap:// on 127.0.0.1 and ask for every user attribute
plus the operational ones the connector maps; the connector also turns each entry into an
account (the attribute map, the profile) — that is the difference the ratio shows.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from engine.connectors.base import ConnectorSpec  # noqa: E402
from engine.connectors.ldap.connector import LdapConnector  # noqa: E402
from tests.engine.ldap_directory import many_ldif  # noqa: E402
from tests.ldap_server import SUFFIX, ldap_server, unavailable_reason  # noqa: E402

PAGE = 500


def connector_import(url: str, bind_dn: str, base: str) -> tuple[float, int]:
    os.environ["BENCH_LDAP_PASSWORD"] = os.environ["_BENCH_PASSWORD"]
    settings = {
        "url": url,
        "bind_dn": bind_dn,
        "password_env": "BENCH_LDAP_PASSWORD",
        "base_dn": base,
        "flavour": "openldap",
        "page_size": PAGE,
        "timeout": 120,
    }
    connector = LdapConnector(ConnectorSpec("bench", "ldap", settings, Path.cwd()))
    started = time.perf_counter()
    listing = connector.list_all()
    return time.perf_counter() - started, len(listing.accounts)


def ldapsearch_import(url: str, bind_dn: str, password: str, base: str) -> tuple[float, int]:
    command = [
        "ldapsearch", "-LLL", "-x", "-H", url, "-D", bind_dn, "-w", password, "-b", base,
        "-E", f"pr={PAGE}/noprompt", "(objectClass=inetOrgPerson)",
        "*", "entryUUID", "modifyTimestamp", "pwdAccountLockedTime",
    ]  # fmt: skip
    started = time.perf_counter()
    out = subprocess.run(command, capture_output=True, check=True).stdout
    elapsed = time.perf_counter() - started
    return elapsed, out.count(b"\ndn: ") + out.startswith(b"dn: ")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--entries", type=int, default=100_000)
    args = parser.parse_args()
    reason = unavailable_reason() or (None if shutil.which("ldapsearch") else "no ldapsearch")
    if reason:
        sys.exit(f"Cannot run: {reason}")
    print(f"loading {args.entries:,} entries with slapadd…", flush=True)
    started = time.perf_counter()
    with ldap_server(many_ldif(SUFFIX, args.entries, ou="Bench")) as server:
        print(f"  loaded and started in {time.perf_counter() - started:.1f} s", flush=True)
        base = f"ou=Bench,{SUFFIX}"
        os.environ["_BENCH_PASSWORD"] = server.password
        search_s, search_n = ldapsearch_import(server.url, server.bind_dn, server.password, base)
        import_s, import_n = connector_import(server.url, server.bind_dn, base)
    print(f"{'reader':<24}{'entries':>10}{'seconds':>10}{'entries/s':>12}")
    for name, seconds, count in (
        (f"ldapsearch (pr={PAGE})", search_s, search_n),
        (f"Roster ldap (page {PAGE})", import_s, import_n),
    ):
        print(f"{name:<24}{count:>10,}{seconds:>10.2f}{count / seconds:>12,.0f}")
    print(f"Roster / ldapsearch time: {import_s / search_s:.1f}x")


if __name__ == "__main__":
    main()
