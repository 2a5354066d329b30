//! SCIM 2.0 against the real binary (issue 7): Entra's provisioning sequences replayed with its
//! exact request shapes (default and `aadOptscim062020` forms), one directory with Graph both
//! ways, Bulk, discovery, tokens and permissions, ETags, and hostile input.

mod common;
use common::*;
use serde_json::{Value, json};

const CORE_USER: &str = "urn:ietf:params:scim:schemas:core:2.0:User";
const ENTERPRISE: &str = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User";
const PATCH_OP: &str = "urn:ietf:params:scim:api:messages:2.0:PatchOp";

struct Setup {
    dir: tempfile::TempDir,
    server: Server,
    tid: String,
    domain: String,
    /// A SCIM token named "HR".
    scim_token: String,
    scim_token_id: String,
    /// The automation app's Graph token (every application permission).
    graph: String,
    /// The Global Administrator `ward init` made.
    admin: String,
}

fn cli(d: &std::path::Path, args: &[&str]) -> Value {
    json(&ok(ward(d).args(args).args(["--data-dir", "data"])))
}

async fn setup() -> Setup {
    let dir = tempfile::tempdir().unwrap();
    let init = init(dir.path(), &[]);
    let token = cli(dir.path(), &["scim", "token", "create", "--name", "HR", "--json"]);
    let server = Server::start(dir.path(), &["--data-dir", "data"]);
    let tid = init["tenant_id"].as_str().unwrap().to_string();
    let (status, body) = client_token(&server, &tid, init["client_id"].as_str().unwrap(), init["client_secret"].as_str().unwrap()).await;
    assert_eq!(status, 200, "{body}");
    let domain = init["admin_upn"].as_str().unwrap().split('@').nth(1).unwrap().to_string();
    Setup {
        dir,
        server,
        tid,
        domain,
        scim_token: token["secret"].as_str().unwrap().to_string(),
        scim_token_id: token["id"].as_str().unwrap().to_string(),
        graph: body["access_token"].as_str().unwrap().to_string(),
        admin: init["admin_upn"].as_str().unwrap().to_string(),
    }
}

struct Reply {
    status: u16,
    body: Value,
    headers: reqwest::header::HeaderMap,
}

impl Setup {
    async fn send(&self, token: Option<&str>, method: &str, path: &str, body: Option<Vec<u8>>, headers: &[(&str, &str)]) -> Reply {
        let url = if path.starts_with("http") {
            path.replace("localhost", "127.0.0.1")
        } else if path.starts_with('/') {
            self.server.url(path)
        } else {
            self.server.url(&format!("/scim/v2/{}/{path}", self.tid))
        };
        let mut req = http().request(method.parse().unwrap(), url);
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        if let Some(b) = body {
            req = req.header("content-type", "application/scim+json").body(b);
        }
        let r = req.send().await.unwrap();
        let status = r.status().as_u16();
        let headers = r.headers().clone();
        let text = r.text().await.unwrap();
        Reply { status, body: serde_json::from_str(&text).unwrap_or(Value::String(text)), headers }
    }
    async fn scim(&self, method: &str, path: &str, body: Option<Value>) -> Reply {
        self.send(Some(&self.scim_token.clone()), method, path, body.map(|b| b.to_string().into_bytes()), &[]).await
    }
    async fn graph(&self, method: &str, path: &str, body: Option<Value>) -> (u16, Value) {
        let r = self.send(Some(&self.graph.clone()), method, path, body.map(|b| b.to_string().into_bytes()), &[]).await;
        (r.status, r.body)
    }
    fn upn(&self, alias: &str) -> String {
        format!("{alias}@{}", self.domain)
    }
    /// Entra's create-user body (entra-apis.md §4.2), with a user name in the tenant's domain.
    fn entra_user(&self, alias: &str, external_id: &str) -> Value {
        json!({
            "schemas": [CORE_USER, ENTERPRISE],
            "externalId": external_id,
            "userName": self.upn(alias),
            "active": true,
            "emails": [{ "primary": true, "type": "work", "value": format!("{alias}@testuser.com") }],
            "meta": { "resourceType": "User" },
            "name": { "formatted": "givenName familyName", "familyName": "familyName", "givenName": "givenName" },
            "roles": []
        })
    }
    async fn create_user(&self, alias: &str) -> String {
        let r = self.scim("POST", "Users", Some(self.entra_user(alias, &format!("ext-{alias}")))).await;
        assert_eq!(r.status, 201, "{}", r.body);
        r.body["id"].as_str().unwrap().to_string()
    }
}

fn scim_type(r: &Reply) -> &str {
    r.body["scimType"].as_str().unwrap_or("")
}

fn assert_scim_error(r: &Reply, status: u16, kind: Option<&str>) {
    assert_eq!(r.status, status, "{}", r.body);
    assert_eq!(r.body["schemas"], json!(["urn:ietf:params:scim:api:messages:2.0:Error"]), "{}", r.body);
    assert_eq!(r.body["status"], json!(status.to_string()), "status is a string: {}", r.body);
    if let Some(k) = kind {
        assert_eq!(scim_type(r), k, "{}", r.body);
    }
}

fn patch(ops: Value) -> Value {
    json!({ "schemas": [PATCH_OP], "Operations": ops })
}

#[tokio::test]
async fn entra_user_sequence_lands_in_the_one_directory() {
    let s = setup().await;
    let user_name = s.upn("Test_User_00aa00aa-bb11-cc22-dd33-44ee44ee44ee");
    // Test Connection: a random user that does not exist is an empty list, never 404.
    let r = s.scim("GET", &format!("Users?filter=userName eq \"{user_name}\""), None).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.headers["content-type"], "application/scim+json");
    assert_eq!((r.body["totalResults"].clone(), r.body["Resources"].clone()), (json!(0), json!([])));

    // The change feed, through Graph's delta: a round now, to see what SCIM changes after it.
    let mut delta = s.graph("GET", "/v1.0/users/delta?$select=displayName", None).await.1;
    while let Some(next) = delta["@odata.nextLink"].as_str().map(str::to_string) {
        delta = s.graph("GET", &next, None).await.1;
    }
    let delta_link = delta["@odata.deltaLink"].as_str().unwrap().to_string();

    // Create.
    let r = s
        .scim("POST", "Users", Some(s.entra_user("Test_User_00aa00aa-bb11-cc22-dd33-44ee44ee44ee", "0a21f0f2-8d2a-4f8e-bf98-7363c4aed4ef")))
        .await;
    assert_eq!(r.status, 201, "{}", r.body);
    let id = r.body["id"].as_str().unwrap().to_string();
    assert_eq!(r.headers["location"].to_str().unwrap(), r.body["meta"]["location"].as_str().unwrap());
    assert!(r.body["meta"]["location"].as_str().unwrap().ends_with(&format!("/Users/{id}")));
    assert_eq!(r.headers["etag"].to_str().unwrap(), r.body["meta"]["version"].as_str().unwrap());
    assert_eq!(r.body["userName"], json!(user_name));
    assert_eq!(r.body["name"]["formatted"], json!("givenName familyName"), "kept as sent");

    // The same object in Graph.
    let (status, g) = s
        .graph("GET", &format!("/v1.0/users/{id}?$select=userPrincipalName,displayName,givenName,surname,mail,accountEnabled"), None)
        .await;
    assert_eq!(status, 200, "{g}");
    assert_eq!(g["userPrincipalName"], json!(user_name));
    assert_eq!(g["displayName"], json!("givenName familyName"));
    assert_eq!((g["givenName"].clone(), g["surname"].clone()), (json!("givenName"), json!("familyName")));
    assert_eq!(g["mail"], json!("Test_User_00aa00aa-bb11-cc22-dd33-44ee44ee44ee@testuser.com"));
    assert!(g.get("externalId").is_none() && g.get("scim").is_none(), "SCIM's own fields stay out of Graph: {g}");

    let (_, changes) = s.graph("GET", &delta_link, None).await;
    assert_eq!(changes["value"], json!([{ "id": id, "displayName": "givenName familyName" }]), "the SCIM write is in the feed");

    // Find, by the matching attributes Entra uses (and unquoted, as one of its samples has it).
    for filter in [format!("userName eq \"{}\"", user_name.to_uppercase()), "externalId eq \"0a21f0f2-8d2a-4f8e-bf98-7363c4aed4ef\"".into()]
    {
        let r = s.scim("GET", &format!("Users?filter={}", urlencode(&filter)), None).await;
        assert_eq!(r.body["totalResults"], json!(1), "{filter}: {}", r.body);
        assert_eq!(r.body["Resources"][0]["id"], json!(id));
    }
    let r = s.scim("GET", "Users?filter=externalId%20eq%200a21f0f2-8d2a-4f8e-bf98-7363c4aed4ef", None).await;
    assert_eq!(r.body["totalResults"], json!(1), "{}", r.body);
    // externalId is case-exact.
    let r = s.scim("GET", "Users?filter=externalId%20eq%20%220A21F0F2-8D2A-4F8E-BF98-7363C4AED4EF%22", None).await;
    assert_eq!(r.body["totalResults"], json!(0), "{}", r.body);

    // Update, default mode: capitalised ops, one per attribute.
    let r = s
        .scim(
            "PATCH",
            &format!("Users/{id}"),
            Some(patch(json!([
                { "op": "Replace", "path": "emails[type eq \"work\"].value", "value": "updatedEmail@microsoft.com" },
                { "op": "Replace", "path": "name.familyName", "value": "updatedFamilyName" },
                { "op": "Replace", "path": format!("{ENTERPRISE}:employeeNumber"), "value": "Eqpj" },
                { "op": "Add", "path": "nickName", "value": "Babs" },
            ]))),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body["nickName"], json!("Babs"));
    let (_, g) = s.graph("GET", &format!("/v1.0/users/{id}?$select=mail,surname,employeeId"), None).await;
    assert_eq!(
        (g["mail"].clone(), g["surname"].clone(), g["employeeId"].clone()),
        (json!("updatedEmail@microsoft.com"), json!("updatedFamilyName"), json!("Eqpj"))
    );

    // Compliant mode: one path-less replace with dotted and URN keys.
    let r = s
        .scim(
            "PATCH",
            &format!("Users/{id}"),
            Some(patch(json!([{ "op": "replace", "value": {
                "displayName": "Bjfe", "name.givenName": "Kkom", "name.familyName": "Unua",
                format!("{ENTERPRISE}:employeeNumber"): "Aklq"
            } }]))),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let (_, g) = s.graph("GET", &format!("/v1.0/users/{id}?$select=displayName,givenName,surname,employeeId"), None).await;
    assert_eq!(g["displayName"], json!("Bjfe"));
    assert_eq!((g["givenName"].clone(), g["surname"].clone(), g["employeeId"].clone()), (json!("Kkom"), json!("Unua"), json!("Aklq")));

    // Graph to SCIM: a change made through Graph shows at once.
    let (status, _) = s.graph("PATCH", &format!("/v1.0/users/{id}"), Some(json!({ "jobTitle": "Buyer", "department": "Sales" }))).await;
    assert_eq!(status, 204);
    let r = s.scim("GET", &format!("Users/{id}"), None).await;
    assert_eq!(r.body["title"], json!("Buyer"));
    assert_eq!(r.body[ENTERPRISE]["department"], json!("Sales"));

    // Disable, default mode: the string "False". Still found, inactive; Graph says disabled.
    let r = s.scim("PATCH", &format!("Users/{id}"), Some(patch(json!([{ "op": "Replace", "path": "active", "value": "False" }])))).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body["active"], json!(false));
    let (_, g) = s.graph("GET", &format!("/v1.0/users/{id}?$select=accountEnabled"), None).await;
    assert_eq!(g["accountEnabled"], json!(false));
    let r = s.scim("GET", &format!("Users?filter=userName eq \"{user_name}\""), None).await;
    assert_eq!(r.body["Resources"][0]["active"], json!(false), "{}", r.body);
    // Compliant mode re-enables with a boolean.
    let r = s.scim("PATCH", &format!("Users/{id}"), Some(patch(json!([{ "op": "replace", "path": "active", "value": true }])))).await;
    assert_eq!(r.body["active"], json!(true));

    // The audit log says who: the SCIM token.
    let (_, audits) = s.graph("GET", "/v1.0/auditLogs/directoryAudits", None).await;
    let by_token = audits["value"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|a| a["initiatedBy"]["app"]["displayName"] == json!("SCIM token 'HR'"))
        .map(|a| a["activityDisplayName"].as_str().unwrap().to_string())
        .collect::<Vec<_>>();
    assert!(by_token.contains(&"Add user".to_string()) && by_token.contains(&"Update user".to_string()), "{by_token:?}");

    // Delete: gone from SCIM (404 in SCIM's shape) and from Graph's users.
    let r = s.scim("DELETE", &format!("Users/{id}"), None).await;
    assert_eq!(r.status, 204);
    assert_scim_error(&s.scim("GET", &format!("Users/{id}"), None).await, 404, None);
    assert_eq!(s.graph("GET", &format!("/v1.0/users/{id}"), None).await.0, 404);

    // The token's last use is listed.
    let listed = cli(s.dir.path(), &["scim", "token", "list", "--json"]);
    let t = listed["value"].as_array().unwrap().iter().find(|t| t["id"] == json!(s.scim_token_id)).unwrap();
    assert!(t["lastUsedDateTime"].is_string(), "{listed}");
    assert!(!listed.to_string().contains(&s.scim_token), "the secret is never listed");
}

fn urlencode(s: &str) -> String {
    s.bytes()
        .map(|b| if b.is_ascii_alphanumeric() || b"-_.~@".contains(&b) { (b as char).to_string() } else { format!("%{b:02X}") })
        .collect()
}

#[tokio::test]
async fn entra_group_sequence_both_member_removal_styles() {
    let s = setup().await;
    let (a, b, c) = (s.create_user("ann").await, s.create_user("bob").await, s.create_user("cy").await);
    let r = s.scim("GET", "Groups?excludedAttributes=members&filter=displayName eq \"Sales\"", None).await;
    assert_eq!(r.body["totalResults"], json!(0), "{}", r.body);
    let r = s
        .scim(
            "POST",
            "Groups",
            Some(json!({
                "schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group", "http://schemas.microsoft.com/2006/11/ResourceManagement/ADSCIM/2.0/Group"],
                "externalId": "8aa1a0c0-c4c3-4bc0-b4a5-2ef676900159",
                "displayName": "Sales",
                "meta": { "resourceType": "Group" }
            })),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.body);
    // No members yet: RFC 7643 §2.5 makes an empty list and an absent attribute the same.
    assert!(r.body.get("members").is_none_or(|m| m == &json!([])), "{}", r.body);
    let gid = r.body["id"].as_str().unwrap().to_string();

    // Eight creates of one name at once: one group.
    let racing = (0..8).map(|_| {
        s.scim("POST", "Groups", Some(json!({ "schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"], "displayName": "Racing" })))
    });
    let statuses: Vec<u16> = futures_util::future::join_all(racing).await.iter().map(|r| r.status).collect();
    assert_eq!(statuses.iter().filter(|s| **s == 201).count(), 1, "{statuses:?}");
    assert_eq!(statuses.iter().filter(|s| **s == 409).count(), 7, "{statuses:?}");

    // Duplicate display name (any case): 409 uniqueness.
    let dup =
        s.scim("POST", "Groups", Some(json!({ "schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"], "displayName": "SALES" }))).await;
    assert_scim_error(&dup, 409, Some("uniqueness"));

    // Add members (Entra: `$ref` null), several in one PATCH, one already there: 204, no error.
    let add = patch(
        json!([{ "op": "Add", "path": "members", "value": [{ "$ref": null, "value": a }, { "$ref": null, "value": b }, { "value": c }] }]),
    );
    assert_eq!(s.scim("PATCH", &format!("Groups/{gid}"), Some(add.clone())).await.status, 204);
    assert_eq!(s.scim("PATCH", &format!("Groups/{gid}"), Some(add)).await.status, 204, "adding again is a no-op");
    let members = |v: &Value| -> Vec<String> {
        let mut m: Vec<String> = v["value"].as_array().unwrap().iter().map(|m| m["id"].as_str().unwrap().to_string()).collect();
        m.sort();
        m
    };
    let (_, g) = s.graph("GET", &format!("/v1.0/groups/{gid}/members"), None).await;
    let mut all = vec![a.clone(), b.clone(), c.clone()];
    all.sort();
    assert_eq!(members(&g), all);

    // Default removal (value array, not RFC): removes only that member.
    let rm = patch(json!([{ "op": "Remove", "path": "members", "value": [{ "$ref": null, "value": a }] }]));
    assert_eq!(s.scim("PATCH", &format!("Groups/{gid}"), Some(rm)).await.status, 204);
    // Compliant removal (filter in the path).
    let rm = patch(json!([{ "op": "remove", "path": format!("members[value eq \"{b}\"]") }]));
    assert_eq!(s.scim("PATCH", &format!("Groups/{gid}"), Some(rm)).await.status, 204);
    let (_, g) = s.graph("GET", &format!("/v1.0/groups/{gid}/members"), None).await;
    assert_eq!(members(&g), vec![c.clone()]);

    // Reads: members by default, left out on request; the user shows the group.
    let r = s.scim("GET", &format!("Groups/{gid}"), None).await;
    assert_eq!(r.body["members"][0]["value"], json!(c), "{}", r.body);
    let r = s.scim("GET", &format!("Groups/{gid}?excludedAttributes=members"), None).await;
    assert!(r.body.get("members").is_none(), "{}", r.body);
    let r = s.scim("GET", &format!("Users/{c}"), None).await;
    assert_eq!(r.body["groups"][0]["value"], json!(gid), "{}", r.body);

    // The ETag moves with the membership.
    let before = s.scim("GET", &format!("Groups/{gid}"), None).await.headers["etag"].to_str().unwrap().to_string();
    let add = patch(json!([{ "op": "add", "path": "members", "value": [{ "value": a }] }]));
    s.scim("PATCH", &format!("Groups/{gid}"), Some(add)).await;
    let after = s.scim("GET", &format!("Groups/{gid}"), None).await.headers["etag"].to_str().unwrap().to_string();
    assert_ne!(before, after);

    // A member in deleted items is not listed (nor its link lost: Graph can restore it).
    assert_eq!(s.scim("DELETE", &format!("Users/{c}"), None).await.status, 204);
    let r = s.scim("GET", &format!("Groups/{gid}"), None).await;
    let listed: Vec<&str> =
        r.body["members"].as_array().map(|m| m.iter().map(|x| x["value"].as_str().unwrap()).collect()).unwrap_or_default();
    assert_eq!(listed, vec![a.as_str()], "{}", r.body);

    // Rename, then delete.
    let r = s
        .scim("PATCH", &format!("Groups/{gid}"), Some(patch(json!([{ "op": "Replace", "path": "displayName", "value": "Sales EMEA" }]))))
        .await;
    assert_eq!(r.status, 204, "{}", r.body);
    let (_, g) = s.graph("GET", &format!("/v1.0/groups/{gid}?$select=displayName"), None).await;
    assert_eq!(g["displayName"], json!("Sales EMEA"));
    // A member that does not exist is the request's error, and nothing of the PATCH is applied.
    let bad = patch(json!([
        { "op": "Replace", "path": "displayName", "value": "Renamed" },
        { "op": "add", "path": "members", "value": [{ "value": "00000000-0000-0000-0000-000000000001" }] }
    ]));
    assert_scim_error(&s.scim("PATCH", &format!("Groups/{gid}"), Some(bad)).await, 400, Some("invalidValue"));
    let (_, g) = s.graph("GET", &format!("/v1.0/groups/{gid}?$select=displayName"), None).await;
    assert_eq!(g["displayName"], json!("Sales EMEA"));
    assert_eq!(s.scim("DELETE", &format!("Groups/{gid}"), None).await.status, 204);
    assert_scim_error(&s.scim("GET", &format!("Groups/{gid}"), None).await, 404, None);
}

#[tokio::test]
async fn hostile_and_malformed_input_gets_scim_errors() {
    let s = setup().await;
    let id = s.create_user("dana").await;
    for (filter, status, kind) in [
        ("userName eq", 400, "invalidFilter"),
        ("userName zz \"a\"", 400, "invalidFilter"),
        ("emails[type eq \"work\"", 400, "invalidFilter"),
        ("nosuch eq \"a\"", 400, "invalidFilter"),
        ("active gt true", 400, "invalidFilter"),
    ] {
        let r = s.scim("GET", &format!("Users?filter={}", urlencode(filter)), None).await;
        assert_scim_error(&r, status, Some(kind));
    }
    let deep = format!("{}userName eq \"x\"{}", "(".repeat(200), ")".repeat(200));
    assert_scim_error(&s.scim("GET", &format!("Users?filter={}", urlencode(&deep)), None).await, 400, Some("invalidFilter"));

    let mut body = s.entra_user("dana", "x");
    assert_scim_error(&s.scim("POST", "Users", Some(body.clone())).await, 409, Some("uniqueness"));
    body["userName"] = json!(s.upn("DANA").to_uppercase());
    assert_scim_error(&s.scim("POST", "Users", Some(body.clone())).await, 409, Some("uniqueness"));
    body["userName"] = json!("someone@not-our-domain.example");
    assert_scim_error(&s.scim("POST", "Users", Some(body.clone())).await, 400, Some("invalidValue"));
    let mut unknown = s.entra_user("erin", "x");
    unknown["favouriteColour"] = json!("blue");
    assert_scim_error(&s.scim("POST", "Users", Some(unknown)).await, 400, Some("invalidSyntax"));
    let mut wrong = s.entra_user("erin", "x");
    wrong["active"] = json!(5);
    assert_scim_error(&s.scim("POST", "Users", Some(wrong)).await, 400, Some("invalidValue"));
    let mut huge = s.entra_user("erin", "x");
    huge["emails"] = Value::Array((0..2000).map(|i| json!({ "value": format!("erin{i}@x.example"), "type": "other" })).collect());
    assert_scim_error(&s.scim("POST", "Users", Some(huge)).await, 400, Some("invalidValue"));
    let not_json = s.send(Some(&s.scim_token), "POST", "Users", Some(b"{not json".to_vec()), &[]).await;
    assert_scim_error(&not_json, 400, Some("invalidSyntax"));
    let big = vec![b' '; 2 * 1024 * 1024];
    assert_scim_error(&s.send(Some(&s.scim_token), "POST", "Users", Some(big), &[]).await, 413, None);

    let at = format!("Users/{id}");
    assert_scim_error(
        &s.scim("PATCH", &at, Some(patch(json!([{ "op": "replace", "path": "nosuch", "value": 1 }])))).await,
        400,
        Some("invalidPath"),
    );
    assert_scim_error(&s.scim("PATCH", &at, Some(patch(json!([{ "op": "remove", "path": "userName" }])))).await, 400, Some("mutability"));
    assert_scim_error(&s.scim("PATCH", &at, Some(patch(json!([{ "op": "remove" }])))).await, 400, Some("noTarget"));
    assert_scim_error(
        &s.scim("PATCH", &at, Some(patch(json!([{ "op": "replace", "path": "id", "value": "x" }])))).await,
        400,
        Some("mutability"),
    );
    // Atomic: the second operation fails, the first is not applied.
    let half =
        patch(json!([{ "op": "replace", "path": "title", "value": "Chief" }, { "op": "replace", "path": "active", "value": "maybe" }]));
    assert_scim_error(&s.scim("PATCH", &at, Some(half)).await, 400, Some("invalidValue"));
    assert!(s.scim("GET", &at, None).await.body.get("title").is_none());
    assert_scim_error(&s.scim("GET", "Users/not-an-id", None).await, 404, None);
    assert_scim_error(&s.scim("GET", "Users/00000000-0000-0000-0000-000000000009", None).await, 404, None);

    // ETags: a stale If-Match is 412 and changes nothing; If-None-Match is 304.
    let current = s.scim("GET", &at, None).await.headers["etag"].to_str().unwrap().to_string();
    let stale = s
        .send(
            Some(&s.scim_token),
            "PATCH",
            &at,
            Some(patch(json!([{ "op": "replace", "path": "title", "value": "Late" }])).to_string().into_bytes()),
            &[("If-Match", "W/\"999\"")],
        )
        .await;
    assert_scim_error(&stale, 412, None);
    assert_eq!(s.send(Some(&s.scim_token), "GET", &at, None, &[("If-None-Match", &current)]).await.status, 304);
    let fresh = s
        .send(
            Some(&s.scim_token),
            "PATCH",
            &at,
            Some(patch(json!([{ "op": "replace", "path": "title", "value": "On time" }])).to_string().into_bytes()),
            &[("If-Match", &current)],
        )
        .await;
    assert_eq!(fresh.status, 200, "{}", fresh.body);
    assert_ne!(fresh.headers["etag"].to_str().unwrap(), current);

    // Passwords are Argon2id hashes: at most 100 of them in one Bulk request.
    let ops: Vec<Value> = (0..101)
        .map(|i| {
            let mut u = s.entra_user(&format!("pw{i}"), "x");
            u["password"] = json!("Correct-Horse-Battery-9");
            json!({ "method": "POST", "path": "/Users", "bulkId": format!("pw{i}"), "data": u })
        })
        .collect();
    let r =
        s.scim("POST", "Bulk", Some(json!({ "schemas": ["urn:ietf:params:scim:api:messages:2.0:BulkRequest"], "Operations": ops }))).await;
    assert_scim_error(&r, 400, Some("tooMany"));

    // Bulk beyond its advertised maxPayloadSize (1 MiB): 413 in SCIM's shape.
    let filler = "x".repeat(1024 * 1024);
    let big_bulk = json!({ "schemas": ["urn:ietf:params:scim:api:messages:2.0:BulkRequest"], "Operations": [{ "method": "POST", "path": "/Users", "bulkId": "b", "data": { "userName": filler } }] });
    assert_scim_error(&s.scim("POST", "Bulk", Some(big_bulk)).await, 413, None);

    // Bulk beyond its advertised maxOperations: 413.
    let ops: Vec<Value> =
        (0..1001).map(|i| json!({ "method": "DELETE", "path": format!("/Users/00000000-0000-0000-0000-{i:012}") })).collect();
    let r =
        s.scim("POST", "Bulk", Some(json!({ "schemas": ["urn:ietf:params:scim:api:messages:2.0:BulkRequest"], "Operations": ops }))).await;
    assert_scim_error(&r, 413, None);
}

#[tokio::test]
async fn who_may_provision() {
    let s = setup().await;
    let d = s.dir.path();
    // No token, a made-up token, a revoked token: 401 with a challenge.
    for token in [None, Some("ward_scim_made-up"), Some("eyJhbGciOiJub25lIn0.e30.")] {
        let r = s.send(token, "GET", "Users", None, &[]).await;
        assert_scim_error(&r, 401, None);
        assert!(r.headers["www-authenticate"].to_str().unwrap().starts_with("Bearer"), "{:?}", r.headers);
    }
    // An application with User.Read.All reads, but cannot write; nor touch groups.
    let app = cli(d, &["app", "create", "--json", "--name", "Reader"]);
    let app_id = app["appId"].as_str().unwrap();
    ok(ward(d).args(["app", "grant", app_id, "User.Read.All", "--data-dir", "data"]));
    let secret = cli(d, &["app", "add-secret", app_id, "--json"]);
    let (status, body) = client_token(&s.server, &s.tid, app_id, secret["secretText"].as_str().unwrap()).await;
    assert_eq!(status, 200, "{body}");
    let reader = body["access_token"].as_str().unwrap();
    assert_eq!(s.send(Some(reader), "GET", "Users", None, &[]).await.status, 200);
    let create = s.entra_user("fay", "x").to_string().into_bytes();
    assert_scim_error(&s.send(Some(reader), "POST", "Users", Some(create.clone()), &[]).await, 403, None);
    assert_scim_error(&s.send(Some(reader), "GET", "Groups", None, &[]).await, 403, None);
    // The automation app (User.ReadWrite.All) writes.
    assert_eq!(s.send(Some(&s.graph), "POST", "Users", Some(create), &[]).await.status, 201);
    // Another tenant's path with this tenant's token: unknown tenant first, no leak of which.
    assert_scim_error(
        &s.send(Some(&s.scim_token), "GET", "/scim/v2/00000000-0000-0000-0000-000000000042/Users", None, &[]).await,
        404,
        None,
    );
    // Members are users and groups: a service principal is refused.
    let g =
        s.scim("POST", "Groups", Some(json!({ "schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"], "displayName": "Apps" }))).await;
    let gid = g.body["id"].as_str().unwrap();
    let sp = app["servicePrincipalId"].as_str().unwrap();
    let add = patch(json!([{ "op": "add", "path": "members", "value": [{ "value": sp }] }]));
    assert_scim_error(&s.scim("PATCH", &format!("Groups/{gid}"), Some(add)).await, 400, Some("invalidValue"));

    // Administrators are out of provisioning's reach: no password, no disabling, no deletion.
    let admin = s.scim("GET", &format!("Users?filter=userName eq \"{}\"", s.admin), None).await;
    let admin_id = admin.body["Resources"][0]["id"].as_str().unwrap().to_string();
    for body in [
        json!([{ "op": "replace", "path": "active", "value": false }]),
        json!([{ "op": "replace", "path": "password", "value": "Taken-Over-Passw0rd!" }]),
    ] {
        assert_scim_error(&s.scim("PATCH", &format!("Users/{admin_id}"), Some(patch(body))).await, 403, None);
    }
    assert_scim_error(&s.scim("DELETE", &format!("Users/{admin_id}"), None).await, 403, None);
    assert_eq!(s.graph("GET", &format!("/v1.0/users/{admin_id}?$select=accountEnabled"), None).await.1["accountEnabled"], json!(true));

    // Bad token commands are refused with the error's code.
    fails_with(ward(d).args(["scim", "token", "create", "--name", "", "--data-dir", "data"]), "invalid_value");
    fails_with(ward(d).args(["scim", "token", "revoke", "00000000-0000-0000-0000-00000000beef", "--data-dir", "data"]), "not_found");

    // Revoked: refused on the next request.
    ok(ward(d).args(["scim", "token", "revoke", &s.scim_token_id, "--data-dir", "data"]));
    assert_scim_error(&s.scim("GET", "Users", None).await, 401, None);
}

#[tokio::test]
async fn bulk_with_forward_references_and_fail_on_errors() {
    let s = setup().await;
    let request = json!({
        "schemas": ["urn:ietf:params:scim:api:messages:2.0:BulkRequest"],
        "Operations": [
            // The group names a user created later in the request (RFC 7644 §3.7.2).
            { "method": "POST", "path": "/Groups", "bulkId": "g1", "data": {
                "schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"], "displayName": "Bulk Group",
                "members": [{ "value": "bulkId:u1" }] } },
            { "method": "POST", "path": "/Users", "bulkId": "u1", "data": s.entra_user("gil", "g-1") },
            { "method": "POST", "path": "/Users", "bulkId": "u2", "data": s.entra_user("gil", "g-2") },
            { "method": "PATCH", "path": "/Users/bulkId:u1", "data": patch(json!([{ "op": "replace", "path": "title", "value": "Lead" }])) },
        ]
    });
    let r = s.scim("POST", "Bulk", Some(request)).await;
    assert_eq!(r.status, 200, "{}", r.body);
    let ops = r.body["Operations"].as_array().unwrap();
    let by_bulk_id = |id: &str| ops.iter().find(|o| o["bulkId"] == json!(id)).unwrap().clone();
    assert_eq!(by_bulk_id("u1")["status"], json!("201"));
    assert_eq!(by_bulk_id("g1")["status"], json!("201"), "{}", r.body);
    assert_eq!(by_bulk_id("u2")["status"], json!("409"), "a duplicate userName fails alone");
    assert_eq!(by_bulk_id("u2")["response"]["scimType"], json!("uniqueness"));
    let user = by_bulk_id("u1")["location"].as_str().unwrap().rsplit('/').next().unwrap().to_string();
    let group = by_bulk_id("g1")["location"].as_str().unwrap().rsplit('/').next().unwrap().to_string();
    let g = s.scim("GET", &format!("Groups/{group}"), None).await;
    assert_eq!(g.body["members"][0]["value"], json!(user));
    assert_eq!(s.scim("GET", &format!("Users/{user}"), None).await.body["title"], json!("Lead"));

    // Plain creates run together (one unit of work), each still audited and readable; one
    // whose userName is taken fails alone.
    let ops: Vec<Value> = ["ivy", "jon", "gil", "kim"]
        .iter()
        .enumerate()
        .map(|(i, alias)| json!({ "method": "POST", "path": "/Users", "bulkId": format!("p{i}"), "data": s.entra_user(alias, &format!("p-{i}")) }))
        .collect();
    let r =
        s.scim("POST", "Bulk", Some(json!({ "schemas": ["urn:ietf:params:scim:api:messages:2.0:BulkRequest"], "Operations": ops }))).await;
    let statuses: Vec<&str> = r.body["Operations"].as_array().unwrap().iter().map(|o| o["status"].as_str().unwrap()).collect();
    assert_eq!(statuses, vec!["201", "201", "409", "201"], "{}", r.body);
    let ops: Vec<Value> = ["lea", "max", "ned"]
        .iter()
        .enumerate()
        .map(|(i, alias)| json!({ "method": "POST", "path": "/Users", "bulkId": format!("q{i}"), "data": s.entra_user(alias, &format!("q-{i}")) }))
        .collect();
    let r =
        s.scim("POST", "Bulk", Some(json!({ "schemas": ["urn:ietf:params:scim:api:messages:2.0:BulkRequest"], "Operations": ops }))).await;
    for op in r.body["Operations"].as_array().unwrap() {
        assert_eq!(op["status"], json!("201"), "{}", r.body);
        let got = s
            .send(
                Some(&s.scim_token),
                "GET",
                op["location"].as_str().unwrap().split_once("/scim/").map(|(_, p)| format!("/scim/{p}")).unwrap().as_str(),
                None,
                &[],
            )
            .await;
        assert_eq!(got.status, 200, "{}", got.body);
        assert_eq!(got.headers["etag"].to_str().unwrap(), op["version"].as_str().unwrap());
    }
    let (_, audits) = s.graph("GET", "/v1.0/auditLogs/directoryAudits", None).await;
    let added: Vec<String> = audits["value"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|a| a["activityDisplayName"] == json!("Add user"))
        .flat_map(|a| {
            a["targetResources"].as_array().unwrap().iter().map(|t| t["id"].as_str().unwrap_or("").to_string()).collect::<Vec<_>>()
        })
        .collect();
    for op in r.body["Operations"].as_array().unwrap() {
        let id = op["location"].as_str().unwrap().rsplit('/').next().unwrap();
        assert_eq!(added.iter().filter(|a| *a == id).count(), 1, "one audit record per created user: {id}");
    }

    // A DELETE's result has its location too (RFC 7644 §3.7).
    let request = json!({
        "schemas": ["urn:ietf:params:scim:api:messages:2.0:BulkRequest"],
        "Operations": [{ "method": "DELETE", "path": format!("/Groups/{group}") }]
    });
    let r = s.scim("POST", "Bulk", Some(request)).await;
    assert_eq!(r.body["Operations"][0]["status"], json!("204"), "{}", r.body);
    assert!(r.body["Operations"][0]["location"].as_str().unwrap().ends_with(&format!("/Groups/{group}")), "{}", r.body);

    // failOnErrors 1: the first failure stops the rest.
    let request = json!({
        "schemas": ["urn:ietf:params:scim:api:messages:2.0:BulkRequest"],
        "failOnErrors": 1,
        "Operations": [
            { "method": "POST", "path": "/Users", "bulkId": "a", "data": s.entra_user("gil", "dup") },
            { "method": "POST", "path": "/Users", "bulkId": "b", "data": s.entra_user("hal", "h") },
        ]
    });
    let r = s.scim("POST", "Bulk", Some(request)).await;
    let ops = r.body["Operations"].as_array().unwrap();
    assert_eq!(ops.len(), 1, "{}", r.body);
    let found = s.scim("GET", &format!("Users?filter=userName eq \"{}\"", s.upn("hal")), None).await;
    assert_eq!(found.body["totalResults"], json!(0));
}

#[tokio::test]
async fn discovery_paging_sorting_and_projection() {
    let s = setup().await;
    let r = s.scim("GET", "ServiceProviderConfig", None).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body["patch"]["supported"], json!(true));
    assert_eq!(r.body["bulk"]["maxOperations"], json!(1000));
    assert_eq!(r.body["etag"]["supported"], json!(true));
    assert_eq!(r.body["sort"]["supported"], json!(true));
    let r = s.scim("GET", "Schemas", None).await;
    let ids: Vec<&str> = r.body["Resources"].as_array().unwrap().iter().map(|x| x["id"].as_str().unwrap()).collect();
    assert!(
        ids.contains(&CORE_USER) && ids.contains(&ENTERPRISE) && ids.contains(&"urn:ietf:params:scim:schemas:core:2.0:Group"),
        "{ids:?}"
    );
    let r = s.scim("GET", "ResourceTypes/User", None).await;
    assert_eq!(r.body["schemaExtensions"][0]["schema"], json!(ENTERPRISE), "{}", r.body);

    for alias in ["uma", "ted", "sal", "rob"] {
        s.create_user(alias).await;
    }
    // The tenant has its administrator too: 5 users.
    let r = s.scim("GET", "Users?sortBy=userName&sortOrder=descending&startIndex=2&count=2&attributes=userName", None).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(
        (r.body["totalResults"].clone(), r.body["itemsPerPage"].clone(), r.body["startIndex"].clone()),
        (json!(5), json!(2), json!(2))
    );
    let names: Vec<&str> = r.body["Resources"].as_array().unwrap().iter().map(|u| u["userName"].as_str().unwrap()).collect();
    assert_eq!(names, vec![s.upn("ted").as_str(), s.upn("sal").as_str()]);
    let first = &r.body["Resources"][0];
    assert!(first.get("emails").is_none() && first.get("id").is_some(), "attributes=userName: {first}");
    let r = s.scim("GET", "Users?count=0", None).await;
    assert_eq!((r.body["totalResults"].clone(), r.body["Resources"].clone()), (json!(5), json!([])));
    let r = s
        .scim(
            "POST",
            "Users/.search",
            Some(json!({ "schemas": ["urn:ietf:params:scim:api:messages:2.0:SearchRequest"], "filter": "userName sw \"r\" or userName sw \"s\"", "sortBy": "userName" })),
        )
        .await;
    let names: Vec<&str> = r.body["Resources"].as_array().unwrap().iter().map(|u| u["userName"].as_str().unwrap()).collect();
    assert_eq!(names, vec![s.upn("rob").as_str(), s.upn("sal").as_str()], "{}", r.body);
}

/// A caller over its budget gets 429 with Retry-After in SCIM's shape (Graph's throttle, per
/// caller and tenant); failed authentications count against the address and are slowed too.
#[tokio::test]
async fn throttled_callers_and_guessing_addresses_get_429() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("ward.toml"), "graph_rate_limit = 1\nauth_rate_limit = 1\n").unwrap();
    let init = init(dir.path(), &[]);
    let token = cli(dir.path(), &["scim", "token", "create", "--name", "HR", "--json"]);
    let server = Server::start(dir.path(), &["--data-dir", "data"]);
    let tid = init["tenant_id"].as_str().unwrap();
    let url = server.url(&format!("/scim/v2/{tid}/Users?count=0"));
    let get = |bearer: String| {
        let url = url.clone();
        async move { http().get(url).bearer_auth(bearer).send().await.unwrap() }
    };
    let secret = token["secret"].as_str().unwrap().to_string();
    // Bursts of ten seconds' worth: ten requests, then the eleventh waits.
    for _ in 0..10 {
        assert_eq!(get(secret.clone()).await.status().as_u16(), 200);
    }
    let r = get(secret.clone()).await;
    assert_eq!(r.status().as_u16(), 429);
    assert!(r.headers()["retry-after"].to_str().unwrap().parse::<u64>().unwrap() >= 1);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["status"], json!("429"), "{body}");
    // Guessing tokens: two failures (a burst of twice the per-address rate), then 429.
    for _ in 0..2 {
        assert_eq!(get("ward_scim_guess".into()).await.status().as_u16(), 401);
    }
    assert_eq!(get("ward_scim_guess".into()).await.status().as_u16(), 429);
}
