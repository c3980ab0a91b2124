"""Generate the demo organisation: one file per app under OUT_DIR/apps/.

    python -m sample_data.build [--people N] [--seed S] OUT_DIR

The same seed and size always give the same bytes. The committed `sample_data/apps/` is the
output for the defaults (300 people, seed 7); the benchmark calls `build_organisation` with
10,000-100,000 people. Work is linear in the number of people and records stream to disk.

The awkward cases (see sample_data/README.md) are planted with fixed names, numbers and emails,
so they are the same at every size and seed; everyone else is drawn from the seeded generator.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import random
import re
import sys
import unicodedata
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from engine.connectors.fileio import atomic_write, write_csv, write_yaml_list

DOMAIN = "example.com"
COMPANY = "Example Corp"
MIN_PEOPLE = 40
TODAY = dt.date(2025, 6, 1)  # the organisation's "now": fixed, so output never depends on the clock
AD_OU = "OU=Users,DC=example,DC=com"

# name, cost centre, share of staff, titles (most junior first)
DEPARTMENTS: list[tuple[str, str, float, list[str]]] = [
    (
        "Engineering",
        "CC-2100",
        0.30,
        [
            "Software Engineer",
            "Senior Software Engineer",
            "Staff Engineer",
            "Site Reliability Engineer",
            "QA Engineer",
            "Engineering Manager",
        ],
    ),
    (
        "Product",
        "CC-2200",
        0.06,
        ["Product Designer", "UX Researcher", "Product Manager", "Senior Product Manager"],
    ),
    (
        "Sales",
        "CC-3100",
        0.16,
        [
            "Sales Development Representative",
            "Account Executive",
            "Sales Engineer",
            "Regional Sales Manager",
        ],
    ),
    (
        "Marketing",
        "CC-3200",
        0.07,
        ["Content Strategist", "Growth Marketer", "Brand Designer", "Marketing Manager"],
    ),
    (
        "Customer Support",
        "CC-3300",
        0.10,
        ["Support Specialist", "Support Engineer", "Support Team Lead"],
    ),
    (
        "Finance",
        "CC-4100",
        0.06,
        ["Accountant", "Payroll Specialist", "Financial Analyst", "Controller"],
    ),
    (
        "People",
        "CC-4200",
        0.05,
        ["Recruiter", "People Operations Specialist", "HR Business Partner"],
    ),
    (
        "IT",
        "CC-4300",
        0.06,
        [
            "IT Support Engineer",
            "Systems Administrator",
            "Identity Engineer",
            "IT Operations Manager",
        ],
    ),
    ("Legal", "CC-4400", 0.03, ["Paralegal", "Compliance Analyst", "Legal Counsel"]),
    (
        "Operations",
        "CC-4500",
        0.06,
        [
            "Facilities Coordinator",
            "Procurement Specialist",
            "Operations Analyst",
            "Office Manager",
        ],
    ),
]
EXECUTIVE = ("Executive", "CC-1000")
DEPT_INFO = {name: (cc, titles) for name, cc, _, titles in DEPARTMENTS}
DEPT_INFO[EXECUTIVE[0]] = (EXECUTIVE[1], ["Chief Executive Officer"])

# city, country, badge site code (empty: no office), share, phone prefix
LOCATIONS: list[tuple[str, str, str, float, str]] = [
    ("London", "GB", "LON-1", 0.25, "+44 20 7946 "),
    ("New York", "US", "NYC-5", 0.22, "+1 212 555 "),
    ("San Francisco", "US", "SFO-2", 0.12, "+1 415 555 "),
    ("Berlin", "DE", "BER-1", 0.12, "+49 30 5557 "),
    ("Oslo", "NO", "OSL-1", 0.06, "+47 2155 "),
    ("Madrid", "ES", "MAD-1", 0.08, "+34 91 555 "),
    ("Toronto", "CA", "YYZ-1", 0.07, "+1 416 555 "),
    ("Shanghai", "CN", "SHA-1", 0.05, "+86 21 5555 "),
    ("Remote", "US", "", 0.03, "+1 555 01"),
]
LOCATION_INFO = {loc[0]: loc for loc in LOCATIONS}

FIRST_NAMES = (
    "James Mary Robert Patricia John Jennifer Michael Linda David Elizabeth William Barbara "
    "Richard Susan Joseph Jessica Thomas Sarah Charles Karen Christopher Nancy Daniel Lisa "
    "Matthew Betty Anthony Rebecca Mark Sandra Donald Ashley Steven Kimberly Paul Emily Andrew "
    "Donna Joshua Michelle Kenji Yuki Hiroshi Aiko Raj Ananya Arjun Deepa Mohammed Fatima Omar "
    "Leila Chinedu Ngozi Kofi Amara Lars Ingrid Sven Astrid Björn Søren Åsa Małgorzata Łukasz "
    "Chloé Renée Hélène François Jürgen Jörg Müge İlker Çağla Siobhán Seán Niamh Aoife Pádraig "
    "Inés María Ramón Sofía Luís João Conceição Gonçalo Dmitri Olga Anastasia Ivan Nikolai "
    "Elena Giulia Lorenzo Chiara Matteo Élodie Noémie Anaïs Bérénice Grace Henry Isla Oscar"
).split()
LAST_NAMES = (
    "Smith Johnson Williams Brown Jones Garcia Miller Davis Rodriguez Martinez Hernandez Lopez "
    "Gonzalez Wilson Anderson Thomas Taylor Moore Jackson Martin Perez Thompson White Harris "
    "Sanchez Clark Ramirez Lewis Robinson Walker Young Allen King Wright Scott Torres Nguyen "
    "Hill Flores Green Adams Nelson Baker Hall Campbell Mitchell Carter Roberts Kowalski Nowak "
    "Wiśniewski Wójcik Müller Schröder Weiß Groß Jensen Hansen Ødegaard Sørensen Ström Åberg "
    "Lindqvist Björk Dubois Lefèvre Moreau Girard Fournier Rossi Bianchi Esposito Ricci Romano "
    "Muñoz Peña Ibáñez Gutiérrez O'Brien O'Connor Yılmaz Kaya Çelik Şahin Patel Sharma Gupta "
    "Singh Iyer Tanaka Suzuki Sato Watanabe Kim Park Choi Adeyemi Mwangi Haddad Khalil Nasser "
    "Cohen Levi Petrov Volkov Novak Byrne Murphy Kelly Walsh Doyle Quinn Ahmed Hussain Rahman"
).split() + ["Ó Briain", "Mac Giolla"]
# Chinese names: (family, given, family in pinyin, given in pinyin); shown family first.
CJK_FAMILY = [
    ("王", "Wang"),
    ("李", "Li"),
    ("张", "Zhang"),
    ("刘", "Liu"),
    ("陈", "Chen"),
    ("杨", "Yang"),
    ("黄", "Huang"),
    ("赵", "Zhao"),
]
CJK_GIVEN = [
    ("伟", "Wei"),
    ("娜", "Na"),
    ("敏", "Min"),
    ("静", "Jing"),
    ("丽", "Li"),
    ("强", "Qiang"),
    ("磊", "Lei"),
    ("洋", "Yang"),
    ("艳", "Yan"),
    ("勇", "Yong"),
    ("军", "Jun"),
    ("杰", "Jie"),
    ("涛", "Tao"),
    ("明", "Ming"),
    ("芳", "Fang"),
]

_FOLD = str.maketrans(
    {
        "ø": "o",
        "Ø": "O",
        "æ": "ae",
        "Æ": "AE",
        "ß": "ss",
        "ł": "l",
        "Ł": "L",
        "ı": "i",
        "đ": "d",
        "Đ": "D",
        "œ": "oe",
        "Œ": "OE",
    }
)


def ascii_fold(text: str) -> str:
    """'Zoë Ødegård' -> 'Zoe Odegard' (what a mail system or GitHub profile often holds)."""
    decomposed = unicodedata.normalize("NFKD", text.translate(_FOLD))
    return "".join(c for c in decomposed if not unicodedata.combining(c))


def mail_part(text: str) -> str:
    return re.sub(r"[^a-z0-9-]", "", ascii_fold(text).lower())


@dataclass(slots=True)
class Person:
    number: str
    given: str
    family: str
    display: str
    local: str  # email local part (unique)
    department: str
    title: str
    employment_type: str = "FULL_TIME"
    employment_status: str = "ACTIVE"
    manager: int | None = None  # index into the people list
    location: str = "London"
    start_date: str = "2020-01-06"
    phone: str = ""
    ascii_given: str = ""
    ascii_family: str = ""
    hr_email_empty: bool = False
    tags: set[str] = field(default_factory=set)  # planted cases, for the apps to act on

    @property
    def email(self) -> str:
        return f"{self.local}@{DOMAIN}"

    @property
    def leaver(self) -> bool:
        return self.employment_status == "TERMINATED"

    @property
    def country(self) -> str:
        return LOCATION_INFO[self.location][1]

    @property
    def cost_center(self) -> str:
        return DEPT_INFO[self.department][0]


# The planted people: fixed numbers, names and emails at every size and seed (README lists them).
# (given, family, display, local, department, title, type, status, location, tags)
PLANTED: list[tuple[str, str, str, str, str, str, str, str, str, set[str]]] = [
    (
        "Ann",
        "Lee",
        "Ann Lee",
        "ann.lee",
        "IT",
        "IT Operations Manager",
        "FULL_TIME",
        "ACTIVE",
        "London",
        {"alias_owner", "it_admin"},
    ),
    (
        "Alex",
        "Morgan",
        "Alex Morgan",
        "alex.morgan",
        "Engineering",
        "Senior Software Engineer",
        "FULL_TIME",
        "ACTIVE",
        "New York",
        {"same_name"},
    ),
    (
        "Alex",
        "Morgan",
        "Alex Morgan",
        "alex.morgan2",
        "Sales",
        "Account Executive",
        "FULL_TIME",
        "ACTIVE",
        "Toronto",
        {"same_name"},
    ),
    (
        "José",
        "Núñez",
        "José Núñez",
        "jose.nunez",
        "Finance",
        "Financial Analyst",
        "FULL_TIME",
        "ACTIVE",
        "Madrid",
        {"plus_primary"},
    ),
    (
        "Zoë",
        "Ødegård",
        "Zoë Ødegård",
        "zoe.odegard",
        "Engineering",
        "Staff Engineer",
        "FULL_TIME",
        "ACTIVE",
        "Oslo",
        {"slack_plus"},
    ),
    (
        "芳",
        "王",
        "王芳",
        "fang.wang",
        "Product",
        "Product Manager",
        "FULL_TIME",
        "ACTIVE",
        "Shanghai",
        {"cjk"},
    ),
    (
        "Oliver",
        "Grant",
        "Oliver Grant",
        "oliver.grant",
        "Sales",
        "Regional Sales Manager",
        "FULL_TIME",
        "TERMINATED",
        "London",
        {"leaver_enabled"},
    ),
    (
        "Priya",
        "Shah",
        "Priya Shah",
        "priya.shah",
        "Marketing",
        "Marketing Manager",
        "FULL_TIME",
        "ACTIVE",
        "London",
        {"dept_conflict"},
    ),
    (
        "Dana",
        "Whitaker",
        "Dana Whitaker",
        "dana.whitaker",
        "Engineering",
        "Site Reliability Engineer",
        "CONTRACTOR",
        "ACTIVE",
        "Berlin",
        {"feed_by_employee_id"},
    ),
    (
        "Sam",
        "Rivera",
        "Sam Rivera",
        "sam.rivera",
        "Engineering",
        "Engineering Intern",
        "INTERN",
        "ACTIVE",
        "San Francisco",
        set(),
    ),
    (
        "Noah",
        "Fischer",
        "Noah Fischer",
        "noah.fischer",
        "Legal",
        "Legal Counsel",
        "FULL_TIME",
        "ACTIVE",
        "Berlin",
        {"no_manager"},
    ),
    (
        "Mei",
        "Tanaka",
        "Mei Tanaka",
        "mei.tanaka",
        "Customer Support",
        "Support Specialist",
        "FULL_TIME",
        "ACTIVE",
        "Toronto",
        {"hr_email_empty", "new_joiner"},
    ),
    (
        "Lars",
        "Eriksen",
        "Lars Eriksen",
        "lars.eriksen",
        "Engineering",
        "Engineering Manager",
        "FULL_TIME",
        "ACTIVE",
        "Oslo",
        {"stale_title"},
    ),
    (
        "Hannah",
        "Berg",
        "Hannah Berg",
        "hannah.berg",
        "People",
        "HR Business Partner",
        "FULL_TIME",
        "LEAVE",
        "Berlin",
        set(),
    ),
]
# People only the identity provider knows (they become people through the IdP).
IDP_ONLY = [
    ("Rachel", "Adeyemi", "rachel.adeyemi", "Board Member"),
    ("Tom", "Becker", "tom.becker", "External Auditor"),
    ("Inês", "Carvalho", "ines.carvalho", "Strategy Advisor"),
    ("Kwame", "Mensah", "kwame.mensah", "Security Consultant"),
]
# Contingent workers only the secondary HR feed knows (MATCH_ONLY: they stay unmerged).
FEED_ONLY = [
    ("Victor Hale", "victor.hale@globex.example", "Globex Staffing", "Operations"),
    ("Lena Novak", "lena.novak@initech.example", "Initech Services", "IT"),
    ("Marco Bianchi", "", "Globex Staffing", "Engineering"),
]


# --- the people -------------------------------------------------------------------------------


class _Names:
    """Draws distinct display names and email local parts (duplicates only when exhausted)."""

    def __init__(self, rng: random.Random, reserved_names: set[str], reserved_locals: set[str]):
        self.rng = rng
        self.names = set(reserved_names)
        self.locals = set(reserved_locals)

    def draw(self) -> tuple[str, str, str, str, str, str]:
        rng = self.rng
        for _ in range(12):
            if rng.random() < 0.04:
                family, family_ascii = rng.choice(CJK_FAMILY)
                given, given_ascii = rng.choice(CJK_GIVEN)
                display = family + given
            else:
                given, family = rng.choice(FIRST_NAMES), rng.choice(LAST_NAMES)
                given_ascii, family_ascii = ascii_fold(given), ascii_fold(family)
                display = f"{given} {family}"
            if display not in self.names:
                break
        self.names.add(display)
        base = f"{mail_part(given_ascii)}.{mail_part(family_ascii)}"
        local, n = base, 1
        while local in self.locals:
            n += 1
            local = f"{base}{n}"
        self.locals.add(local)
        return given, family, display, local, given_ascii, family_ascii


def _pick(rng: random.Random, weighted: list[tuple[Any, float]]) -> Any:
    roll, total = rng.random(), 0.0
    for value, weight in weighted:
        total += weight
        if roll < total:
            return value
    return weighted[-1][0]


def _date(rng: random.Random, start: dt.date, end: dt.date) -> str:
    return (start + dt.timedelta(days=rng.randrange((end - start).days))).isoformat()


def _phone(rng: random.Random, location: str) -> str:
    return LOCATION_INFO[location][4] + f"{rng.randrange(10000):04d}"[-4:]


def make_people(count: int, seed: int) -> list[Person]:
    """The HR population: CEO, department heads, planted people, then everyone else."""
    if count < MIN_PEOPLE:
        raise ValueError(f"the demo organisation needs at least {MIN_PEOPLE} people")
    rng = random.Random(f"{seed}:people")
    reserved_names = {p[2] for p in PLANTED} | {f"{g} {f}" for g, f, _, _ in IDP_ONLY}
    reserved_names.add("Margaret Okafor")
    reserved_locals = {p[3] for p in PLANTED} | {loc for _, _, loc, _ in IDP_ONLY}
    reserved_locals.add("margaret.okafor")
    names = _Names(rng, reserved_names, reserved_locals)
    locations = [(loc[0], loc[3]) for loc in LOCATIONS]
    people: list[Person] = []

    def add(person: Person) -> int:
        person.number = f"E{10001 + len(people)}"
        if not person.ascii_given:
            person.ascii_given, person.ascii_family = (
                ascii_fold(person.given),
                ascii_fold(person.family),
            )
        people.append(person)
        return len(people) - 1

    def drawn(department: str, title: str, location: str) -> Person:
        given, family, display, local, ga, fa = names.draw()
        return Person(
            "",
            given,
            family,
            display,
            local,
            department,
            title,
            location=location,
            ascii_given=ga,
            ascii_family=fa,
            phone=_phone(rng, location),
            start_date=_date(rng, dt.date(2012, 1, 2), dt.date(2025, 4, 1)),
        )

    ceo = Person(
        "",
        "Margaret",
        "Okafor",
        "Margaret Okafor",
        "margaret.okafor",
        EXECUTIVE[0],
        "Chief Executive Officer",
        location="London",
        phone=_phone(rng, "London"),
        start_date="2014-02-03",
        tags={"ceo", "no_manager"},
    )
    add(ceo)
    managers: dict[str, list[int]] = {}
    for department, *_ in DEPARTMENTS:
        head = drawn(department, f"Head of {department}", _pick(rng, locations))
        head.manager = 0
        managers[department] = [add(head)]
    for given, family, display, local, department, title, etype, status, location, tags in PLANTED:
        person = Person(
            "",
            given,
            family,
            display,
            local,
            department,
            title,
            etype,
            status,
            location=location,
            phone=_phone(rng, location),
            tags=set(tags),
            start_date=_date(rng, dt.date(2015, 1, 5), dt.date(2024, 12, 1)),
        )
        if "cjk" in tags:
            person.ascii_given, person.ascii_family = "Fang", "Wang"
        if "no_manager" not in tags:
            person.manager = managers[department][0]
        if "new_joiner" in tags:
            person.start_date = (TODAY + dt.timedelta(days=30)).isoformat()
            person.hr_email_empty = True
        if status == "TERMINATED":
            person.start_date = "2019-03-04"
        add(person)
    shares = [(d[0], d[2]) for d in DEPARTMENTS]
    while len(people) < count:
        department = _pick(rng, shares)
        etype = _pick(rng, [("FULL_TIME", 0.84), ("CONTRACTOR", 0.10), ("INTERN", 0.06)])
        titles = DEPT_INFO[department][1]
        title = f"{department} Intern" if etype == "INTERN" else rng.choice(titles)
        person = drawn(department, title, _pick(rng, locations))
        person.employment_type = etype
        if etype == "INTERN":
            person.start_date = _date(rng, dt.date(2025, 1, 6), dt.date(2025, 5, 30))
        person.employment_status = _pick(
            rng, [("ACTIVE", 0.93), ("TERMINATED", 0.05), ("LEAVE", 0.02)]
        )
        pool = managers[department]
        person.manager = rng.choice(pool)
        index = add(person)
        if etype == "FULL_TIME" and person.employment_status == "ACTIVE" and rng.random() < 0.12:
            pool.append(index)
    return people


# --- writing ----------------------------------------------------------------------------------


def _header(app: str, text: str) -> str:
    lines = [
        f"# Demo organisation, app '{app}': {text}",
        "# Generated by `python -m sample_data.build` (see sample_data/README.md); "
        "pushes and provisioning write back here.",
    ]
    return "\n".join(lines) + "\n"


def _clean(record: dict[str, Any], keep: tuple[str, ...] = ()) -> dict[str, Any]:
    """Drop empty fields (except those in `keep`); sort the profile's keys."""
    out = {k: v for k, v in record.items() if k in keep or v not in ("", None, [], {})}
    if "profile" in out:
        out["profile"] = {
            k: v for k, v in sorted(out["profile"].items()) if v not in ("", None, [])
        }
    return out


def _write_yaml(path: Path, header: str, sections: list[tuple[str, Any]]) -> None:
    def write(fh: IO[str]) -> None:
        fh.write(header)
        for key, items in sections:
            write_yaml_list(fh, key, items)

    atomic_write(path, write)


def _write_csv(path: Path, header: list[str], rows: Any) -> None:
    atomic_write(path, lambda fh: write_csv(fh, header, rows))


# --- the apps ---------------------------------------------------------------------------------


def hr_accounts(people: list[Person]) -> Iterator[dict[str, Any]]:
    for person in people:
        manager = people[person.manager] if person.manager is not None else None
        yield _clean(
            {
                "id": person.number,
                "display_name": person.display,
                "given_name": person.given,
                "family_name": person.family,
                "email": "" if person.hr_email_empty else person.email,
                "employee_ids": [person.number],
                "status": "DISABLED" if person.leaver else "ENABLED",
                "type": "USER",
                "manager": manager.number if manager else "",
                "profile": {
                    "department": person.department,
                    "job_title": person.title,
                    "employment_type": person.employment_type,
                    "employment_status": person.employment_status,
                    "manager_email": manager.email if manager else "",
                    "location": person.location,
                    "cost_center": person.cost_center,
                    "phone": person.phone,
                    "country": person.country,
                    "start_date": person.start_date,
                },
            },
            keep=("email",) if person.hr_email_empty else (),
        )


def _okta_id(rng: random.Random, used: set[str]) -> str:
    alphabet = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
    while True:
        value = "00u" + "".join(rng.choice(alphabet) for _ in range(17))
        if value not in used:
            used.add(value)
            return value


def idp_accounts(people: list[Person], seed: int) -> Iterator[dict[str, Any]]:
    rng = random.Random(f"{seed}:idp")
    used: set[str] = set()
    tags = ["it", "dev", "test", "jira", "cal"]
    for person in people:
        if "new_joiner" in person.tags:
            continue  # not provisioned in the IdP yet
        draw = rng.random()
        if person.leaver and "leaver_enabled" not in person.tags and draw < 0.5:
            continue  # leaver already removed from the IdP
        if not person.leaver and not person.tags and draw > 0.97:
            continue  # a few employees have no IdP account
        email = person.email
        emails = [email]
        if "alias_owner" in person.tags:
            emails += [f"{person.local}+it@{DOMAIN}", f"{person.local}+backup@{DOMAIN}"]
        elif "plus_primary" in person.tags:
            email = f"{person.local}+finance@{DOMAIN}"
            emails = [email]
        elif not person.tags and rng.random() < 0.06:
            emails.append(f"{person.local}+{rng.choice(tags)}@{DOMAIN}")
        yield _clean(
            {
                "id": _okta_id(rng, used),
                "display_name": person.display,
                "given_name": person.given,
                "family_name": person.family,
                "email": email,
                "emails": emails if emails != [email] else [],
                "username": email,
                "status": "DISABLED" if person.leaver else "ENABLED",
                "type": "USER",
                "profile": {
                    "department": person.department,
                    "title": person.title,
                    "phone": person.phone,
                    "login": email,
                },
            }
        )
    for given, family, local, title in IDP_ONLY:
        email = f"{local}@{DOMAIN}"
        yield _clean(
            {
                "id": _okta_id(rng, used),
                "display_name": f"{given} {family}",
                "given_name": given,
                "family_name": family,
                "email": email,
                "username": email,
                "status": "ENABLED",
                "type": "USER",
                "profile": {"department": "External", "title": title, "login": email},
            }
        )
    login = f"svc-backup@{DOMAIN}"
    yield _clean(
        {
            "id": _okta_id(rng, used),
            "display_name": "Backup Service",
            "email": f"ann.lee+backup@{DOMAIN}",
            "username": login,
            "status": "ENABLED",
            "type": "SERVICE_ACCOUNT",
            "profile": {"department": "IT", "title": "Service account", "login": login},
        }
    )


HR_FEED_COLUMNS = [
    "id",
    "email",
    "employee_ids",
    "display_name",
    "department",
    "job_title",
    "manager_email",
    "vendor",
    "cost_center",
]
VENDORS = ["Acme Staffing", "Globex Staffing", "Initech Services", "Hooli Contracting"]


def hr_feed_rows(people: list[Person], seed: int) -> Iterator[list[str]]:
    rng = random.Random(f"{seed}:hr_feed")
    n = 0
    for person in people:
        # leavers too: the feed lags HR, and a leaver's row merges only while the IdP keeps them
        if person.employment_type != "CONTRACTOR":
            continue
        n += 1
        manager = people[person.manager] if person.manager is not None else None
        vendor = rng.choice(VENDORS)
        email, ids = person.email, person.number
        if "feed_by_employee_id" in person.tags:
            vendor = "Acme Staffing"
            email = f"{person.local}@acme-staffing.example"  # only the employee id matches
        elif rng.random() < 0.3:
            ids = ""  # matches by email only
        yield [
            f"CW-{n:04d}",
            email,
            ids,
            person.display,
            person.department,
            person.title,
            manager.email if manager else "",
            vendor,
            person.cost_center,
        ]
    for display, email, vendor, department in FEED_ONLY:
        n += 1
        yield [
            f"CW-{n:04d}",
            email,
            "",
            display,
            department,
            "Contractor",
            "",
            vendor,
            DEPT_INFO[department][0],
        ]


def sam_of(person: Person, used: set[str]) -> str:
    """The AD logon name: the email's local part, cut to AD's 20 characters, made unique."""
    sam, n = person.local[:20], 1
    while sam.casefold() in used:
        n += 1
        sam = person.local[: 20 - len(str(n))] + str(n)
    used.add(sam.casefold())
    return sam


def badge_number(person: Person) -> str:
    return f"{int(person.number[1:]) * 7 % 1000003:06d}"


def has_badge(person: Person) -> bool:
    return bool(LOCATION_INFO[person.location][2]) and "new_joiner" not in person.tags


EMPLOYEE_TYPE = {"FULL_TIME": "Employee", "CONTRACTOR": "Contractor", "INTERN": "Intern"}
AD_GROUPS = [
    ("grp-all-staff", "All Staff", "Every employee, contractor and intern"),
    ("grp-vpn-users", "VPN Users", "May connect to the corporate VPN"),
    ("grp-finance-share", "Finance Share", "Read/write on \\\\files\\finance"),
    ("grp-domain-admins", "Domain Admins", "Full control of the domain"),
]


def ad_accounts(
    people: list[Person], seed: int, grants: list[dict[str, str]]
) -> Iterator[dict[str, Any]]:
    rng = random.Random(f"{seed}:ad")
    used = {"svc-backup", "svc-sql", "administrator", "krbtgt"}
    for person in people:
        if "new_joiner" in person.tags:
            continue
        roll = rng.random()
        if not person.tags and person.employment_status == "ACTIVE" and roll > 0.96:
            continue  # not provisioned in AD yet: provisioning has work
        manager = people[person.manager] if person.manager is not None else None
        sam = sam_of(person, used)
        title, department = person.title, person.department
        if "dept_conflict" in person.tags:
            department = "Sales"
        elif "stale_title" in person.tags:
            title = "Senior Software Engineer"
        elif not person.tags:
            if rng.random() < 0.05:
                department = rng.choice([d[0] for d in DEPARTMENTS if d[0] != department])
            if rng.random() < 0.10:
                title = rng.choice(DEPT_INFO[person.department][1])
        if person.leaver:
            enabled = "leaver_enabled" in person.tags or rng.random() < 0.7
        else:
            enabled = True
        profile: dict[str, Any] = {
            "sAMAccountName": sam,
            "userPrincipalName": person.email,
            "givenName": person.ascii_given if "cjk" in person.tags else person.given,
            "sn": person.ascii_family if "cjk" in person.tags else person.family,
            "displayName": person.display,
            "mail": person.email,
            "title": title,
            "department": department,
            "employeeID": person.number,
            "company": COMPANY,
            "c": person.country,
            "manager": manager.email if manager else "",
            "telephoneNumber": person.phone,
            "distinguishedName": f"CN={person.display},{AD_OU}",
            "extensionAttribute1": person.cost_center,
            "extensionAttribute2": badge_number(person)
            if has_badge(person) and rng.random() < 0.9
            else "",
            "extensionAttribute3": EMPLOYEE_TYPE[person.employment_type],
        }
        grants.append({"account": sam, "entitlement": "grp-all-staff"})
        if person.department in ("Engineering", "IT", "Sales") or rng.random() < 0.2:
            grants.append({"account": sam, "entitlement": "grp-vpn-users"})
        if person.department == "Finance":
            grants.append({"account": sam, "entitlement": "grp-finance-share"})
        if "it_admin" in person.tags:
            grants.append({"account": sam, "entitlement": "grp-domain-admins"})
        yield _clean(
            {
                "id": sam,
                "display_name": person.display,
                "given_name": profile["givenName"],
                "family_name": profile["sn"],
                "email": person.email,
                "username": sam,
                "employee_ids": [person.number],
                "status": "ENABLED" if enabled else "DISABLED",
                "type": "USER",
                "manager": profile["manager"],
                "profile": profile,
            }
        )
    specials = [
        (
            "svc-backup",
            "Backup Service",
            f"ann.lee+backup@{DOMAIN}",
            "SERVICE_ACCOUNT",
            "ENABLED",
            "Nightly backup job (owner: Ann Lee)",
        ),
        (
            "svc-sql",
            "SQL Server Service",
            "",
            "SERVICE_ACCOUNT",
            "ENABLED",
            "Runs the SQL Server instances",
        ),
        (
            "Administrator",
            "Administrator",
            "",
            "SYSTEM_ACCOUNT",
            "ENABLED",
            "Built-in account for administering the domain",
        ),
        (
            "krbtgt",
            "krbtgt",
            "",
            "SYSTEM_ACCOUNT",
            "DISABLED",
            "Key Distribution Center Service Account",
        ),
    ]
    for sam, display, email, type_, status, description in specials:
        if sam == "Administrator":
            grants.append({"account": sam, "entitlement": "grp-domain-admins"})
        yield _clean(
            {
                "id": sam,
                "display_name": display,
                "email": email,
                "username": sam,
                "status": status,
                "type": type_,
                "profile": {
                    "sAMAccountName": sam,
                    "displayName": display,
                    "mail": email,
                    "description": description,
                    "userPrincipalName": f"{sam}@{DOMAIN}",
                    "distinguishedName": f"CN={display},{AD_OU}",
                },
            }
        )


def entra_accounts(
    people: list[Person], seed: int, grants: list[dict[str, str]], without: list[Person]
) -> Iterator[dict[str, Any]]:
    rng = random.Random(f"{seed}:entra")
    for person in people:
        take = rng.random() < 0.62
        if "new_joiner" in person.tags or "same_name" in person.tags:
            take = "same_name" in person.tags and person.local == "alex.morgan"
        elif person.tags:
            take = True
        if person.leaver and "leaver_enabled" not in person.tags:
            take = take and rng.random() < 0.4
        if not take:
            if not person.leaver and not person.hr_email_empty:
                without.append(person)
            continue
        upn = person.email
        enabled = not person.leaver or "leaver_enabled" in person.tags
        grants.append({"account": upn, "entitlement": "grp-all-staff"})
        grants.append({"account": upn, "entitlement": _dept_group(person.department)})
        if person.department in ("Engineering", "IT", EXECUTIVE[0]):
            grants.append({"account": upn, "entitlement": "lic-e5"})
        elif person.employment_type != "INTERN":
            grants.append({"account": upn, "entitlement": "lic-e3"})
        yield _clean(
            {
                "id": upn,
                "display_name": person.display,
                "given_name": person.given,
                "family_name": person.family,
                "email": upn,
                "username": upn,
                "employee_ids": [person.number],
                "status": "ENABLED" if enabled else "DISABLED",
                "type": "USER",
                "profile": {
                    "displayName": person.display,
                    "mailNickname": person.local,
                    "userPrincipalName": upn,
                    "jobTitle": person.title,
                    "department": person.department,
                    "employeeId": person.number,
                    "accountEnabled": enabled,
                    "usageLocation": person.country,
                },
            }
        )


def _dept_group(department: str) -> str:
    return "grp-" + mail_part(department.replace(" ", "-"))


def entra_entitlements() -> list[dict[str, str]]:
    items = [{"id": "grp-all-staff", "name": "All Staff", "description": "Everyone"}]
    for department in [EXECUTIVE[0], *[d[0] for d in DEPARTMENTS]]:
        items.append(
            {
                "id": _dept_group(department),
                "name": f"{department} team",
                "description": f"Members of {department}",
            }
        )
    items.append(
        {"id": "lic-e3", "name": "Microsoft 365 E3", "description": "Licence: Microsoft 365 E3"}
    )
    items.append(
        {"id": "lic-e5", "name": "Microsoft 365 E5", "description": "Licence: Microsoft 365 E5"}
    )
    return items


GITHUB_TEAMS = [
    ("org-admin", "Organisation owners", "Owners of the example-corp organisation"),
    ("team-platform", "Platform", "Platform team"),
    ("team-frontend", "Frontend", "Frontend team"),
    ("team-data", "Data", "Data team"),
    ("team-security", "Security", "Security team"),
]


def github_accounts(
    people: list[Person], seed: int, grants: list[dict[str, str]]
) -> Iterator[dict[str, Any]]:
    rng = random.Random(f"{seed}:github")
    used_ids: set[str] = set()
    used_logins: set[str] = set()

    def new_id() -> str:
        while True:
            value = str(rng.randrange(100000, 160000000))
            if value not in used_ids:
                used_ids.add(value)
                return value

    def login_for(base: str) -> str:
        login, n = base, 1
        while login.lower() in used_logins:
            n += 1
            login = f"{base}{n}"
        used_logins.add(login.lower())
        return login

    teams = [t[0] for t in GITHUB_TEAMS[1:]]
    for person in people:
        share = {"Engineering": 0.85, "IT": 0.4, "Product": 0.3}.get(person.department, 0.03)
        if "same_name" in person.tags:
            share = 1.0 if person.local == "alex.morgan" else 0.0
        elif "new_joiner" in person.tags:
            share = 0.0
        elif person.tags & {"cjk", "it_admin"} or person.local == "zoe.odegard":
            share = 1.0
        if rng.random() >= share:
            continue
        ga, fa = mail_part(person.ascii_given), mail_part(person.ascii_family)
        style = rng.random()
        if style < 0.35:
            base = f"{ga}{fa}"
        elif style < 0.6:
            base = f"{ga[:1]}{fa}"
        elif style < 0.8:
            base = f"{ga}-{fa}"
        else:
            base = f"{fa}{rng.choice(['42', 'dev', 'codes', 'hq', 'io'])}"
        login = login_for(base)
        naming = rng.random()
        if "cjk" in person.tags:
            display = f"{person.ascii_given} {person.ascii_family}"  # 'Fang Wang', not '王芳'
        elif person.tags:
            display = person.display
        elif naming < 0.6:
            display = person.display
        elif naming < 0.75:
            display = f"{person.ascii_given} {person.ascii_family}"
        else:
            display = ""
        email = person.email if rng.random() < 0.12 else ""
        if not email and rng.random() < 0.04:
            email = f"{login.lower()}@users.noreply.github.com"
        account_id = new_id()
        if "it_admin" in person.tags or (person.title == "Head of Engineering"):
            grants.append({"account": account_id, "entitlement": "org-admin"})
        for team in sorted(set(rng.sample(teams, rng.choice([1, 1, 2])))):
            grants.append({"account": account_id, "entitlement": team})
        yield _clean(
            {
                "id": account_id,
                "display_name": display,
                "email": email,
                "username": login,
                "status": "ENABLED",
                "type": "USER",
                "profile": {"login": login, "site_admin": False},
            }
        )
    for login, display in [("example-ci-bot", "CI Bot"), ("example-release-bot", "")]:
        account_id = new_id()
        grants.append({"account": account_id, "entitlement": "team-platform"})
        yield _clean(
            {
                "id": account_id,
                "display_name": display,
                "username": login,
                "status": "ENABLED",
                "type": "SERVICE_ACCOUNT",
                "profile": {"login": login, "site_admin": False},
            }
        )


SLACK_CHANNELS = [
    ("workspace-admin", "Workspace admin", "Administers the Slack workspace"),
    ("ch-general", "#general", "Company-wide announcements"),
    ("ch-random", "#random", "Everything else"),
    ("ch-engineering", "#engineering", "Engineering discussion"),
    ("ch-sales", "#sales", "Sales team"),
    ("ch-it-help", "#it-help", "Ask IT"),
]


def slack_accounts(
    people: list[Person], seed: int, grants: list[dict[str, str]]
) -> Iterator[dict[str, Any]]:
    rng = random.Random(f"{seed}:slack")
    used: set[str] = set()

    def new_id() -> str:
        alphabet = "ABCDEFGHJKLMNPQRSTUVWXYZ0123456789"
        while True:
            value = "U0" + "".join(rng.choice(alphabet) for _ in range(9))
            if value not in used:
                used.add(value)
                return value

    for person in people:
        if "new_joiner" in person.tags:
            continue
        if not person.tags and rng.random() > 0.93:
            continue
        if person.leaver and "leaver_enabled" not in person.tags and rng.random() < 0.5:
            continue
        email = person.email
        if "slack_plus" in person.tags or (not person.tags and rng.random() < 0.02):
            email = f"{person.local}+slack@{DOMAIN}"
        title = person.title if rng.random() < 0.85 else rng.choice(DEPT_INFO[person.department][1])
        account_id = new_id()
        for channel, share in (("ch-general", 1.0), ("ch-random", 0.6)):
            if rng.random() < share:
                grants.append({"account": account_id, "entitlement": channel})
        channel = {"Engineering": "ch-engineering", "Sales": "ch-sales"}.get(person.department)
        if channel:
            grants.append({"account": account_id, "entitlement": channel})
        if person.department == "IT":
            grants.append({"account": account_id, "entitlement": "ch-it-help"})
        if "it_admin" in person.tags:
            grants.append({"account": account_id, "entitlement": "workspace-admin"})
        yield _clean(
            {
                "id": account_id,
                "display_name": person.display,
                "email": email,
                "username": person.local.replace(".", "") if rng.random() < 0.3 else person.local,
                "status": "DISABLED"
                if person.leaver and "leaver_enabled" not in person.tags
                else "ENABLED",
                "type": "USER",
                "profile": {"title": title, "tz": _tz(person.location)},
            }
        )
    account_id = new_id()
    grants.append({"account": account_id, "entitlement": "ch-general"})
    yield {
        "id": account_id,
        "display_name": "Deploy Bot",
        "username": "deploybot",
        "status": "ENABLED",
        "type": "SERVICE_ACCOUNT",
        "profile": {"title": "Bot"},
    }
    account_id = new_id()
    grants.append({"account": account_id, "entitlement": "ch-general"})
    yield {
        "id": account_id,
        "display_name": "Pat Guest",
        "email": "pat@partner.example",
        "username": "pat.guest",
        "status": "ENABLED",
        "type": "USER",
        "profile": {"title": "Guest (Partner Ltd)"},
    }


def _tz(location: str) -> str:
    return {
        "London": "Europe/London",
        "New York": "America/New_York",
        "San Francisco": "America/Los_Angeles",
        "Berlin": "Europe/Berlin",
        "Oslo": "Europe/Oslo",
        "Madrid": "Europe/Madrid",
        "Toronto": "America/Toronto",
        "Shanghai": "Asia/Shanghai",
    }.get(location, "America/Chicago")


BADGE_COLUMNS = ["id", "display_name", "email", "status", "site", "badge_number"]


def badge_rows(people: list[Person], seed: int) -> Iterator[list[str]]:
    rng = random.Random(f"{seed}:badge")
    n = 0
    for person in people:
        if not has_badge(person):
            continue
        n += 1
        email = "" if rng.random() < 0.15 else person.email
        status = "DISABLED" if person.leaver and rng.random() < 0.6 else "ENABLED"
        yield [
            f"BDG-{n:05d}",
            person.display,
            email,
            status,
            LOCATION_INFO[person.location][2],
            badge_number(person),
        ]
    for visitor in range(1, 4):
        n += 1
        yield [f"BDG-{n:05d}", f"Visitor {visitor:02d}", "", "ENABLED", "LON-1", f"9{visitor:05d}"]


def access_requests(candidates: list[Person], seed: int) -> Iterator[dict[str, Any]]:
    rng = random.Random(f"{seed}:requests")
    picks = rng.sample(candidates, min(7, len(candidates)))
    statuses = ["APPROVED"] * 5 + ["PENDING", "DENIED"]
    for n, (person, status) in enumerate(zip(picks, statuses, strict=False), start=1):
        yield {
            "id": f"REQ-{n:04d}",
            "user_email": person.email,
            "app": "entra",
            "entitlement": "lic-e5",
            "status": status,
            "requested_at": _date(rng, dt.date(2025, 5, 1), TODAY),
            "reason": "Needs Power BI Pro and advanced compliance tools",
        }


# --- the organisation -------------------------------------------------------------------------


def _write_jsonl(path: Path, sections: list[tuple[str, Any]]) -> None:
    """Accounts one JSON object a line; entitlements and grants in the sidecars beside it."""
    stem = path.name.removesuffix(".jsonl")
    for key, items in sections:
        target = path if key == "accounts" else path.with_name(f"{stem}.{key}.jsonl")

        def write(fh: IO[str], items: Any = items) -> None:
            fh.writelines(json.dumps(item, ensure_ascii=False) + "\n" for item in items)

        atomic_write(target, write)


def _write_account_csv(path: Path, records: list[dict[str, Any]]) -> None:
    """Accounts as CSV: the account fields, then one column per profile key."""
    core = [k for k in CSV_ACCOUNT_COLUMNS if any(k in r for r in records)]
    extra = sorted({k for r in records for k in r.get("profile", {})})

    def cell(value: Any) -> str:
        return ";".join(value) if isinstance(value, list) else "" if value is None else str(value)

    rows = (
        [cell(r.get(k)) for k in core] + [cell(r.get("profile", {}).get(k)) for k in extra]
        for r in records
    )
    _write_csv(path, core + extra, rows)


#: The account columns of an app written as CSV, in the file connector's order.
CSV_ACCOUNT_COLUMNS = (
    "id", "display_name", "given_name", "family_name", "email", "emails", "username",
    "usernames", "employee_ids", "status", "type", "manager",
)  # fmt: skip
#: `formats`: "yaml" (the demo's) or "reference" (the 100,000-person reference workload:
#: HR as CSV, the other directories and apps as JSON Lines).
FORMATS = ("yaml", "reference")


def build_organisation(
    out_dir: Path, people: int = 300, seed: int = 7, formats: str = "yaml"
) -> dict[str, Path]:
    """Write every app file under `out_dir/apps/`; returns app id -> file written."""
    out_dir = Path(out_dir)
    apps = out_dir / "apps"
    apps.mkdir(parents=True, exist_ok=True)
    staff = make_people(people, seed)
    written: dict[str, Path] = {}

    def yaml_app(app: str, text: str, sections: list[tuple[str, Any]]) -> None:
        if formats == "reference" and app == "hr":
            path = apps / f"{app}.csv"
            _write_account_csv(path, list(sections[0][1]))
        elif formats == "reference":
            path = apps / f"{app}.jsonl"
            _write_jsonl(path, sections)
        else:
            path = apps / f"{app}.yaml"
            _write_yaml(path, _header(app, text), sections)
        written[app] = path

    yaml_app(
        "hr",
        "the HR system (Workday-like), primary directory; id = employee number.",
        [("accounts", hr_accounts(staff))],
    )
    yaml_app(
        "idp",
        "the identity provider (Okta-like), directory; id = Okta user id.",
        [("accounts", idp_accounts(staff, seed))],
    )
    path = apps / "hr_feed.csv"
    _write_csv(path, HR_FEED_COLUMNS, hr_feed_rows(staff, seed))
    written["hr_feed"] = path

    ad_grants: list[dict[str, str]] = []
    yaml_app(
        "ad",
        "Active Directory (flavour active_directory); id = sAMAccountName.",
        [
            ("accounts", ad_accounts(staff, seed, ad_grants)),
            ("entitlements", ({"id": i, "name": n, "description": d} for i, n, d in AD_GROUPS)),
            ("grants", ad_grants),
        ],
    )
    entra_grants: list[dict[str, str]] = []
    without_entra: list[Person] = []
    yaml_app(
        "entra",
        "Microsoft Entra ID (flavour entra_id); id = userPrincipalName.",
        [
            ("accounts", entra_accounts(staff, seed, entra_grants, without_entra)),
            ("entitlements", entra_entitlements()),
            ("grants", entra_grants),
        ],
    )
    github_grants: list[dict[str, str]] = []
    yaml_app(
        "github",
        "GitHub organisation members; id = numeric user id, few emails.",
        [
            ("accounts", github_accounts(staff, seed, github_grants)),
            ("entitlements", ({"id": i, "name": n, "description": d} for i, n, d in GITHUB_TEAMS)),
            ("grants", github_grants),
        ],
    )
    slack_grants: list[dict[str, str]] = []
    yaml_app(
        "slack",
        "Slack workspace members; id = Slack user id.",
        [
            ("accounts", slack_accounts(staff, seed, slack_grants)),
            (
                "entitlements",
                ({"id": i, "name": n, "description": d} for i, n, d in SLACK_CHANNELS),
            ),
            ("grants", slack_grants),
        ],
    )
    path = apps / "badge.csv"
    _write_csv(path, BADGE_COLUMNS, badge_rows(staff, seed))
    written["badge"] = path
    path = apps / "access_requests.yaml"
    _write_yaml(
        path,
        "# Access requests (used by proactive provisioning): approved requests "
        "for users who have no Entra ID account yet.\n",
        [("requests", access_requests(without_entra, seed))],
    )
    written["access_requests"] = path
    return written


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m sample_data.build",
        description="Write the demo organisation's app files under OUT_DIR/apps/.",
    )
    parser.add_argument("out_dir", type=Path, metavar="OUT_DIR")
    parser.add_argument("--people", type=int, default=300, help="people in HR (default 300)")
    parser.add_argument("--seed", type=int, default=7, help="random seed (default 7)")
    args = parser.parse_args(argv)
    if args.people < MIN_PEOPLE:
        parser.error(f"--people must be at least {MIN_PEOPLE}")
    written = build_organisation(args.out_dir, args.people, args.seed)
    for app, path in written.items():
        print(f"{app:16} {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
