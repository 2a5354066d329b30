"""Microsoft's Graph SDK for Python (msgraph-sdk, on kiota and httpx) drives Ward's `/v1.0`
directory through its typed request builders, as a program written for Entra ID would: users and
groups created, read, changed, deleted and restored; members bound at creation, added and removed
by reference; `$select`, `$filter` and `$count` with `ConsistencyLevel: eventual`; the SDK's
PageIterator following `@odata.nextLink`; nested groups through getMemberGroups and
transitiveMemberOf; and Ward's error answers mapped by the SDK to `ODataError`.

The SDK is pointed at Ward the way interop-clients.md says: a GraphRequestAdapter whose bearer
provider hands it an app-only token from Ward and allows only Ward's host, `base_url` set to
Ward's `/v1.0`, and an httpx client (with the SDK's own middleware) that trusts only the test CA.
On a failure the last few HTTP exchanges are printed: what the SDK sent and what Ward answered.

Inputs: WARD_URL, WARD_TENANT, WARD_CA_FILE, WARD_CLIENT_ID, WARD_CLIENT_SECRET (an application
holding Graph's directory application permissions, as `ward init` makes).
"""

import asyncio
import ssl
import sys
import traceback
import uuid
from urllib.parse import urlsplit

import httpx
from kiota_abstractions.authentication import AccessTokenProvider, AllowedHostsValidator, BaseBearerTokenAuthenticationProvider
from kiota_abstractions.base_request_configuration import RequestConfiguration
from msgraph import GraphRequestAdapter, GraphServiceClient
from msgraph.generated.directory.deleted_items.graph_user.graph_user_request_builder import GraphUserRequestBuilder
from msgraph.generated.models.group import Group
from msgraph.generated.models.o_data_errors.o_data_error import ODataError
from msgraph.generated.models.password_profile import PasswordProfile
from msgraph.generated.models.reference_create import ReferenceCreate
from msgraph.generated.models.user import User
from msgraph.generated.users.item.get_member_groups.get_member_groups_post_request_body import GetMemberGroupsPostRequestBody
from msgraph.generated.users.users_request_builder import UsersRequestBuilder
from msgraph.graph_request_adapter import options as sdk_default_options
from msgraph_core import GraphClientFactory, PageIterator

from _ward import BASE, CA_FILE, GRAPH, TENANT, browser, env, ok

CLIENT_ID = env("WARD_CLIENT_ID")
SECRET = env("WARD_CLIENT_SECRET")
GRAPH_BASE = f"{BASE}/v1.0"
HOST = urlsplit(BASE).hostname
RUN = uuid.uuid4().hex[:6]  # names of this run's objects start with "Interop {RUN}"
PASSWORD = f"Interop-{uuid.uuid4().hex}!"

# ----- what went over the wire, for failure reports

exchanges = []  # (request, response) pairs, newest last


async def _record_request(request):
    exchanges.append([request, None])
    del exchanges[:-6]


async def _record_response(response):
    await response.aread()  # cached by httpx: the SDK reads the same bytes afterwards
    for pair in reversed(exchanges):
        if pair[0] is response.request:
            pair[1] = response
            break


def wire_report():
    lines = []
    for request, response in exchanges[-3:]:
        body = request.content.decode(errors="replace") if request.content else ""
        consistency = request.headers.get("consistencylevel")
        lines.append(f"  SDK sent   {request.method} {request.url}" + (f"  [ConsistencyLevel: {consistency}]" if consistency else ""))
        if body:
            lines.append(f"             body {body[:400]}")
        if response is None:
            lines.append("  Ward answered nothing")
        else:
            lines.append(f"  Ward answered {response.status_code} {response.text[:600]}")
    return "\n".join(lines) if lines else "  (no HTTP exchange)"


def fail(message):
    print(f"FAIL  {message}\n  last HTTP exchanges, oldest first:\n{wire_report()}", flush=True)
    sys.exit(1)


def check(condition, message, detail=""):
    if not condition:
        fail(f"{message}: {detail}" if detail != "" else message)
    ok(message)


async def expect_odata_error(call, status, codes, message):
    """Awaits `call`, which must raise the SDK's ODataError with `status` and one of `codes`."""
    try:
        got = await call
    except ODataError as e:
        code = e.error.code if e.error else None
        check(e.response_status_code == status and code in codes, message, f"ODataError status {e.response_status_code}, code {code!r}, expected {status} and one of {codes}")
        return e
    fail(f"{message}: no error; the SDK returned {got!r}")


# ----- the SDK, pointed at Ward


def app_token():
    """An app-only token for Graph from Ward's token endpoint (client credentials)."""
    answer = browser().post(
        f"{BASE}/{TENANT}/oauth2/v2.0/token",
        data={"grant_type": "client_credentials", "client_id": CLIENT_ID, "client_secret": SECRET, "scope": f"{GRAPH}/.default"},
    )
    if answer.status_code != 200 or "access_token" not in answer.json():
        fail(f"no app-only token from Ward: {answer.status_code} {answer.text[:300]}")
    return answer.json()["access_token"]


class WardTokens(AccessTokenProvider):
    """Hands the SDK Ward's token, for Ward's host only (as azure-identity's provider does for
    graph.microsoft.com)."""

    def __init__(self, token):
        self.token = token
        self.hosts = AllowedHostsValidator([HOST])

    async def get_authorization_token(self, uri, additional_authentication_context={}):
        return self.token if self.hosts.is_url_host_valid(uri) else ""

    def get_allowed_hosts_validator(self):
        return self.hosts


def graph_client():
    tls = ssl.create_default_context(cafile=CA_FILE) if CA_FILE else ssl.create_default_context()
    http = httpx.AsyncClient(
        verify=tls,
        http2=True,  # what the SDK's own default client does
        trust_env=False,  # no proxy or CA bundle from the machine
        timeout=httpx.Timeout(60, connect=10),
        event_hooks={"request": [_record_request], "response": [_record_response]},
    )
    http = GraphClientFactory.create_with_default_middleware(client=http, options=sdk_default_options)
    adapter = GraphRequestAdapter(BaseBearerTokenAuthenticationProvider(WardTokens(app_token())), client=http)
    adapter.base_url = GRAPH_BASE
    return GraphServiceClient(request_adapter=adapter)


def users_query(headers=None, **query):
    config = RequestConfiguration(query_parameters=UsersRequestBuilder.UsersRequestBuilderGetQueryParameters(**query))
    for name, value in (headers or {}).items():
        config.headers.add(name, value)
    return config


EVENTUAL = {"ConsistencyLevel": "eventual"}


def ref(object_id):
    return f"{GRAPH_BASE}/directoryObjects/{object_id}"


def ids(objects):
    return [o.id for o in objects or []]


# ----- the checks


async def tenant_domain(graph):
    page = await graph.users.get(users_query(select=["id", "userPrincipalName"], top=1))
    check(page is not None and len(page.value or []) == 1 and page.value[0].user_principal_name, "GET /users?$select=id,userPrincipalName&$top=1 gives the administrator", page)
    domain = page.value[0].user_principal_name.split("@", 1)[1]
    version = exchanges[-1][1].http_version if exchanges and exchanges[-1][1] is not None else "?"
    ok(f"tenant domain {domain} (from {page.value[0].user_principal_name}), over {version}")
    return domain


def new_user(domain, nickname, display_name):
    return User(
        account_enabled=True,
        display_name=display_name,
        mail_nickname=nickname,
        user_principal_name=f"{nickname}@{domain}",
        password_profile=PasswordProfile(password=PASSWORD, force_change_password_next_sign_in=False),
    )


async def user_crud(graph, domain):
    people = {}
    for short in ("Alice", "Bob", "Carol"):
        nickname = f"interop-{RUN}-{short.lower()}"
        created = await graph.users.post(new_user(domain, nickname, f"Interop {RUN} {short}"))
        check(isinstance(created, User) and created.id, f"POST /users: {short} created, id {created.id if created else None}", created)
        check(
            created.user_principal_name == f"{nickname}@{domain}" and created.display_name == f"Interop {RUN} {short}",
            f"{short}: the created user echoes userPrincipalName and displayName",
            created,
        )
        people[short] = created
    alice, carol = people["Alice"], people["Carol"]

    by_id = await graph.users.by_user_id(alice.id).get()
    check(by_id.id == alice.id and by_id.display_name == alice.display_name, "GET /users/{id} returns Alice", by_id)
    by_upn = await graph.users.by_user_id(alice.user_principal_name).get()
    check(by_upn.id == alice.id, "GET /users/{userPrincipalName} returns Alice too", by_upn)

    patched = await graph.users.by_user_id(alice.id).patch(User(job_title="Interop tester"))
    check(patched is None or isinstance(patched, User), "PATCH /users/{id} with jobTitle succeeds", patched)
    check((await graph.users.by_user_id(alice.id).get()).job_title == "Interop tester", "Alice's jobTitle reads back as patched")

    await graph.users.by_user_id(carol.id).delete()
    ok("DELETE /users/{id}: Carol deleted")
    await expect_odata_error(graph.users.by_user_id(carol.id).get(), 404, ["Request_ResourceNotFound"], "GET of the deleted Carol: 404 Request_ResourceNotFound")

    # The SDK's cast segment is `graph.user`: `graph` is the alias of the microsoft.graph namespace.
    deleted = await graph.directory.deleted_items.graph_user.get(
        RequestConfiguration(query_parameters=GraphUserRequestBuilder.GraphUserRequestBuilderGetQueryParameters(top=999))
    )
    check(deleted is not None and carol.id in ids(deleted.value), "GET /directory/deletedItems/graph.user lists Carol", deleted)
    listed = next(u for u in deleted.value if u.id == carol.id)
    check(isinstance(listed, User) and listed.user_principal_name == carol.user_principal_name, "the deleted Carol comes back as a user with her userPrincipalName", listed)

    restored = await graph.directory.deleted_items.by_directory_object_id(carol.id).restore.post()
    check(restored is not None and restored.id == carol.id, "POST /directory/deletedItems/{id}/restore returns Carol", restored)
    check(isinstance(restored, User), "the restored object is typed as a user (@odata.type)", type(restored).__name__)
    again = await graph.users.by_user_id(carol.id).get()
    check(again.id == carol.id, "Carol can be read again after the restore", again)
    deleted = await graph.directory.deleted_items.graph_user.get()
    check(carol.id not in ids(deleted.value), "and is no longer among the deleted users", ids(deleted.value))
    return people


async def members_of(graph, group_id):
    page = await graph.groups.by_group_id(group_id).members.get()
    if page is None or page.value is None:
        fail(f"GET /groups/{group_id}/members did not answer a collection: {page!r}")
    return page.value


async def new_group(graph, label, **extra):
    group = Group(
        display_name=f"Interop {RUN} {label}",
        mail_nickname=f"interop-{RUN}-{label.lower().replace(' ', '-')}",
        mail_enabled=False,
        security_enabled=True,
        group_types=[],
    )
    if extra:
        group.additional_data = extra
    created = await graph.groups.post(group)
    check(isinstance(created, Group) and created.id, f"POST /groups: {label} created, id {created.id if created else None}", created)
    check(created.security_enabled is True and created.mail_enabled is False and created.group_types == [], f"{label}: securityEnabled, not mailEnabled, no groupTypes", created)
    return created


async def group_crud(graph, people):
    alice, bob, carol = people["Alice"], people["Bob"], people["Carol"]
    empty = await new_group(graph, "Security")
    check(await members_of(graph, empty.id) == [], "the new security group has no members")

    bound = await new_group(graph, "Bound", **{"members@odata.bind": [ref(alice.id), ref(bob.id)]})
    members = await members_of(graph, bound.id)
    check(sorted(ids(members)) == sorted([alice.id, bob.id]), "members@odata.bind on create: Alice and Bob are members", ids(members))
    check(all(isinstance(m, User) for m in members), "members come back typed as users (@odata.type)", [type(m).__name__ for m in members])

    await graph.groups.by_group_id(empty.id).members.ref.post(ReferenceCreate(odata_id=ref(carol.id)))
    check(ids(await members_of(graph, empty.id)) == [carol.id], "POST /groups/{id}/members/$ref adds Carol")

    await graph.groups.by_group_id(bound.id).members.by_directory_object_id(alice.id).ref.delete()
    check(ids(await members_of(graph, bound.id)) == [bob.id], "DELETE /groups/{id}/members/{alice}/$ref leaves only Bob")

    got = await graph.groups.by_group_id(bound.id).get()
    check(got.id == bound.id and got.display_name == bound.display_name, "GET /groups/{id} returns the group", got)
    await graph.groups.by_group_id(empty.id).patch(Group(description="patched by msgraph-sdk"))
    check((await graph.groups.by_group_id(empty.id).get()).description == "patched by msgraph-sdk", "PATCH /groups/{id} with description reads back")
    return {"Security": empty, "Bound": bound}


async def select_filter_count(graph):
    prefix = f"Interop {RUN}"
    where = f"startswith(displayName,'{prefix}')"
    plain = await graph.users.get(users_query(filter=where))
    check(sorted(u.display_name for u in plain.value) == [f"{prefix} {n}" for n in ("Alice", "Bob", "Carol")], f"$filter={where}: the three users", [u.display_name for u in plain.value])
    check(all(u.account_enabled is None for u in plain.value), "without $select accountEnabled is not returned (not in Graph's default set)", [u.account_enabled for u in plain.value])
    check(all(u.user_principal_name for u in plain.value), "without $select userPrincipalName is returned (default set)")

    page = await graph.users.get(users_query(EVENTUAL, select=["id", "displayName", "accountEnabled"], filter=where, count=True))
    check(page.odata_count == 3, "$count=true with ConsistencyLevel: eventual gives @odata.count 3", page.odata_count)
    check(len(page.value) == 3 and all(u.account_enabled is True for u in page.value), "with $select accountEnabled is returned, true", [u.account_enabled for u in page.value])
    check(all(u.id and u.display_name for u in page.value), "with $select id and displayName are returned")
    alice = next(u for u in page.value if u.display_name == f"{prefix} Alice")
    unselected = {"userPrincipalName": alice.user_principal_name, "jobTitle": alice.job_title, "mail": alice.mail, "givenName": alice.given_name}
    check(all(v is None for v in unselected.values()), "with $select nothing else comes back (Alice's jobTitle is set but not selected)", unselected)
    check(not (alice.additional_data or {}), "no property outside the User model either", alice.additional_data)


async def paging(graph, domain):
    prefix = f"Interop {RUN} Page"
    gate = asyncio.Semaphore(4)

    async def create(n):
        async with gate:
            return await graph.users.post(new_user(domain, f"interop-{RUN}-page-{n:02}", f"{prefix} {n:02}"))

    created = await asyncio.gather(*(create(n) for n in range(1, 26)))
    want = sorted(u.id for u in created)
    check(len(set(want)) == 25, "25 more users created")

    first = await graph.users.get(users_query(select=["id", "displayName", "accountEnabled"], filter=f"startswith(displayName,'{prefix}')", top=10))
    check(len(first.value) == 10 and bool(first.odata_next_link), "$top=10: the first page has 10 users and an @odata.nextLink", (len(first.value), first.odata_next_link))
    check(first.odata_next_link.startswith(f"{GRAPH_BASE}/users?"), "the nextLink is absolute, under Ward's public /v1.0/users", first.odata_next_link)
    iterator = PageIterator(first, graph.request_adapter)
    seen, pages = [], []  # every user the iterator handed over; the page it was on

    def take(user):
        seen.append(user)
        pages.append(iterator.current_page)
        return True

    await iterator.iterate(take)
    got = [u.id for u in seen]
    check(sorted(got) == want, "PageIterator saw each of the 25 users exactly once", f"{len(got)} seen, {len(set(got))} distinct, missing {sorted(set(want) - set(got))}, foreign {sorted(set(got) - set(want))}")
    sizes = []
    for i, page in enumerate(pages):
        if i == 0 or page is not pages[i - 1]:
            sizes.append(0)
        sizes[-1] += 1
    check(sizes == [10, 10, 5], "in pages of 10, 10 and 5", sizes)
    check(not iterator.current_page.odata_next_link, "the last page has no @odata.nextLink", iterator.current_page.odata_next_link)
    check(all(isinstance(u, User) and u.account_enabled is True for u in seen), "$select carried through the nextLinks: accountEnabled on every user of every page")


async def nested_groups(graph, people):
    user = people["Bob"]
    inner = await new_group(graph, "Inner", **{"members@odata.bind": [ref(user.id)]})
    outer = await new_group(graph, "Outer")
    await graph.groups.by_group_id(outer.id).members.ref.post(ReferenceCreate(odata_id=ref(inner.id)))
    members = await members_of(graph, outer.id)
    check(ids(members) == [inner.id] and isinstance(members[0], Group), "Outer's one member is Inner, typed as a group", [(type(m).__name__, m.id) for m in members])

    answer = await graph.users.by_user_id(user.id).get_member_groups.post(GetMemberGroupsPostRequestBody(security_enabled_only=True))
    groups = set(answer.value or [])
    check({inner.id, outer.id} <= groups, "getMemberGroups(securityEnabledOnly) has Bob's direct group Inner and, through it, Outer", groups)

    direct = await graph.users.by_user_id(user.id).member_of.get()
    check(inner.id in ids(direct.value) and outer.id not in ids(direct.value), "memberOf: Inner, not Outer", ids(direct.value))
    transitive = await graph.users.by_user_id(user.id).transitive_member_of.get()
    found = {o.id: o for o in transitive.value}
    check(inner.id in found and outer.id in found, "transitiveMemberOf lists Inner and Outer", list(found))
    check(isinstance(found[inner.id], Group) and isinstance(found[outer.id], Group), "both typed as groups (@odata.type)")
    check(groups == {o.id for o in transitive.value if isinstance(o, Group) and o.security_enabled}, "getMemberGroups agrees with the security groups of transitiveMemberOf", (groups, list(found)))


async def errors(graph):
    missing = str(uuid.uuid4())
    e = await expect_odata_error(graph.users.by_user_id(missing).get(), 404, ["Request_ResourceNotFound"], "GET /users/{unknown id}: ODataError 404 Request_ResourceNotFound")
    check(bool(e.error.message), "the error has a message", e.error.message)
    await expect_odata_error(graph.users.get(users_query(filter="startswith(displayName,")), 400, ["Request_BadRequest", "Request_UnsupportedQuery"], "an unparsable $filter: ODataError 400")
    await expect_odata_error(graph.users.get(users_query(filter="jobTitle foo 'x'")), 400, ["Request_BadRequest", "Request_UnsupportedQuery"], "an unknown $filter operator: ODataError 400")
    search = f'"displayName:Interop {RUN}"'
    await expect_odata_error(graph.users.get(users_query(search=search)), 400, ["Request_UnsupportedQuery"], "$search without ConsistencyLevel: ODataError 400 Request_UnsupportedQuery")
    found = await graph.users.get(users_query(EVENTUAL, search=search, count=True))
    check(found.odata_count is not None and found.odata_count >= 3 and all(u.display_name.startswith(f"Interop {RUN}") for u in found.value), "$search with ConsistencyLevel: eventual finds this run's users", (found.odata_count, [u.display_name for u in found.value]))


async def main():
    graph = graph_client()
    domain = await tenant_domain(graph)
    people = await user_crud(graph, domain)
    await group_crud(graph, people)
    await select_filter_count(graph)
    await paging(graph, domain)
    await nested_groups(graph, people)
    await errors(graph)


def where_in_this_script(error):
    frames = [f for f in traceback.extract_tb(error.__traceback__) if f.filename == __file__]
    return "; ".join(f"line {f.lineno} in {f.name}: {f.line}" for f in frames[-2:])


try:
    asyncio.run(main())
except SystemExit:
    raise
except Exception as e:  # the SDK refused Ward's answer, or raised where success was expected
    detail = f"{e.error.code}: {e.error.message}" if isinstance(e, ODataError) and e.error else str(e)
    fail(f"the SDK raised {type(e).__name__} ({detail}) at {where_in_this_script(e)}")
