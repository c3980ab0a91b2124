"""The file connector (docs/connectors.md): one YAML, CSV or JSON Lines file per app, written back
atomically.

One module per layer: settings.py (the app's settings and what they make it offer), records.py
(record mappings to Listed* values), store.py (what the stores share), yaml_store.py,
csv_store.py and jsonl_store.py (the three formats), writeback.py (a push or a creation applied
to a record), and connector.py (FileConnector). Value coercion and the push and creation checks
are in engine/connectors/coerce.py, shared with the other connectors.

YAML file:

    accounts:
    - id: ann.lee                 # required, unique
      display_name: Ann Lee
      given_name: Ann
      family_name: Lee
      email: ann.lee@example.com
      emails: [ann.lee+it@example.com]
      username: ann.lee
      usernames: []
      employee_ids: [E10001]
      status: ENABLED             # ENABLED | DISABLED | DELETED (any case)
      type: USER                  # USER | SERVICE_ACCOUNT | SYSTEM_ACCOUNT
      manager: E10000
      profile: {title: Engineer}  # the app's own attributes
    entitlements:
    - {id: grp-eng, name: Engineering, description: ...}
    grants:
    - {account: ann.lee, entitlement: grp-eng}

CSV file: one row per account; columns id, display_name, given_name, family_name, email, emails,
username, usernames, employee_ids, status, type, manager (lists separated by `;`); every other
column is a profile attribute (an empty cell means "no value"). Entitlements and grants live in
`<stem>.entitlements.csv` (id,name,description) and `<stem>.grants.csv` (account,entitlement).

JSON Lines file: one account per line as a JSON object with the YAML account's fields;
entitlements and grants in `<stem>.entitlements.jsonl` and `<stem>.grants.jsonl`, one JSON
object per line ({"id", "name", "description"}, {"account", "entitlement"}).

All three are read as strict UTF-8. What cannot be stored fails the app's import with the file
and line, like any other problem, and the app's accounts stay as they were: an escape that makes
no character (a lone surrogate such as "\\uD800"), a profile value nesting lists or mappings more
than 32 levels deep (a YAML document more than 64), a value that contains itself through an
alias, and aliases that expand a file far beyond what it spells out (a "billion laughs").
"""

from engine.connectors.file.connector import FileConnector
from engine.connectors.file.settings import KIND, FileSettings, describe_file, parse_settings

__all__ = ["KIND", "FileConnector", "FileSettings", "describe_file", "parse_settings"]
