"""The SCIM 2.0 connector (docs/connectors.md): Users listed page by page (startIndex/count), Group
memberships as entitlements, pushes as a PATCH of only the changed attributes (a PUT of the
whole User where the server has no PATCH), accounts created with a POST.

Every request goes through client.ScimClient (retries within the timeout); every failure is a
ConnectorError naming the app, the server, what was being done and what to check.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any, TypeVar

import httpx
from scim2_client import SCIMClientException
from scim2_models import (
    Group,
    PatchOp,
    PatchOperation,
    SCIMException,
    SearchRequest,
    ServiceProviderConfig,
)

from engine.connectors.base import (
    ConnectorDescription,
    ConnectorSpec,
    ListedAccount,
    ListedEntitlement,
    ListedGrant,
    Listing,
)
from engine.connectors.coerce import check_creation, resolve_push
from engine.connectors.limits import value_problem
from engine.connectors.scim.attributes import (
    WORK_EMAIL_PATH,
    account_from_user,
    add_work_email,
    patch_operation,
    user_body,
)
from engine.connectors.scim.client import (
    ScimClient,
    ScimUser,
    describe_failure,
    raise_for_error,
    scim_error_text,
    without,
)
from engine.connectors.scim.settings import parse_settings
from engine.connectors.secrets import read_secret
from engine.errors import ConnectorError
from engine.text import printable

T = TypeVar("T")
MAX_PAGES = 100_000  # a server whose totalResults never ends cannot hold a sync forever
PATCH_SCHEMA = "urn:ietf:params:scim:api:messages:2.0:PatchOp"


class ScimConnector:
    """Connector over one SCIM 2.0 service provider."""

    def __init__(self, spec: ConnectorSpec) -> None:
        self.spec = spec
        self.settings = parse_settings(spec)
        self.app_id = spec.app_id
        self._client: ScimClient | None = None
        self._token = ""
        self._patch: bool | None = None

    def describe(self) -> ConnectorDescription:
        return self.settings.description

    def source_version(self) -> str | None:
        return None  # SCIM offers no cheap digest of all users: every sync lists them

    # Connection ---------------------------------------------------------------------------

    def _connect(self) -> ScimClient:
        if self._client is None:
            s = self.settings
            token = read_secret(self.app_id, s.settings, "token", s.base_dir)
            if token is None:  # validation refuses this; a store from elsewhere may not have
                raise ConnectorError(
                    f"App '{self.app_id}': no token is configured; add token_env: VARIABLE or "
                    "token_file: PATH to its settings."
                )
            self._token = token
            verify: Any = str(s.ca_file) if s.ca_file else True
            http = httpx.Client(
                base_url=s.base_url,
                headers={
                    "Authorization": f"Bearer {self._token}",
                    "Accept": "application/scim+json, application/json",
                },
                verify=verify,
                follow_redirects=False,  # a redirect would carry the token elsewhere
            )
            self._client = ScimClient(http, s.timeout)
        return self._client

    def close(self) -> None:
        if self._client is not None:
            self._client.http.close()
            self._client = None

    def _call(self, doing: str, call: Callable[[ScimClient], T]) -> T:
        """Run one request; any failure becomes the admin's ConnectorError."""
        client = self._connect()
        try:
            result = call(client)
            raise_for_error(result)
            return result
        except (SCIMException, SCIMClientException, httpx.HTTPError) as exc:
            error = describe_failure(
                self.app_id, self.settings.base_url, doing, exc, client, self.settings.token_ref
            )
            raise without(self._token, error) from None

    # Import -------------------------------------------------------------------------------

    def _pages(
        self, resource_type: str, what: str, limit: int | None = None
    ) -> Iterator[dict[str, Any]]:
        """Every resource of a resource type, page by page (RFC 7644 §3.4.2.4)."""
        start, seen, size = 1, 0, self.settings.page_size
        if limit is not None:
            size = min(size, limit)
        ids: set[str] = set()
        for _ in range(MAX_PAGES):
            doing = f"listing {what} (startIndex {start})"
            page = self._page(resource_type, start, size, doing)
            resources = self._resources(page, doing)
            new = {str(r.get("id")) for r in resources} - ids
            if resources and not new:
                raise ConnectorError(
                    f"App '{self.app_id}': the SCIM server at {self.settings.base_url} answered "
                    f"startIndex {start} with {what} it had already listed, so its paging does "
                    f"not work; nothing was imported. Check the server, or raise page_size above "
                    f"the number of {what} so that one page holds them all."
                )
            ids |= new
            yield from resources
            seen += len(resources)
            total = page.get("totalResults") if isinstance(page, dict) else None
            if not resources or (limit is not None and seen >= limit):
                return
            if isinstance(total, int) and start - 1 + len(resources) >= total:
                return
            start += len(resources)
        raise ConnectorError(
            f"App '{self.app_id}': the SCIM server at {self.settings.base_url} kept returning "
            f"pages of {what} past {MAX_PAGES} pages. Check the server's paging (totalResults)."
        )

    def _page(self, resource_type: str, start: int, size: int, doing: str) -> Any:
        request: SearchRequest[Any] = SearchRequest(
            start_index=start,
            count=size,
            filter=(self.settings.filter or None) if resource_type == "User" else None,
        )
        return self._call(doing, lambda c: c.query(resource_type, query_parameters=request))

    def _resources(self, page: Any, doing: str) -> list[dict[str, Any]]:
        resources = page.get("Resources") if isinstance(page, dict) else None
        if resources is None and isinstance(page, dict) and "totalResults" in page:
            return []  # RFC 7644: Resources may be left out when there are none
        if not isinstance(resources, list) or not all(isinstance(r, dict) for r in resources):
            raise ConnectorError(
                f"App '{self.app_id}': the SCIM server at {self.settings.base_url} answered "
                f"{doing} with something that is not a SCIM ListResponse. Check that base_url "
                "is the SCIM endpoint (it usually ends in /scim/v2)."
            )
        return resources

    def _accounts(self, limit: int | None = None) -> tuple[list[ListedAccount], dict[str, str]]:
        """The users, and those held back (id -> why): a user with a value Roster refuses
        keeps its account as it was, and the others are imported (Listing.held)."""
        accounts: list[ListedAccount] = []
        held: dict[str, str] = {}
        seen: set[str] = set()
        for user in self._pages("User", "users", limit):
            account = account_from_user(user)
            if not account.external_id:
                raise ConnectorError(
                    f"App '{self.app_id}': the SCIM server at {self.settings.base_url} listed a "
                    f"user without an id (userName {account.username!r}). Every SCIM resource "
                    "has an id; check the server."
                )
            if account.external_id in seen:
                continue  # pages shifted while listing: the user is already listed
            seen.add(account.external_id)
            problem = value_problem(account)
            if problem:  # what a file app refuses (engine.connectors.limits)
                held[account.external_id] = (
                    f"App '{self.app_id}': the SCIM server at {self.settings.base_url} listed "
                    f"the user '{printable(account.external_id, 80)}': {problem}. Fix the value "
                    "on the server; until then its account stays as it was, and the other "
                    "users are imported."
                )
                continue
            accounts.append(account)
        return accounts, held

    def list_all(self) -> Listing:
        accounts, held = self._accounts()
        listing = Listing(accounts=accounts, held=held)
        if self.settings.groups:
            ids = {a.external_id for a in listing.accounts}
            for group in self._pages("Group", "groups"):
                group_id = str(group.get("id") or "")
                if not group_id:
                    continue
                listing.entitlements.append(
                    ListedEntitlement(
                        external_id=group_id,
                        name=str(group.get("displayName") or ""),
                    )
                )
                for member in group.get("members") or []:
                    value = member.get("value") if isinstance(member, dict) else None
                    if isinstance(value, str) and value in ids:  # nested groups aside
                        listing.grants.append(ListedGrant(value, group_id))
        return listing

    def probe(self, limit: int = 5) -> Listing:
        """Connect, authenticate and read up to `limit` users (`roster app test`)."""
        return Listing(accounts=self._accounts(limit=max(1, limit))[0])

    # Push ---------------------------------------------------------------------------------

    def _supports_patch(self) -> bool:
        if self._patch is None:

            def read(client: ScimClient) -> Any:
                return client.query(ServiceProviderConfig)

            config = self._call("reading its ServiceProviderConfig", read)
            patch = config.get("patch") if isinstance(config, dict) else None
            self._patch = bool(isinstance(patch, dict) and patch.get("supported"))
        return self._patch

    def update_accounts(
        self, changes_by_account: Mapping[str, Mapping[str, Any]]
    ) -> dict[str, ConnectorError]:
        """Push to many users: one PATCH each (or a GET and a PUT without PATCH support).

        Returns the users the server refused, each with the SCIM status, scimType and detail.
        When the server cannot be reached, the users not yet written fail with that reason."""
        description = self.describe()
        failures: dict[str, ConnectorError] = {}
        resolved: dict[str, list[tuple[str, Any]]] = {}
        for external_id, changes in changes_by_account.items():
            try:
                resolved[external_id] = resolve_push(self.app_id, description, external_id, changes)
            except ConnectorError as exc:
                failures[external_id] = exc
        if not resolved:
            return failures
        patch = self._supports_patch()
        pending = list(resolved.items())
        for index, (external_id, pairs) in enumerate(pending):
            if not pairs:
                continue
            try:
                if patch:
                    self._patch_user(external_id, pairs)
                else:
                    self._replace_user(external_id, pairs)
            except _Refused as refused:
                failures[external_id] = ConnectorError(
                    f"App '{self.app_id}' refused the push to {external_id!r}: {refused.text}. "
                    "Nothing was written for this account."
                )
            except ConnectorError as exc:  # the server is unreachable: stop knocking
                for later, _ in pending[index:]:
                    failures[later] = exc
                break
        return failures

    def _write(self, doing: str, call: Callable[[ScimClient], Any]) -> Any:
        """A write whose refusal by the server (4xx but 401/403/429) is the account's alone."""
        client = self._connect()
        try:
            result = call(client)
            raise_for_error(result)
            return result
        except SCIMException as exc:
            status = int(getattr(exc, "status", 0) or 0)
            if 400 <= status < 500 and status not in (401, 403, 429):
                raise _Refused(scim_error_text(exc).replace(self._token, "[token]"), exc) from None
            error = describe_failure(
                self.app_id, self.settings.base_url, doing, exc, client, self.settings.token_ref
            )
            raise without(self._token, error) from None
        except (SCIMClientException, httpx.HTTPError) as exc:
            error = describe_failure(
                self.app_id, self.settings.base_url, doing, exc, client, self.settings.token_ref
            )
            raise without(self._token, error) from None

    def _patch_user(self, external_id: str, pairs: list[tuple[str, Any]]) -> None:
        operations = [patch_operation(key, value) for key, value in pairs]
        doing = f"updating user {external_id!r}"

        def send(ops: list[dict[str, Any]]) -> None:
            body = {"schemas": [PATCH_SCHEMA], "Operations": ops}
            self._write(doing, lambda c: c.modify(ScimUser, external_id, body))

        try:
            send(operations)
        except _Refused as refused:
            email = next((v for k, v in pairs if k == "email" and v), None)
            if refused.scim_type != "noTarget" or email is None:
                raise
            # no work address yet: add one instead of replacing it
            send(
                [op for op in operations if op.get("path") != WORK_EMAIL_PATH]
                + [add_work_email(email)]
            )

    def _replace_user(self, external_id: str, pairs: list[tuple[str, Any]]) -> None:
        """Without PATCH: read the user, change the attributes locally, PUT it back."""
        doing = f"updating user {external_id!r} (PUT: the server has no PATCH)"
        user = self._write(doing, lambda c: c.query(ScimUser, external_id))
        model = ScimUser.model_validate(user)
        for key, value in pairs:
            operation = patch_operation(key, value)
            try:
                PatchOp[ScimUser](
                    operations=[PatchOperation[ScimUser].model_validate(operation)]
                ).patch(model)
            except SCIMException as exc:
                if key == "email" and exc.scim_type == "noTarget":
                    PatchOp[ScimUser](
                        operations=[PatchOperation[ScimUser].model_validate(add_work_email(value))]
                    ).patch(model)
                    continue
                raise _Refused(scim_error_text(exc), exc) from None
        self._write(doing, lambda c: c.replace(model))

    # Provisioning -------------------------------------------------------------------------

    def create_accounts(
        self, many: Sequence[Mapping[str, Any]]
    ) -> list[ListedAccount | ConnectorError]:
        """Create many Users (one POST each: SCIM has no batch create every server offers);
        each outcome in its place (the account as the app now lists it, or why it was
        refused)."""
        outcomes: list[ListedAccount | ConnectorError] = []
        for fields in many:
            try:
                outcomes.append(self.create_account(dict(fields)))
            except ConnectorError as exc:
                outcomes.append(exc)
        return outcomes

    def create_account(self, fields: dict[str, Any]) -> ListedAccount:
        """POST a new User from creation-schema fields, then add it to its groups."""
        values = check_creation(self.app_id, self.describe().creation_schema, fields)
        user_name = str(values["userName"])
        groups = [str(g) for g in dict.fromkeys(values.get("groups") or [])]
        for group_id in groups:  # refuse before creating anything
            try:
                self._read_group(group_id)
            except _Refused as refused:
                raise ConnectorError(
                    f"App '{self.app_id}' cannot create {user_name!r}: no group {group_id!r} "
                    f"({refused.text}). Nothing was created; fix the groups field."
                ) from None
        try:
            created = self._write(
                f"creating user {user_name!r}",
                lambda c: c.create(ScimUser, user_body(values)),
            )
        except _Refused as refused:
            raise ConnectorError(
                f"App '{self.app_id}' refused to create {user_name!r}: {refused.text}. Nothing "
                "was created."
            ) from None
        account = account_from_user(created if isinstance(created, dict) else {})
        if not account.external_id:
            raise ConnectorError(
                f"App '{self.app_id}': the SCIM server created {user_name!r} but did not return "
                "it with an id. The next import will list it."
            )
        for group_id in groups:
            self._add_member(group_id, account.external_id, user_name)
        return account

    def _read_group(self, group_id: str) -> Any:
        return self._write(f"reading group {group_id!r}", lambda c: c.query(Group, group_id))

    def _add_member(self, group_id: str, user_id: str, user_name: str) -> None:
        doing = f"adding {user_name!r} to group {group_id!r}"
        member = {"op": "add", "path": "members", "value": [{"value": user_id}]}
        try:
            if self._supports_patch():
                body = {"schemas": [PATCH_SCHEMA], "Operations": [member]}
                self._write(doing, lambda c: c.modify(Group, group_id, body))
            else:
                group = Group.model_validate(self._read_group(group_id))
                PatchOp[Group](operations=[PatchOperation[Group].model_validate(member)]).patch(
                    group
                )
                self._write(doing, lambda c: c.replace(group))
        except _Refused as refused:
            raise ConnectorError(
                f"App '{self.app_id}' created {user_name!r} (id {user_id!r}) but refused to add it "
                f"to group {group_id!r}: {refused.text}. Add it in the app, or sync: the next "
                "import lists the account."
            ) from None


class _Refused(Exception):
    """The server understood a write and said no (its SCIM status, scimType and detail)."""

    def __init__(self, text: str, exc: SCIMException) -> None:
        super().__init__(text)
        self.text = text
        self.scim_type = exc.scim_type or ""
