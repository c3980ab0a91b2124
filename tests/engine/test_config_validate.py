"""Configuration validation: every problem is found, located (path, line, column) and explained."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import pytest

from engine.config import ValidationResult, validate_text
from engine.errors import ConfigInvalid, Problem


class NoCel:
    """Checks nothing: keeps these tests about the config layer, whatever the CEL engine says."""

    def check(self, context: str, text: str) -> list[Problem]:
        return []


# The demo's folder: the apps below read its files (a file that does not exist is a warning).
SAMPLE = Path(__file__).resolve().parents[2] / "sample_data"


def run(text: str, **kwargs: object) -> ValidationResult:
    kwargs.setdefault("cel", NoCel())
    return validate_text(textwrap.dedent(text).lstrip("\n"), base_dir=SAMPLE, **kwargs)


def only(result: ValidationResult, path: str, severity: str = "error") -> Problem:
    found = [p for p in result.problems if p.path == path and p.severity == severity]
    assert len(found) == 1, f"expected one {severity} at {path}, got: {result.report()}"
    return found[0]


APPS = """
version: 1
apps:
  - id: hr
    name: HR
    connector: file
    settings: {path: apps/hr.yaml}
  - id: ad
    connector: file
    settings: {path: apps/ad.yaml, flavour: active_directory}
  - id: entra
    connector: file
    settings: {path: apps/entra.yaml, flavour: entra_id}
  - id: github
    connector: file
    settings: {path: apps/github.yaml}
"""


def with_apps(rest: str) -> str:
    return textwrap.dedent(APPS).lstrip("\n") + textwrap.dedent(rest).lstrip("\n")


# Line numbers of the APPS block above: it has 15 lines, so `rest` starts on line 16.
REST = 16


def test_minimal_config_is_valid() -> None:
    result = run(
        with_apps(
            """
            directories:
              - app: hr
            attributes:
              - name: department
                sources: [{app: hr, field: profile.department}]
            """
        )
    )
    assert result.ok, result.report()
    assert result.config is not None
    assert [d.app for d in result.config.directories] == ["hr"]
    assert result.problems == []


# ----------------------------------------------------------------------------- YAML and shape


def test_bad_yaml_is_located() -> None:
    result = run(
        """
        version: 1
        apps:
          - id: hr
           connector: file
        """
    )
    assert not result.ok and result.config is None
    (problem,) = result.problems
    assert "not valid YAML" in problem.message
    assert (problem.line, problem.column) == (4, 4)


def test_tab_indentation_gets_a_hint() -> None:
    result = validate_text("version: 1\napps:\n\t- id: hr\n", cel=NoCel())
    (problem,) = result.problems
    assert problem.line == 3
    assert "tabs" in problem.hint


def test_duplicate_yaml_key_is_an_error() -> None:
    result = run(
        """
        version: 1
        apps:
          - id: hr
            connector: file
            connector: ldap
        """
    )
    problem = only(result, "apps[0].connector")
    assert "given twice" in problem.message
    assert (problem.line, problem.column) == (5, 5)
    assert "line 4" in problem.hint


def test_empty_document_and_missing_version() -> None:
    assert "empty" in run("").problems[0].message
    result = run("apps: []\n")
    assert not result.ok
    assert "`version` is missing" in result.problems[0].message


def test_unsupported_version() -> None:
    problem = only(run("version: 2\n"), "version")
    assert "unsupported version" in problem.message and problem.line == 1


def test_unknown_keys_get_did_you_mean_hints() -> None:
    result = run(
        with_apps(
            """
            directorys:
              - app: hr
            attributes:
              - name: department
                sorces: [{app: hr, field: profile.department}]
            """
        )
    )
    top = only(result, "directorys")
    assert top.message == "unknown key `directorys`"
    assert top.hint == "did you mean `directories`?"
    assert (top.line, top.column) == (REST, 1)
    nested = only(result, "attributes[0].sorces")
    assert nested.hint == "did you mean `sources`?"
    assert (nested.line, nested.column) == (REST + 4, 5)


def test_unknown_key_without_a_close_match_lists_the_allowed_keys() -> None:
    result = run(with_apps("push_rules:\n  - {name: p, app: ad, zzz: 1}\n"))
    problem = only(result, "push_rules[0].zzz")
    assert "allowed keys here: name, app, enabled, targeting, mappings" == problem.hint


def test_wrong_types_are_located_and_explained() -> None:
    result = run(
        with_apps(
            """
            settings:
              deletion_threshold: {max_objects: "500", max_percent: 20}
            push_rules:
              - name: p
                app: ad
                enabled: "yes"
                mappings: {target: title}
            attributes:
              - name: 42
                custom: true
            """
        )
    )
    objects = only(result, "settings.deletion_threshold.max_objects")
    assert objects.message == "`max_objects` must be a whole number, got the text '500'"
    assert objects.hint == "write the number without quotes"
    assert (objects.line, objects.column) == (REST + 1, 37)
    enabled = only(result, "push_rules[0].enabled")
    assert "must be true or false" in enabled.message
    assert enabled.line == REST + 5
    mappings = only(result, "push_rules[0].mappings")
    assert "must be a list, got a mapping" in mappings.message
    name = only(result, "attributes[0].name")
    assert name.message == "`name` must be text, got the number 42"
    assert name.hint == "quote it to keep it as text: '42'"


def test_section_of_the_wrong_kind() -> None:
    result = run("version: 1\napps: {id: hr}\n")
    problem = only(result, "apps")
    assert problem.message == "`apps` must be a list, got a mapping"
    assert (problem.line, problem.column) == (2, 7)


def test_missing_required_field() -> None:
    result = run("version: 1\napps:\n  - id: hr\n    name: HR\n")
    problem = only(result, "apps[0].connector")
    assert problem.message == "`connector` is required here"
    assert "connector: file" in problem.hint
    assert problem.line == 3  # the app's own position


# ----------------------------------------------------------------------------- apps


def test_duplicate_app_ids_and_bad_slug() -> None:
    text = with_apps("").replace("  - id: github", "  - id: hr")
    result = run(text + "  - id: Badge App\n    connector: file\n    settings: {path: b.csv}\n")
    duplicate = only(result, "apps[3].id")
    assert "used twice" in duplicate.message and "apps[0]" in duplicate.hint
    assert (duplicate.line, duplicate.column) == (13, 9)
    slug = only(result, "apps[4].id")
    assert "not a slug" in slug.message and "badge_app" in slug.hint


def test_names_with_escapes_line_breaks_or_bidi_overrides_are_refused() -> None:
    """An app's, a merge rule's or a push rule's name is one line of visible text: an escape
    sequence, a line break or a bidi override (written as YAML escapes) is refused where it
    is, with what it holds shown escaped (the configuration took them; a review's leftover)."""
    text = with_apps(
        """
        directories:
          - app: hr
            merge_rules:
              - {name: "by\\u202email", account: {preset: all_emails}, user: {preset: all_emails}}
        push_rules:
          - name: "ad\\ncore"
            app: ad
        """
    ).replace("name: HR", 'name: "H\\x1b[31mR"')
    result = run(text)
    app = only(result, "apps[0].name")
    assert "`H\\x1b[31mR` holds an invisible or control character (`\\x1b`)" in app.message
    assert "one line of visible text" in app.hint
    assert "\x1b" not in app.message
    rule = only(result, "directories[0].merge_rules[0].name")
    assert "`\\u202e`" in rule.message
    push = only(result, "push_rules[0].name")
    assert "holds a line break or tab (`\\n`)" in push.message


def test_names_and_ids_are_bounded() -> None:
    """A 50-million-character name was saved: 150 MB in the store, and every audit and status
    read it (day-two review). Names are at most 200 characters, ids 64; the longest taken."""
    taken = run(with_apps("").replace("name: HR", "name: " + "y" * 200))
    assert not [p for p in taken.problems if p.path == "apps[0].name"], taken.report()
    long_name = only(run(with_apps("").replace("name: HR", "name: " + "y" * 5000)), "apps[0].name")
    assert "the app's name is 5,000 characters long: a name is at most 200" in long_name.message
    long_id = only(
        run(with_apps("").replace("id: hr\n", "id: " + "h" * 65 + "\n", 1)), "apps[0].id"
    )
    assert "is 65 characters long: an id is at most 64" in long_id.message


def test_any_text_of_the_configuration_is_bounded() -> None:
    """Descriptions, schema keys and mapping targets of 2 million characters were taken into
    the store whole (hostile pass): any text over 65,536 characters is refused where it is."""
    long_text = "d" * 70_000
    text = with_apps("").replace(
        "settings: {path: apps/github.yaml}",
        "settings: {path: apps/github.yaml, push_schema: [{key: x, description: "
        + long_text
        + "}]}",
    )
    problem = only(run(text), "apps[3].settings.push_schema[0].description")
    assert "this text is 70,000 characters long; a value of the configuration is at most" in (
        problem.message
    )


@pytest.mark.parametrize(
    "name",
    ["HR\u3164X", "\u115f", "\u2800", "H\u206aR", "\ufff9", "H\u034fR", "\U000e0041", "HR\u2060"],
)
def test_names_that_show_as_nothing_are_refused(name: str) -> None:
    """Fillers, format characters and the like show as nothing or a blank (second review)."""
    result = run(with_apps("").replace("name: HR", f"name: {json.dumps(name, ensure_ascii=False)}"))
    assert "an invisible or control character" in only(result, "apps[0].name").message


@pytest.mark.parametrize(
    "name",
    ["Zoë Ødegård", "人事部", "O'Brien & Söhne", "👩\u200d💻 Team", "می\u200cخواهم", "[bold]HR"],
)
def test_names_in_any_script_with_emoji_and_joiners_are_taken(name: str) -> None:
    result = run(with_apps("").replace("name: HR", f"name: {json.dumps(name, ensure_ascii=False)}"))
    assert not [p for p in result.problems if p.path == "apps[0].name"], result.report()


def test_a_name_of_blanks_alone_is_refused() -> None:
    result = run(with_apps("").replace("name: HR", 'name: "   "'))
    assert "is only blanks" in only(result, "apps[0].name").message


def test_unknown_connector_kind() -> None:
    result = run("version: 1\napps:\n  - id: x\n    connector: fiel\n")
    problem = only(result, "apps[0].connector")
    assert problem.message == "unknown connector kind `fiel`"
    assert problem.hint == "did you mean `file`?"
    assert (problem.line, problem.column) == (4, 16)


def test_connector_settings_problems_are_located_in_settings() -> None:
    result = run(
        """
        version: 1
        apps:
          - id: x
            connector: file
            settings:
              path: x.yaml
              flavour: active_directoy
        """
    )
    problem = only(result, "apps[0].settings.flavour")
    assert "flavour" in problem.message
    assert (problem.line, problem.column) == (7, 16)


def test_literal_secret_is_rejected() -> None:
    result = run(
        """
        version: 1
        apps:
          - id: ad
            connector: file
            settings:
              path: ad.yaml
              password: hunter2
              client_secret_env: "s3cr3t value!"
              nested: {api_key: abc}
        """
    )
    password = only(result, "apps[0].settings.password")
    assert "secret" in password.message
    assert password.hint.startswith("use `password_env: AD_PASSWORD`")
    assert (password.line, password.column) == (7, 7)
    assert "hunter2" not in password.message + password.hint
    (env,) = [p for p in result.errors if "must name an environment variable" in p.message]
    assert env.path == "apps[0].settings.client_secret_env"
    assert "s3cr3t" not in env.message + env.hint
    assert only(result, "apps[0].settings.nested.api_key").line == 9
    assert not any("s3cr3t" in p.message + p.hint for p in result.problems)


def test_secret_given_as_environment_variable_is_fine() -> None:
    from engine.config import App, RosterConfig, check_config
    from engine.connectors.base import ConnectorDescription

    def accepts_any_settings(spec: object) -> ConnectorDescription:
        return ConnectorDescription(kind="file")

    text = (
        "version: 1\napps:\n  - id: ad\n    connector: file\n"
        "    settings: {path: ad.yaml, password_env: AD_BIND_PASSWORD, "
        "nested: {api_key_env: AD_API_KEY}}\n"
    )
    result = run(text, describe=accepts_any_settings)
    assert result.ok and result.problems == [], result.report()
    assert result.config is not None
    assert result.config.apps[0].settings["password_env"] == "AD_BIND_PASSWORD"

    config = RosterConfig(
        apps=[App(id="ad", connector="file", settings={"path": "ad.yaml", "token_env": "AD_TOKEN"})]
    )
    assert check_config(config, cel=NoCel(), describe=accepts_any_settings) == []

    # the same settings with the secret written in are refused, so the check above is a real one
    literal = run(text.replace("password_env: AD_BIND_PASSWORD", "password: hunter2"))
    assert [p.path for p in literal.errors if "secret" in p.message] == [
        "apps[0].settings.password"
    ]


# ----------------------------------------------------------------------------- directories


def test_directory_problems() -> None:
    result = run(
        with_apps(
            """
            directories:
              - app: hr
              - app: hrr
              - app: hr
                merge_rules:
                  - name: x
                    account: {preset: username, strip_plus_tag: true}
                    user: {}
                  - name: x
                    account: {preset: primary_email, cel: 'account.email'}
                    user: {preset: all_email}
            """
        )
    )
    unknown = only(result, "directories[1].app")
    assert unknown.message == "this directory refers to app `hrr`, which is not defined"
    assert unknown.hint == "did you mean `hr`?"
    assert (unknown.line, unknown.column) == (REST + 2, 10)
    # The third directory's merge rules have a shape error (preset `all_email`); the directory
    # is still checked without them.
    twice = only(result, "directories[2].app")
    assert "listed as a directory twice" in twice.message
    assert twice.line == REST + 3
    assert not [p for p in result.problems if p.path.endswith("strip_plus_tag")]
    preset = only(result, "directories[2].merge_rules[1].user.preset")
    assert "'all_email' is not a valid preset" in preset.message
    assert preset.hint == "did you mean `all_emails`?"


def test_merge_rule_meaning() -> None:
    result = run(
        with_apps(
            """
            directories:
              - app: hr
                merge_rules:
                  - name: x
                    account: {preset: username, strip_plus_tag: true}
                    user: {}
                  - name: X
                    account: {preset: primary_email, cel: 'account.email'}
                    user: {preset: all_emails}
            """
        )
    )
    strip = only(result, "directories[0].merge_rules[0].account.strip_plus_tag")
    assert "email presets" in strip.message
    assert (strip.line, strip.column) == (REST + 4, 53)
    empty = only(result, "directories[0].merge_rules[0].user")
    assert "needs `preset` or `cel`" in empty.message
    both = only(result, "directories[0].merge_rules[1].account")
    assert "both `preset` and `cel`" in both.message
    name = only(result, "directories[0].merge_rules[1].name")
    assert "two rules are named" in name.message


def test_empty_merge_rules_are_an_error() -> None:
    result = run(with_apps("directories:\n  - app: hr\n    merge_rules: []\n"))
    problem = only(result, "directories[0].merge_rules")
    assert "empty" in problem.message and "defaults" in problem.hint
    assert (problem.line, problem.column) == (REST + 2, 18)


def test_non_directory_app_cannot_be_a_directory() -> None:
    def describe(spec: object) -> object:
        from engine.connectors.base import Capabilities, ConnectorDescription

        return ConnectorDescription(kind="file", capabilities=Capabilities(directory=False))

    result = run(with_apps("directories:\n  - app: github\n"), describe=describe)
    problem = only(result, "directories[0].app")
    assert "cannot be a directory" in problem.message


# ----------------------------------------------------------------------------- ownership


def test_ownership_problems() -> None:
    result = run(
        """
        version: 1
        apps:
          - id: hr
            connector: file
            settings: {path: hr.yaml}
            ownership: {strategy: broad}
          - id: badge
            connector: file
            settings: {path: badge.csv}
            ownership: {strategy: custom}
          - id: slack
            connector: file
            settings: {path: slack.yaml}
            ownership:
              strategy: narrow
              rules:
                - {name: r, account: {preset: username}, user: {preset: username}}
          - id: gh
            connector: file
            settings: {path: gh.yaml}
            ownership: {strategy: wide}
        directories:
          - app: hr
        """
    )
    assert "no effect" in only(result, "apps[0].ownership", "warning").message
    assert "at least one rule" in only(result, "apps[1].ownership.rules").message
    assert "only with `strategy: custom`" in only(result, "apps[2].ownership.rules").message
    wide = only(result, "apps[3].ownership.strategy")
    assert "'wide' is not a valid strategy" in wide.message
    assert wide.hint == "use one of: narrow, broad, custom"
    assert (wide.line, wide.column) == (21, 27)


# ----------------------------------------------------------------------------- provisioning


def test_provisioning_problems() -> None:
    result = run(
        with_apps(
            """
            directories: [{app: hr}]
            """
        )
        .replace(
            "    settings: {path: apps/entra.yaml, flavour: entra_id}\n",
            "    settings: {path: apps/entra.yaml, flavour: entra_id}\n"
            "    provisioning:\n"
            "      proactive: true\n"
            "      fields:\n"
            "        displayName: subject.displayName\n"
            "        mailNick: subject.username\n",
        )
        .replace(
            "    settings: {path: apps/github.yaml}\n",
            "    settings: {path: apps/github.yaml}\n"
            "    provisioning: {fields: {login: subject.username}}\n",
        )
    )
    field = only(result, "apps[2].provisioning.fields.mailNick")
    assert field.message == "`mailNick` is not a field of `entra`'s account-creation schema"
    assert field.hint == "did you mean `mailNickname`?"
    assert (field.line, field.column) == (17, 9)
    required = [
        p for p in result.warnings if p.path == "apps[2].provisioning.fields"
    ]  # mailNickname and userPrincipalName are required and unmapped
    assert {p.message.split("`")[1] for p in required} == {"mailNickname", "userPrincipalName"}
    github = only(result, "apps[3].provisioning")
    assert "cannot create accounts" in github.message
    assert github.line == 21


# ----------------------------------------------------------------------------- attributes


def test_attribute_name_problems() -> None:
    result = run(
        with_apps(
            """
            attributes:
              - name: department
                sources: [{app: hr, field: profile.department}]
              - name: department
                sources: [{app: ad, field: profile.department}]
              - name: job_title
                custom: true
                sources: [{app: hr, field: profile.title}]
              - name: cost_center
                custom: true
                sources: [{app: hr, field: profile.cost_center}]
              - name: Cost_Center
                custom: true
                sources: [{app: hr, field: profile.cc}]
              - name: departmnt
                sources: [{app: hr, field: profile.department}]
              - name: employee_id
                multi_valued: true
                sources: [{app: hr, field: employee_ids}]
              - name: Job-Code
                custom: true
                sources: [{app: hr, field: profile.code}]
            """
        )
    )
    twice = only(result, "attributes[1].name")
    assert "standard attribute `department` is mapped twice" in twice.message
    assert twice.line == REST + 3
    custom = only(result, "attributes[2].custom")
    assert "is a standard attribute, so it cannot be custom" in custom.message
    assert (custom.line, custom.column) == (REST + 6, 13)
    case = only(result, "attributes[4].name")
    assert "defined twice" in case.message and "regardless of case" in case.message
    typo = only(result, "attributes[5].name")
    assert typo.message == "`departmnt` is not a standard attribute"
    assert typo.hint == (
        "did you mean `department`? To define a custom attribute, add `custom: true`."
    )
    kind = only(result, "attributes[6].multi_valued")
    assert "single-valued" in kind.message
    assert "cannot be used in CEL" in only(result, "attributes[7].name").message


def test_attribute_source_problems() -> None:
    result = run(
        with_apps(
            """
            attributes:
              - name: department
                sources:
                  - {app: hr}
                  - {}
                  - {app: hrr, field: profile.department}
                  - {app: hr, field: profile.department, cel: 'subject.department'}
                  - {app: hr, field: emial}
              - name: job_title
                sources: []
            """
        )
    )
    assert "`field` is required with `app`" in only(result, "attributes[0].sources[0]").message
    neither = only(result, "attributes[0].sources[1]")
    assert neither.message == "a source needs `app` and `field`, or `cel`"
    assert (neither.line, neither.column) == (REST + 4, 9)
    unknown = only(result, "attributes[0].sources[2].app")
    assert unknown.message == "this source refers to app `hrr`, which is not defined"
    assert "both" in only(result, "attributes[0].sources[3]").message
    field = only(result, "attributes[0].sources[4].field")
    assert field.message == "`emial` is not an account field"
    assert field.hint == "did you mean `email`?"
    assert "no sources" in only(result, "attributes[1].sources", "warning").message


def test_flow_rule_problems() -> None:
    result = run(
        with_apps(
            """
            attributes:
              - name: department
                sources:
                  - {app: hr, field: profile.department}
                  - {app: ad, field: profile.department}
                flow_rules:
                  - {app: hr, direction: inbound, create: 50, update: 150, delete: -1}
                  - {app: ad, direction: sideways}
              - name: job_title
                sources: [{app: hr, field: profile.job_title}]
                flow_rules:
                  - {app: hr}
                  - {app: hr, direction: outbound}
                  - {app: nope}
                  - {app: github, direction: inbound}
            """
        )
    )
    update = only(result, "attributes[0].flow_rules[0].update")
    assert update.message == "`update` is 150; it must be between 0 and 100"
    assert (update.line, update.column) == (REST + 6, 59)
    delete = only(result, "attributes[0].flow_rules[0].delete")
    assert delete.message == "`delete` is -1; it must be between 0 and 100"
    direction = only(result, "attributes[0].flow_rules[1].direction")
    assert direction.message == "'sideways' is not a valid direction"
    assert direction.hint == "use one of: inbound, outbound, bidirectional, disabled"
    assert (direction.line, direction.column) == (REST + 7, 30)
    assert "two flow rules for `hr`" in only(result, "attributes[1].flow_rules[1].app").message
    unknown = only(result, "attributes[1].flow_rules[2].app")
    assert "refers to app `nope`" in unknown.message
    useless = only(result, "attributes[1].flow_rules[3].app", "warning")
    assert "no effect" in useless.message


# ----------------------------------------------------------------------------- push rules


PUSH_ATTRIBUTES = """
attributes:
  - name: department
    sources: [{app: hr, field: profile.department}, {app: ad, field: profile.department}]
    flow_rules:
      - {app: hr, direction: inbound, update: 60}
      - {app: ad, direction: inbound, update: 45}
  - name: job_title
    sources: [{app: hr, field: profile.job_title}]
  - name: manager_email
    sources: [{app: hr, field: profile.manager_email}]
    flow_rules: [{app: hr, direction: inbound}]
"""


def line_of(text: str, needle: str) -> int:
    return text[: text.index(needle)].count("\n") + 1


def test_push_rule_problems() -> None:
    text = with_apps(PUSH_ATTRIBUTES) + textwrap.dedent(
        """
            push_rules:
              - name: ad-core
                app: ad
                mappings:
                  - {target: title, attribute: job_title}
                  - {target: department, attribute: department}
                  - {target: myCustomThing, cel: 'subject.email'}
              - name: ad-more
                app: ad
                mappings: [{target: title, attribute: job_titel}]
              - name: entra
                app: entra
                targeting: {kind: cel}
                mappings:
                  - {target: jobTitel, attribute: job_title}
                  - {target: jobtitle}
                  - {target: manager, attribute: manager_email, cel: 'subject.manager'}
              - name: gh
                app: github
                targeting:
                  kind: filter
                  entitlements: [{app: githb, entitlement: admins}]
                  attributes: {departmnt: Engineering}
                mappings: [{target: login, attribute: job_title}]
              - name: nowhere
                app: nowhere
                enabled: false
                targeting: {kind: everyone, cel: 'true'}
            """
    )
    result = run(text)
    # the inbound flow rule for AD makes pushing department there a warning
    inbound = only(result, "push_rules[0].mappings[1].attribute", "warning")
    assert "inbound" in inbound.message
    assert (inbound.line, inbound.column) == (line_of(text, "{target: department"), 41)
    # AD allows custom push attributes: no problem for myCustomThing
    assert not [p for p in result.problems if p.path.startswith("push_rules[0].mappings[2]")]
    enabled = only(result, "push_rules[1].enabled")
    assert "two enabled push rules target `ad`" in enabled.message
    assert enabled.line == line_of(text, "name: ad-more")  # no `enabled:`: the rule's line
    assert "did you mean `job_title`?" == only(result, "push_rules[1].mappings[0].attribute").hint
    cel = only(result, "push_rules[2].targeting.cel")
    assert "`kind: cel` needs a `cel` condition" in cel.message
    schema = only(result, "push_rules[2].mappings[0].target")
    assert "not in `entra`'s push schema" in schema.message
    assert schema.hint == "did you mean `jobTitle`?"
    assert "needs `attribute` or `cel`" in only(result, "push_rules[2].mappings[1]").message
    assert "both `attribute` and `cel`" in only(result, "push_rules[2].mappings[2]").message
    assert "no flow rule" not in result.report()  # manager is not in entra's schema at all
    no_push = only(result, "push_rules[3].app")
    assert "does not support push" in no_push.message
    assert (
        "refers to app `githb`"
        in only(result, "push_rules[3].targeting.entitlements[0].app").message
    )
    attr = only(result, "push_rules[3].targeting.attributes.departmnt")
    assert "refers to attribute `departmnt`" in attr.message
    assert "refers to app `nowhere`" in only(result, "push_rules[4].app").message
    stray = only(result, "push_rules[4].targeting.cel")
    assert "only with `kind: cel`" in stray.message


def test_push_to_app_without_flow_rule_on_authoritative_attribute_warns() -> None:
    result = run(
        with_apps(PUSH_ATTRIBUTES)
        + "push_rules:\n  - {name: e, app: entra, mappings: [{target: department, "
        "attribute: department}]}\n"
    )
    assert result.ok
    warning = only(result, "push_rules[0].mappings[0].attribute", "warning")
    assert "none for `entra`" in warning.message
    assert "direction: outbound" in warning.hint


def test_an_outbound_app_listed_as_a_source_warns() -> None:
    result = run(
        with_apps(
            PUSH_ATTRIBUTES.replace(
                "{app: ad, direction: inbound, update: 45}", "{app: ad, direction: outbound}"
            )
        )
    )
    assert result.ok, result.report()
    warning = only(result, "attributes[0].flow_rules[1].direction", "warning")
    assert "its flow rule is outbound" in warning.message and "ignored" in warning.message
    assert "bidirectional" in warning.hint


def test_disabled_push_rules_do_not_count_as_a_second_rule() -> None:
    result = run(
        with_apps(PUSH_ATTRIBUTES) + "push_rules:\n"
        "  - {name: a, app: ad, mappings: [{target: title, attribute: job_title}]}\n"
        "  - {name: b, app: ad, enabled: false,\n"
        "     mappings: [{target: title, attribute: job_title}]}\n"
    )
    assert result.ok, result.report()


# ----------------------------------------------------------------------------- all at once


def test_every_problem_is_reported_in_file_order() -> None:
    result = run(
        """
        version: 1
        setings: {}
        apps:
          - id: hr
            connector: file
            settings: {path: hr.yaml, token: abc}
          - id: hr
            connector: file
        directories:
          - app: ldap
        attributes:
          - name: department
            sources: [{app: hr, field: profile.department}]
            flow_rules: [{app: hr, direction: in, update: 101}]
        push_rules:
          - {name: p, app: nope, mappings: [{target: x, attribute: nope}]}
        """
    )
    assert not result.ok and result.config is None
    paths = [p.path for p in result.errors]
    assert paths == [
        "setings",
        "apps[0].settings.token",
        "apps[1].id",
        "directories[0].app",
        "attributes[0].flow_rules[0].direction",
        "attributes[0].flow_rules[0].update",
        "push_rules[0].app",
        "push_rules[0].mappings[0].attribute",
    ]
    lines = [p.line for p in result.errors]
    assert lines == sorted(lines)
    assert all(p.line and p.column and p.message for p in result.errors)
    with pytest.raises(ConfigInvalid) as raised:
        result.raise_for_errors()
    assert len(raised.value.problems) == len(result.errors)
    assert "nothing was changed" in raised.value.message
    assert "<config>: setings: line 2, column 1: unknown key `setings`" in result.report()


# ----------------------------------------------------------------------------- CEL locations


class RecordingCel:
    """Reports one error at a fixed place inside every expression, and remembers the calls."""

    def __init__(self, line: int, column: int) -> None:
        self.line, self.column = line, column
        self.calls: list[tuple[str, str]] = []

    def check(self, context: str, text: str) -> list[Problem]:
        self.calls.append((context, text))
        return [Problem("boom", line=self.line, column=self.column, hint="fix it")]


def test_every_cel_field_is_checked_in_its_context() -> None:
    cel = RecordingCel(1, 1)
    run(
        with_apps(
            """
            directories:
              - app: hr
                filter: 'true'
                merge_rules:
                  - {name: a, account: {cel: account.email}, user: {cel: subject.email}}
            attributes:
              - name: department
                sources: [{cel: accounts.hr.profile.department}]
            push_rules:
              - name: p
                app: ad
                targeting: {kind: cel, cel: 'subject.status == "ENABLED"'}
                mappings: [{target: title, cel: subject.jobTitle}]
            """
        ).replace(
            "    settings: {path: apps/entra.yaml, flavour: entra_id}\n",
            "    settings: {path: apps/entra.yaml, flavour: entra_id}\n"
            "    ownership:\n"
            "      strategy: custom\n"
            "      rules: [{name: o, account: {cel: account.username}, user: {preset: username}}]\n"
            "    provisioning: {fields: {displayName: subject.displayName}}\n",
        ),
        cel=cel,
    )
    assert sorted(cel.calls) == sorted(
        [
            ("account_key", "account.username"),
            ("provisioning_field", "subject.displayName"),
            ("directory_filter", "true"),
            ("account_key", "account.email"),
            ("user_key", "subject.email"),
            ("attribute_source", "accounts.hr.profile.department"),
            ("push_condition", 'subject.status == "ENABLED"'),
            ("push_mapping", "subject.jobTitle"),
        ]
    )


CEL_HEAD = (
    "version: 1\n"
    "apps: [{id: hr, connector: file, settings: {path: hr.yaml}}]\n"
    "directories:\n"
    "  - app: hr\n"
)


@pytest.mark.parametrize(
    ("scalar", "line", "column", "expected"),
    [
        # plain scalar: the node's start plus the column
        ("filter: account.type == 1", 1, 14, (5, 26)),
        # single-quoted: one more for the quote
        ("filter: 'account.type == 1'", 1, 14, (5, 27)),
        # double-quoted
        ('filter: "account.type == \\"x\\""', 1, 14, (5, 27)),
        # literal block: the expression starts on the next line, after the indentation
        ("filter: |\n      account.type\n        == 1", 2, 4, (7, 10)),
        # literal block with a comment on the header line and an indentation indicator
        ("filter: |2  # note\n        account.type\n          == 1", 2, 5, (7, 11)),
        # folded block: lines fold into one, the position lands on the right file line
        ("filter: >\n      account.type\n      == 1", 1, 14, (7, 7)),
        # a plain scalar folded over two lines
        ("filter: account.type\n      == 1", 1, 15, (6, 8)),
        # a quoted scalar folded over two lines
        ("filter: 'account.type\n      == 1'", 1, 15, (6, 8)),
    ],
)
def test_cel_positions_map_into_the_file(
    scalar: str, line: int, column: int, expected: tuple[int, int]
) -> None:
    import yaml

    text = CEL_HEAD + "    " + scalar + "\n"
    result = validate_text(text, cel=RecordingCel(line, column), base_dir=Path("/tmp"))
    problem = only(result, "directories[0].filter")
    assert problem.message == "boom" and problem.hint == "fix it"
    assert (problem.line, problem.column) == expected
    # The character the CEL engine pointed at is the one the file position shows.
    expression = yaml.safe_load(text)["directories"][0]["filter"]
    wanted = expression.split("\n")[line - 1][column - 1]
    assert text.split("\n")[expected[0] - 1][expected[1] - 1] == wanted


def test_cel_warnings_keep_their_severity() -> None:
    class Warn:
        def check(self, context: str, text: str) -> list[Problem]:
            return [
                Problem("profile key `departmnt` not found", line=1, column=17, severity="warning")
            ]

    result = run(
        with_apps("directories:\n  - {app: hr, filter: 'account.profile.departmnt == \"x\"'}\n"),
        cel=Warn(),
    )
    assert result.ok
    warning = only(result, "directories[0].filter", "warning")
    assert (warning.line, warning.column) == (REST + 1, 40)


def test_empty_cel_is_an_error() -> None:
    result = run(with_apps("directories:\n  - {app: hr, filter: ''}\n"))
    assert "empty" in only(result, "directories[0].filter").message


def test_real_cel_errors_are_located_in_the_file() -> None:
    text = textwrap.dedent(
        """\
        version: 1
        apps:
          - {id: hr, connector: file, settings: {path: hr.yaml}}
          - {id: ad, connector: file, settings: {path: ad.yaml, flavour: active_directory}}
        directories:
          - app: hr
            filter: |
              account.status == UserStatus.DISABLED
                ? "IGNORE"
                : account.profile.x +
        attributes:
          - name: department
            sources:
              - {cel: 'user.department'}
        push_rules:
          - name: p
            app: ad
            mappings:
              - {target: title, cel: 'subject.departmnt'}
        """
    )
    result = validate_text(text, base_dir=Path("/tmp"))  # the real CEL engine
    assert not result.ok
    by_path = {p.path: p for p in result.errors}
    assert set(by_path) == {
        "directories[0].filter",
        "attributes[0].sources[0].cel",
        "push_rules[0].mappings[0].cel",
    }
    # the filter ends too early: on its last line, just past the `+`
    assert by_path["directories[0].filter"].line == 10
    assert by_path["directories[0].filter"].column == 30
    user = by_path["attributes[0].sources[0].cel"]
    assert (user.line, user.column) == (14, 16)
    assert "`user`" in user.message and "subject" in user.message
    field = by_path["push_rules[0].mappings[0].cel"]
    assert (field.line, field.column) == (19, 39)
    assert "department" in field.message + field.hint


def test_an_integer_literal_out_of_range_is_located_in_the_file() -> None:
    text = textwrap.dedent(
        """\
        version: 1
        apps:
          - {id: hr, connector: file, settings: {path: hr.yaml}}
        directories:
          - app: hr
            filter: 'account.profile.level == "1" || 12345678901234567890123456 > 0'
        """
    )
    result = validate_text(text, base_dir=Path("/tmp"))  # the real CEL engine
    (problem,) = result.errors
    assert problem.path == "directories[0].filter"
    assert problem.message.startswith("integer literal out of range: int is 64-bit")
    assert "cannot check" not in problem.message
    assert (problem.line, problem.column) == (6, 46)
    assert text.splitlines()[5][45:].startswith("12345678901234567890123456")


@pytest.mark.parametrize(
    ("text", "line", "column", "shown", "escape"),
    [
        ("version: 1\napps: [\x1b]0;x\x07\n", 2, 8, "\\x1b", "\\e"),
        ('version: 1\napps: []\nsettings: {a: "x\x00"}\n', 3, 17, "\\x00", "\\0"),
        ("version: 1\r\napps: []\x7f\r\n", 2, 9, "\\x7f", "\\x7f"),
        ("version: 1\napps: [] # \x9b31m\n", 2, 12, "\\x9b", "\\x9b"),
        ("version: 1\napps: [] # \ufffe\n", 2, 12, "\\ufffe", "\\ufffe"),
    ],
)
def test_a_control_character_is_a_located_problem(
    text: str, line: int, column: int, shown: str, escape: str
) -> None:
    result = validate_text(text, cel=NoCel())
    assert not result.ok and result.config is None
    (problem,) = result.problems
    assert f"({shown})" in problem.message and "YAML does not allow" in problem.message
    assert (problem.line, problem.column) == (line, column)
    assert f'"{escape}"' in problem.hint and "remove it" in problem.hint
    assert "\x1b" not in result.report() and "\x00" not in result.report()
    assert f"line {line}, column {column}" in result.report()


def test_a_file_that_is_not_utf8_or_is_empty(tmp_path: Path) -> None:
    from engine.config import decode_config, read_config_file, validate_file

    latin = tmp_path / "latin.yaml"
    latin.write_bytes("version: 1\napps: []\n# café ünïcode\n".encode("latin-1"))
    result = validate_file(latin)
    (problem,) = result.problems
    assert "not UTF-8" in problem.message and "0xe9" in problem.message
    assert (problem.line, problem.column) == (3, 6)
    assert "UTF-8" in problem.hint
    with pytest.raises(ConfigInvalid) as error:
        read_config_file(latin)
    assert "not UTF-8" in error.value.message and error.value.problems == [problem]
    with pytest.raises(ConfigInvalid):
        decode_config(b"version: 1\n\xff\xfe")
    assert decode_config("version: 1 # é\n".encode()) == "version: 1 # é\n"
    missing = validate_file(tmp_path / "missing.yaml")
    assert "cannot read" in missing.problems[0].message
    for empty in ("", "\n\n", "# only a comment\n"):
        (tmp_path / "empty.yaml").write_text(empty)
        result = validate_file(tmp_path / "empty.yaml")
        assert [p.message for p in result.problems] == ["the configuration is empty"]


def test_anchors_aliases_and_merge_keys_work() -> None:
    result = run(
        """
        version: 1
        x-file: &file {connector: file}
        apps:
          - {<<: *file, id: hr, settings: {path: hr.yaml}}
          - <<: *file
            id: idp
            settings: {path: idp.yaml}
        """
    )
    # the helper key is unknown, but the merged apps are read correctly
    assert [p.path for p in result.errors] == ["x-file"]
    result = run(
        """
        version: 1
        apps:
          - {id: hr, connector: file, settings: &s {path: hr.yaml}}
          - {id: idp, connector: file, settings: *s}
        """
    )
    assert result.ok, result.report()
    assert result.config is not None
    assert result.config.apps[1].settings == {"path": "hr.yaml"}


def test_alias_bomb_and_recursive_documents_stay_cheap() -> None:
    lines = ["version: 1", "a: &a [x, x, x, x, x, x, x, x, x, x]"]
    for i in range(1, 12):
        prev, name = chr(96 + i), chr(97 + i)
        lines.append(f"{name}: &{name} [" + ", ".join([f"*{prev}"] * 10) + "]")
    result = run("\n".join(lines) + "\n")
    assert not result.ok
    # one unknown key per line, nothing expanded; and what the aliases would expand to
    assert len(result.problems) == 13
    assert (
        "add up to 1,111,111,111,137 characters once its YAML aliases" in result.problems[0].message
    )
    # aliases of one long text in a small file (a 74 KB file stored 120 MB: hostile pass)
    long_text = "D" * 60_000
    amplified = run(f'version: 1\napps: []\nx: [&v "{long_text}"' + ", *v" * 200 + "]\n")
    assert any("once its YAML aliases are expanded" in p.message for p in amplified.errors)
    recursive = run("version: 1\napps: &x [*x]\n")
    assert not recursive.ok


def test_yaml_tags_are_refused() -> None:
    result = run(
        """
        version: 1
        apps:
          - id: hr
            connector: !!python/object:os.system {}
            name: !secret hr
        """
    )
    tags = [p for p in result.errors if "YAML tag" in p.message]
    assert [(p.path, p.line, p.column) for p in tags] == [
        ("apps[0].connector", 4, 16),
        ("apps[0].name", 5, 11),
    ]
    assert "`!!python/object:os.system`" in tags[0].message


def test_check_config_on_a_model_built_in_code() -> None:
    from engine.config import App, Directory, RosterConfig, check_config

    config = RosterConfig(
        apps=[App(id="hr", connector="file", settings={"path": "hr.yaml", "token": "t0k"})],
        directories=[Directory(app="hr"), Directory(app="idp")],
    )
    problems = check_config(config, cel=NoCel(), base_dir=Path("/tmp"))
    errors = [(p.path, p.line) for p in problems if p.severity == "error"]
    assert ("apps[0].settings.token", None) in errors
    assert ("directories[1].app", None) in errors


def test_a_file_the_connector_reads_that_is_missing_is_a_warning() -> None:
    result = run(
        """
        version: 1
        apps:
          - id: hr
            connector: file
            settings: {path: apps/hr-old.yaml}
        """
    )
    assert result.ok  # a warning: the file may be copied in before the next sync
    problem = only(result, "apps[0].settings.path", "warning")
    assert (
        problem.message == f"app `hr` reads {SAMPLE / 'apps' / 'hr-old.yaml'}, which does not exist"
    )
    assert problem.hint == (
        f"`apps/hr-old.yaml` is relative to the configuration file's folder ({SAMPLE}); "
        "fix `path` or put the file there before the next sync"
    )
    assert (problem.line, problem.column) == (5, 22)


def test_a_source_given_twice_is_a_warning_naming_the_first() -> None:
    result = run(
        with_apps(
            """
            attributes:
              - name: department
                sources:
                  - {app: hr, field: profile.department}
                  - {cel: 'subject.department'}
                  - {app: hr, field: profile.department}
                  - {cel: '  subject.department '}
                  - {app: ad, field: profile.department}
              - name: job_title
                sources:
                  - {app: hr}
                  - {app: hr}
            """
        )
    )
    assert not [p for p in result.errors if p.path.startswith("attributes[0]")], result.report()
    twice = only(result, "attributes[0].sources[2]", "warning")
    assert twice.message == (
        "this source repeats sources[0] of `department` (hr:profile.department): it adds nothing"
    )
    assert twice.hint == "remove it"
    cel = only(result, "attributes[0].sources[3]", "warning")
    assert "repeats sources[1]" in cel.message and "cel: subject.department" in cel.message
    assert not [p for p in result.problems if p.path == "attributes[0].sources[4]"]
    # a source that is not whole is an error each time, never "repeated"
    only(result, "attributes[1].sources[0]")
    only(result, "attributes[1].sources[1]")


@pytest.mark.parametrize("name", ["team\n", "team\r\n"])
def test_a_custom_attribute_name_ending_in_a_line_break_is_refused(name: str) -> None:
    """`$` matched before a final line break: "team\\n" was taken as a name CEL can use
    (review)."""
    document = with_apps("attributes: []\n")
    result = validate_text(
        document.replace(
            "attributes: []", "attributes:\n  - {name: " + json.dumps(name) + ", custom: true}"
        ),
        base_dir=SAMPLE,
        cel=NoCel(),
    )
    assert not result.ok
    assert any(p.path.startswith("attributes[0]") for p in result.errors), result.report()
