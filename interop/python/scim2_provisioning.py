"""scim2-client (Python, on httpx2) provisions through Ward's SCIM 2.0 endpoint, and scim2-models
validates every answer against the models of RFC 7643 and the messages of RFC 7644, strictly (an
attribute the models do not define is refused).

The client discovers the server (ServiceProviderConfig, ResourceTypes, Schemas) and builds models
from Ward's schemas; then, with scim2-models' own User (with the enterprise extension) and Group
bound to the endpoints Ward publishes: a user is created, found by filters, paged through one at a
time (startIndex, count, sortBy), projected (attributes), read (and read again with If-None-Match:
304), replaced with PUT (If-Match; a stale version refused with 412) and modified with a PatchOp
(title replaced, an email added, deactivated); a group is created with the user as a member, read,
renamed, and its membership removed and added with PATCH; the user and the group are read again
through the models built from Ward's schemas (so Ward answers only with attributes it declares);
users and groups are searched with POST .search; Bulk creates a user and a group naming it by
bulkId, reports a duplicate as that operation's 409, patches and deletes; finally everything is
deleted. Ward's errors come back as the client's exceptions (scim2-models' SCIMException classes):
409 uniqueness for a userName or group name taken, 404 for a deleted or unknown resource, 400
invalidFilter, 401 for a made-up token.

The client is set up as its README says: an httpx2 Client with `base_url` Ward's `/scim/v2/{tenant}`
and an `Authorization: Bearer` header with the SCIM token, trusting only the test CA. A failure
prints the validation error and the last HTTP exchanges; the script carries on with the parts that
do not depend on what failed, and exits 1 at the end.

Inputs: WARD_URL, WARD_TENANT, WARD_CA_FILE, WARD_SCIM_TOKEN (the secret of a SCIM token, as
`ward scim token create --json` prints it).
"""

import ssl
import sys
import traceback
import uuid
from contextlib import contextmanager

import httpx2
from scim2_client import SCIMClientException
from scim2_client.engines.httpx2 import SyncSCIMClient
from scim2_models import (
    BulkOperation,
    BulkRequest,
    Email,
    EnterpriseUser,
    Group,
    GroupMember,
    ListResponse,
    Name,
    PatchOp,
    PatchOperation,
    ResourceType,
    Schema,
    SCIMException,
    Required,
    ScimProvider,
    SearchRequest,
    ServiceProviderConfig,
    Uniqueness,
    User,
)

from _ward import BASE, CA_FILE, TENANT, env, ok

TOKEN = env("WARD_SCIM_TOKEN")
SCIM_BASE = f"{BASE}/scim/v2/{TENANT}"
RUN = uuid.uuid4().hex[:6]  # this run's users are scim2-{RUN}-*, its groups "scim2 {RUN} *"
CORE_USER = "urn:ietf:params:scim:schemas:core:2.0:User"
CORE_GROUP = "urn:ietf:params:scim:schemas:core:2.0:Group"
ENTERPRISE = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"
UserE = User[EnterpriseUser]

# ----- what went over the wire, for failure reports

exchanges = []  # [request, response] pairs, newest last


def _record_request(request):
    exchanges.append([request, None])
    del exchanges[:-6]


def _record_response(response):
    response.read()  # cached: the client reads the same bytes afterwards
    for pair in reversed(exchanges):
        if pair[0] is response.request:
            pair[1] = response
            break


def wire_report(last=2):
    lines = []
    for request, response in exchanges[-last:]:
        lines.append(f"  client sent   {request.method} {request.url}")
        if request.content:
            lines.append(f"                body {request.content.decode(errors='replace')[:600]}")
        if response is None:
            lines.append("  Ward answered nothing")
        else:
            lines.append(f"  Ward answered {response.status_code} {response.headers.get('content-type')} {response.text[:1500]}")
    return "\n".join(lines) if lines else "  (no HTTP exchange)"


failures = []


def describe(e):
    """An exception with its notes (where scim2-client puts pydantic's validation errors) and cause."""
    text = f"{type(e).__name__}: {e}"
    for note in getattr(e, "__notes__", []):
        text += f"\n  {note}".replace("\n", "\n  ")
    if e.__cause__ is not None and not getattr(e, "__notes__", None):
        text += f"\n  caused by {type(e.__cause__).__name__}: {e.__cause__}".replace("\n", "\n  ")
    return text


def fail(message):
    """Prints the failure with the last HTTP exchanges and leaves the current part."""
    print(f"FAIL  {message}\n  last HTTP exchanges, oldest first:\n{wire_report()}", flush=True)
    failures.append(message.splitlines()[0])
    raise _PartFailed()


class _PartFailed(Exception):
    pass


def check(condition, message, detail=""):
    if not condition:
        fail(f"{message}: {detail}" if detail != "" else message)
    ok(message)


@contextmanager
def part(name):
    """One part of the run: a failure in it is reported and ends only this part."""
    try:
        yield
    except _PartFailed:
        pass
    except (SCIMClientException, SCIMException) as e:
        try:
            fail(f"{name}: {describe(e)}")
        except _PartFailed:
            pass
    except Exception as e:  # a bug here, or a client that changed: still show the wire
        try:
            fail(f"{name}: {describe(e)}\n{traceback.format_exc()}")
        except _PartFailed:
            pass


def expect_scim_error(call, status, scim_type, message):
    """Runs `call`, which must raise the client's SCIMException carrying `status` (and `scim_type`)."""
    try:
        got = call()
    except SCIMException as e:
        error = getattr(e, "error", None)
        check(
            int(e.status) == status and (scim_type is None or e.scim_type == scim_type) and error is not None,
            f"{message} ({type(e).__name__}, status {e.status}" + (f", scimType {e.scim_type}" if e.scim_type else "") + ")",
            f"status {e.status!r}, scimType {e.scim_type!r}, expected {status} and {scim_type!r}",
        )
        return e
    fail(f"{message}: no error; the client returned {got!r}")


def users_named(scim, model, user_name):
    return scim.query(model, query_parameters=SearchRequest(filter=f'userName eq "{user_name}"'))


# ----- the client, pointed at Ward


def http_client(token=TOKEN):
    tls = ssl.create_default_context(cafile=CA_FILE) if CA_FILE else ssl.create_default_context()
    return httpx2.Client(
        base_url=SCIM_BASE,
        headers={"Authorization": f"Bearer {token}"},
        verify=tls,
        trust_env=False,  # no proxy or CA bundle from the machine
        timeout=httpx2.Timeout(60, connect=10),
        event_hooks={"request": [_record_request], "response": [_record_response]},
    )


http = http_client()
discovered = None  # a client whose models were built from Ward's /Schemas
provider = config = None
scim = None  # a client with scim2-models' own User[EnterpriseUser] and Group
state = {}

# ----- discovery

with part("discovery"):
    discovered = SyncSCIMClient(http)
    discovered.discover()
    provider = discovered.provider
    config = provider.config
    ok("discover(): ServiceProviderConfig, ResourceTypes and Schemas are valid RFC 7643 objects, and compose")
    check(isinstance(config, ServiceProviderConfig), "ServiceProviderConfig parsed", repr(config))
    check(config.patch.supported and config.filter.supported, f"patch and filter supported (filter maxResults {config.filter.max_results})")
    check(config.bulk.supported and config.bulk.max_operations > 0, f"bulk supported, maxOperations {config.bulk.max_operations}")
    check(config.etag.supported and config.sort.supported, "etag and sort supported")
    names = {rt.name: rt for rt in provider.resource_types}
    check({"User", "Group"} <= set(names), f"resource types {sorted(names)}")
    extensions = [(str(e.schema_), e.required) for e in names["User"].schema_extensions or []]
    check((ENTERPRISE, False) in extensions, "User carries the enterprise extension, optional", extensions)
    check(names["User"].endpoint == "/Users" and names["Group"].endpoint == "/Groups", "endpoints /Users and /Groups")
    built = discovered.get_resource_model("User")
    check(built is not None and str(built.__schema__) == CORE_USER, f"a User model built from Ward's schema: {built.__name__ if built else None}")
    check(discovered.get_resource_model("Group") is not None, "a Group model built from Ward's schema")
    schemas = discovered.query(Schema)
    check(isinstance(schemas, ListResponse), f"GET /Schemas: a ListResponse[Schema] of {schemas.total_results}")
    ids = {str(s.id) for s in schemas.resources}
    check({CORE_USER, CORE_GROUP, ENTERPRISE} <= ids, "Schemas: core User, Group and the enterprise extension", sorted(ids))
    user_schema = discovered.query(Schema, CORE_USER)
    user_name = next((a for a in user_schema.attributes if a.name == "userName"), None)
    check(user_name is not None and user_name.required is Required.true and user_name.uniqueness == Uniqueness.server,
          "GET /Schemas/<core User>: userName required, unique on the server", user_name)
    rt = discovered.query(ResourceType, "User")
    check(rt.name == "User" and str(rt.schema_) == CORE_USER, "GET /ResourceTypes/User")

with part("client with the RFC models"):
    # The RFC's models, bound to the endpoints Ward publishes; the configuration as discovered.
    described = provider.resource_types if provider else None
    scim = SyncSCIMClient(http, provider=ScimProvider(models=[User, EnterpriseUser, Group], resource_types=described, config=config))
    check(scim.get_resource_model("User") is UserE, "scim2-models' User[EnterpriseUser] serves Ward's /Users")
    check(scim.get_resource_model("Group") is Group, "scim2-models' Group serves Ward's /Groups")

if scim is None:
    scim = SyncSCIMClient(http, provider=ScimProvider(models=[User, EnterpriseUser, Group], resource_types=[
        ResourceType.from_resource(UserE), ResourceType.from_resource(Group)]))

# ----- users

with part("users"):
    everyone = scim.query(UserE)
    check(isinstance(everyone, ListResponse) and everyone.total_results >= 1, f"GET /Users: {everyone.total_results} user(s), all valid")
    domain = everyone.resources[0].user_name.split("@")[1]
    ok(f"the tenant's domain, from {everyone.resources[0].user_name}: {domain}")
    alias = f"scim2-{RUN}-sam"
    upn = f"{alias}@{domain}"
    state["upn"] = upn

    empty = users_named(scim, UserE, upn)
    check(empty.total_results == 0 and not empty.resources, "a filter matching nobody: an empty list, not a 404")

    sam = UserE(
        user_name=upn,
        external_id=f"ext-{RUN}",
        name=Name(given_name="Sam", family_name="Scim", formatted="Sam Scim"),
        display_name="Sam Scim",
        title="Tester",
        active=True,
        emails=[Email(value=f"{alias}@work.example.com", type=Email.Type.work, primary=True)],
    )
    sam[EnterpriseUser] = EnterpriseUser(employee_number=f"E-{RUN}", department="Quality")
    created = scim.create(sam)
    check(isinstance(created, UserE) and created.id, f"POST /Users: a User[EnterpriseUser] with id {created.id}")
    state["user"] = created
    uid = created.id
    check(created.user_name == upn and created.external_id == f"ext-{RUN}", "userName and externalId kept")
    check(created.name.given_name == "Sam" and created.name.family_name == "Scim", "name.givenName and name.familyName kept")
    check(created.active is True and created.title == "Tester", "active and title kept")
    check([e.value for e in created.emails or []] == [f"{alias}@work.example.com"], "the work email kept", created.emails)
    ext = created[EnterpriseUser]
    check(ext is not None and ext.employee_number == f"E-{RUN}" and ext.department == "Quality", "enterprise employeeNumber and department kept", ext)
    meta = created.meta
    check(meta and meta.resource_type == "User" and str(meta.location).endswith(f"/Users/{uid}"), f"meta.resourceType User, meta.location {meta.location}")
    check(meta.version and meta.created and meta.last_modified, f"meta.version {meta.version}, meta.created, meta.lastModified")

    found = users_named(scim, UserE, upn.upper())
    check(found.total_results == 1 and found.resources[0].id == uid, "filter userName eq (another case): found it")
    found = scim.query(UserE, query_parameters=SearchRequest(filter=f'externalId eq "ext-{RUN}" and active eq true'))
    check(found.total_results == 1 and found.resources[0].id == uid, "filter externalId eq ... and active eq true: found it")

    # Paging: one user a page, sorted by userName, through the whole list.
    total = scim.query(UserE, query_parameters=SearchRequest(count=0))
    check(total.total_results >= 2 and not total.resources, f"count=0: totalResults {total.total_results}, no Resources")
    seen = []
    for start in range(1, total.total_results + 1):
        page = scim.query(UserE, query_parameters=SearchRequest(start_index=start, count=1, sort_by="userName"))
        if page.total_results != total.total_results or page.start_index != start or page.items_per_page != 1 or len(page.resources) != 1:
            fail(f"page {start}: totalResults {page.total_results}, startIndex {page.start_index}, itemsPerPage {page.items_per_page}, "
                 f"{len(page.resources or [])} resource(s)")
        seen.append(page.resources[0].user_name)
    check(len(set(seen)) == total.total_results and upn in seen, f"{len(seen)} pages of one (startIndex, count): every user once")
    check(seen == sorted(seen, key=str.casefold), "sortBy userName: ascending")
    beyond = scim.query(UserE, query_parameters=SearchRequest(start_index=total.total_results + 1, count=5))
    check(not beyond.resources and beyond.total_results == total.total_results, "startIndex past the end: no Resources")
    narrow = scim.query(UserE, query_parameters=SearchRequest(filter=f'userName eq "{upn}"', attributes=["userName"]))
    first = narrow.resources[0]
    check(first.user_name == upn and first.id == uid and first.title is None and first.emails is None, "attributes=userName: id and userName only")

    read = scim.query(UserE, uid)
    check(isinstance(read, UserE) and read.id == uid and read.user_name == upn, "GET /Users/{id}: the same user")
    check(read.meta.version == created.meta.version, "the ETag has not moved since the creation")
    same = scim.query(read)
    check(same is read, "a read with If-None-Match: 304, the client keeps its copy")

    # Replace (PUT, with If-Match from meta.version).
    read.display_name = "Samantha Scim"
    read.nick_name = "Sammy"
    read.name = Name(given_name="Samantha", family_name="Scim")
    read[EnterpriseUser] = EnterpriseUser(employee_number=f"E-{RUN}", department="Quality Assurance")
    replaced = scim.replace(read)
    check(isinstance(replaced, UserE) and replaced.id == uid, "PUT /Users/{id}: a User[EnterpriseUser]")
    check(replaced.display_name == "Samantha Scim" and replaced.nick_name == "Sammy" and replaced.name.given_name == "Samantha",
          "displayName, nickName and name.givenName replaced")
    check(replaced[EnterpriseUser].department == "Quality Assurance", "enterprise department replaced")
    check(replaced.meta.version != read.meta.version, f"the ETag moved: {read.meta.version} -> {replaced.meta.version}")
    expect_scim_error(lambda: scim.replace(read), 412, None, "PUT with the stale version in If-Match: refused")
    state["user"] = replaced

    # Modify (PATCH).
    patch = PatchOp[UserE](operations=[
        PatchOperation(op="replace", path="title", value="Lead Tester"),
        PatchOperation(op="add", path="emails", value=[{"value": f"{alias}@home.example.com", "type": "home"}]),
        PatchOperation(op="replace", path="active", value=False),
    ])
    modified = scim.modify(UserE, uid, patch)
    if modified is None:
        ok("PATCH /Users/{id}: 204")
        modified = scim.query(UserE, uid)
    else:
        check(isinstance(modified, UserE), "PATCH /Users/{id}: 200 with a User[EnterpriseUser]")
    check(modified.title == "Lead Tester", "PATCH replace title")
    check(modified.active is False, "PATCH replace active false")
    emails = {e.type: e.value for e in modified.emails or []}
    check(emails.get("home") == f"{alias}@home.example.com" and emails.get("work") == f"{alias}@work.example.com",
          "PATCH add emails: the home email joins the work one", emails)
    check(modified.display_name == "Samantha Scim", "what PATCH did not name stays")
    again = scim.query(UserE, uid)
    check(again.active is False and again.title == "Lead Tester" and again.meta.version == modified.meta.version, "read back: the PATCH is stored")
    inactive = users_named(scim, UserE, upn)
    check(inactive.total_results == 1 and inactive.resources[0].active is False, "still found by userName, inactive")
    state["user"] = again

    expect_scim_error(lambda: scim.create(UserE(user_name=upn, display_name="Twin")), 409, "uniqueness",
                      "POST /Users with a userName taken: 409 uniqueness")

# ----- groups

with part("groups"):
    user = state.get("user")
    if user is None:
        fail("no user to put in a group (users failed)")
    gname = f"scim2 {RUN} Testers"
    team = scim.create(Group(display_name=gname, external_id=f"gext-{RUN}", members=[GroupMember(value=user.id)]))
    check(isinstance(team, Group) and team.id, f"POST /Groups with the user as a member: a Group with id {team.id}")
    state["group"] = team
    check(team.display_name == gname and team.meta.resource_type == "Group" and str(team.meta.location).endswith(f"/Groups/{team.id}"),
          "displayName, meta.resourceType Group, meta.location")
    check([m.value for m in team.members or []] == [user.id], "members: the user", team.members)
    read = scim.query(Group, team.id)
    member = (read.members or [None])[0]
    check(member is not None and member.value == user.id, "GET /Groups/{id}: the user is a member")
    if member.ref is not None:
        check(str(member.ref).endswith(f"/Users/{user.id}"), f"member $ref {member.ref}")
    if member.type is not None:
        check(member.type == "User", "member type User")
    found = scim.query(Group, query_parameters=SearchRequest(filter=f'displayName eq "{gname}"'))
    check(found.total_results == 1 and found.resources[0].id == team.id, "filter displayName eq: found it")
    member_of = scim.query(UserE, user.id)
    check([g.value for g in member_of.groups or []] == [team.id], "the user's groups name the group", member_of.groups)
    expect_scim_error(lambda: scim.create(Group(display_name=gname.upper())), 409, "uniqueness", "POST /Groups with a displayName taken: 409 uniqueness")
    renamed = scim.modify(Group, team.id, PatchOp[Group](operations=[PatchOperation(op="replace", path="displayName", value=f"{gname} EMEA")]))
    renamed = renamed or scim.query(Group, team.id)
    check(renamed.display_name == f"{gname} EMEA" and [m.value for m in renamed.members or []] == [user.id],
          "PATCH replace displayName: renamed, members kept")
    removed = scim.modify(Group, team.id, PatchOp[Group](operations=[PatchOperation(op="remove", path=f'members[value eq "{user.id}"]')]))
    removed = removed or scim.query(Group, team.id)
    check(not removed.members, "PATCH remove members[value eq ...]: no members left", removed.members)
    check(not scim.query(UserE, user.id).groups, "the user's groups: none")
    added = scim.modify(Group, team.id, PatchOp[Group](operations=[PatchOperation(op="add", path="members", value=[{"value": user.id}])]))
    added = added or scim.query(Group, team.id)
    check([m.value for m in added.members or []] == [user.id], "PATCH add members: the user is back")
    # The models discovery built from Ward's own /Schemas read the user, strictly, too: every
    # attribute Ward answers with is one its schemas declare.
    ward_user = discovered.query("User", user.id)
    check(ward_user.id == user.id and [g.value for g in ward_user.groups or []] == [team.id],
          "GET /Users/{id} through the models built from Ward's schemas: valid, groups included")
    ward_group = discovered.query("Group", team.id)
    check([m.value for m in ward_group.members or []] == [user.id], "GET /Groups/{id} through the models built from Ward's schemas: valid")

# ----- POST .search

with part("search"):
    upn = state.get("upn")
    if upn is None:
        fail("no user to search for (users failed)")
    hits = scim.search(UserE, SearchRequest(filter=f'userName sw "scim2-{RUN}-"', sort_by="userName", attributes=["userName", "active"]))
    check(isinstance(hits, ListResponse) and hits.total_results == 1 and hits.resources[0].user_name == upn,
          "POST /Users/.search: filter sw, sortBy, attributes: the user")
    check(hits.resources[0].active is False and hits.resources[0].title is None, "only the attributes asked for")
    groups = scim.search(Group, SearchRequest(filter=f'displayName co "{RUN}"', excluded_attributes=["members"]))
    check(groups.total_results == 1 and groups.resources[0].members is None, "POST /Groups/.search, excludedAttributes members")

# ----- Bulk

with part("bulk POST"):
    domain = state["upn"].split("@")[1] if "upn" in state else fail("no domain (users failed)")
    bulk_upn = f"scim2-{RUN}-bulk@{domain}"
    made = scim.bulk(BulkRequest[UserE | Group](operations=[
        BulkOperation[UserE](method="POST", path="/Users", bulk_id="u1", data=UserE(user_name=bulk_upn, display_name="Bulk User")),
        BulkOperation[Group](method="POST", path="/Groups", bulk_id="g1",
                             data=Group(display_name=f"scim2 {RUN} Bulk", members=[GroupMember(value="bulkId:u1")])),
    ]))
    ops = {op.bulk_id: op for op in made.operations or []}
    check(set(ops) == {"u1", "g1"} and all(op.status == 201 for op in ops.values()),
          "POST /Bulk: a user and a group naming it by bulkId, both 201", [(op.bulk_id, op.status) for op in made.operations or []])
    state["bulk_user"] = str(ops["u1"].location).rsplit("/", 1)[1]
    state["bulk_group"] = str(ops["g1"].location).rsplit("/", 1)[1]
    bulk_group = scim.query(Group, state["bulk_group"])
    check([m.value for m in bulk_group.members or []] == [state["bulk_user"]], "the bulkId reference resolved to the new user")

with part("bulk failure"):
    if "bulk_user" not in state:
        fail("nothing made by Bulk (bulk POST failed)")
    twin = scim.bulk(BulkRequest[UserE](operations=[
        BulkOperation[UserE](method="POST", path="/Users", bulk_id="twin", data=UserE(user_name=bulk_upn)),
    ]))
    op = (twin.operations or [None])[0]
    error = op.response if op else None
    check(op is not None and op.status == 409 and error is not None and error.scim_type == "uniqueness",
          "POST /Bulk with a userName taken: that operation 409, its response an Error with scimType uniqueness", op)

with part("bulk PATCH"):
    if "bulk_group" not in state:
        fail("nothing made by Bulk (bulk POST failed)")
    renamed = scim.bulk(BulkRequest[Group](operations=[
        BulkOperation[Group](method="PATCH", path=f"/Groups/{state['bulk_group']}",
                             data=PatchOp[Group](operations=[PatchOperation(op="replace", path="displayName", value=f"scim2 {RUN} Bulk 2")])),
    ]))
    op = (renamed.operations or [None])[0]
    check(op is not None and op.status in (200, 204), f"POST /Bulk with a PATCH of the group: {op.status if op else None}")
    check(scim.query(Group, state["bulk_group"]).display_name == f"scim2 {RUN} Bulk 2", "the group renamed")

with part("bulk DELETE"):
    if "bulk_group" not in state:
        fail("nothing made by Bulk (bulk POST failed)")
    gone = scim.bulk(BulkRequest[UserE | Group](operations=[
        BulkOperation[Group](method="DELETE", path=f"/Groups/{state['bulk_group']}"),
        BulkOperation[UserE](method="DELETE", path=f"/Users/{state['bulk_user']}"),
    ]))
    check([op.status for op in gone.operations or []] == [204, 204], "POST /Bulk: both deleted, 204 each")
    expect_scim_error(lambda: scim.query(UserE, state["bulk_user"]), 404, None, "the user deleted by Bulk: 404")

# ----- errors and deletion

with part("errors"):
    # scim2-models refuses to build such a filter, so the query parameters go as they are.
    expect_scim_error(lambda: scim.query(UserE, query_parameters={"filter": 'userName zz "x"'}, check_request_payload=False),
                      400, "invalidFilter", "a filter with an unknown operator: 400 invalidFilter")
    expect_scim_error(lambda: scim.query(UserE, "00000000-0000-0000-0000-000000000009"), 404, None, "GET /Users/<unknown id>: 404")
    stranger = SyncSCIMClient(http_client("ward_scim_not-a-token"), provider=scim.provider)
    expect_scim_error(lambda: stranger.query(UserE), 401, None, "a made-up token: 401")

with part("deletion"):
    team, user = state.get("group"), state.get("user")
    if team is not None:
        check(scim.delete(Group, team.id) is None, "DELETE /Groups/{id}: 204")
        expect_scim_error(lambda: scim.query(Group, team.id), 404, None, "the deleted group: 404")
    if user is not None:
        check(scim.delete(UserE, user.id) is None, "DELETE /Users/{id}: 204")
        expect_scim_error(lambda: scim.query(UserE, user.id), 404, None, "GET the deleted user: 404")
        check(users_named(scim, UserE, user.user_name).total_results == 0, "nor found by userName")

if failures:
    print(f"\nscim2-client provisioning: {len(failures)} failure(s):", *(f"  - {f}" for f in failures), sep="\n", flush=True)
    sys.exit(1)
print("scim2-client provisioning: all checks passed")
