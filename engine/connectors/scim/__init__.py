"""The SCIM 2.0 connector (docs/connectors.md): any SCIM service provider (Entra ID, Okta, most SaaS
apps) through scim2-client on httpx.

Settings (under the app's `settings:`):

    base_url: https://app.example.com/scim/v2   # required: the SCIM endpoint
    token_env: SAAS_SCIM_TOKEN     # the bearer token's environment variable, or
    token_file: ~/.saas-token      # a file only its owner can read (chmod 600)
    timeout: 30                    # seconds one request may take, retries included
    page_size: 100                 # users per page (startIndex/count paging)
    filter: 'userType eq "Employee"'   # optional SCIM filter on the users listed
    resource_type: User            # the only one: Group memberships become entitlements
    groups: true                   # false when the server has no /Groups endpoint
    ca_file: certs/saas-ca.pem     # optional CA bundle for an https server

Layers: settings.py (the settings and what they offer), attributes.py (SCIM attributes under
Roster's flat names, User ↔ account), client.py (scim2-client over httpx with retries, failures
as sentences), connector.py (ScimConnector). Value coercion and the push and creation checks are
engine/connectors/coerce.py; the token is read by engine/connectors/secrets.py.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from engine.connectors.base import ConnectorSpec
from engine.connectors.scim.settings import KIND, ScimSettings, describe_scim, parse_settings

if TYPE_CHECKING:
    from engine.connectors.scim.connector import ScimConnector


def scim_connector(spec: ConnectorSpec) -> ScimConnector:
    """The connector for a SCIM app. scim2-client and httpx are imported here, on first use:
    they take most of a second to import, which validating a configuration or starting the
    CLI should not pay."""
    from engine.connectors.scim.connector import ScimConnector

    return ScimConnector(spec)


__all__ = ["KIND", "ScimSettings", "describe_scim", "parse_settings", "scim_connector"]
