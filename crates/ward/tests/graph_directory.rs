//! Graph's directory API end to end against the real binary: users and groups with OData
//! queries, paging, membership, deleted items, directory roles, permissions and hostile input.
//! The caller is the automation app `ward init` creates (every application permission), except
//! where a test mints a less privileged app.

mod common;
use common::*;
use serde_json::{Value, json};
use std::collections::BTreeSet;

struct Setup {
    _dir: tempfile::TempDir,
    server: Server,
    tid: String,
    domain: String,
    token: String,
}

/// An app-only Graph token (it must be granted).
async fn app_token(server: &Server, tid: &str, id: &str, secret: &str) -> String {
    let (status, body) = client_token(server, tid, id, secret).await;
    assert_eq!(status, 200, "{body}");
    body["access_token"].as_str().unwrap().to_string()
}

async fn setup() -> Setup {
    let dir = tempfile::tempdir().unwrap();
    let init = init(dir.path(), &[]);
    let server = Server::start(dir.path(), &["--data-dir", "data"]);
    let tid = init["tenant_id"].as_str().unwrap().to_string();
    let token = app_token(&server, &tid, init["client_id"].as_str().unwrap(), init["client_secret"].as_str().unwrap()).await;
    let mut s = Setup { _dir: dir, server, tid, domain: String::new(), token };
    let (_, me) = s.call("GET", "/v1.0/users?$select=userPrincipalName", None).await;
    s.domain = me["value"][0]["userPrincipalName"].as_str().unwrap().split('@').nth(1).unwrap().to_string();
    s
}

impl Setup {
    async fn call(&self, method: &str, path: &str, body: Option<Value>) -> (u16, Value) {
        self.send(&self.token.clone(), method, path, body, &[]).await
    }
    async fn advanced(&self, path: &str) -> (u16, Value) {
        self.send(&self.token.clone(), "GET", path, None, &[("ConsistencyLevel", "eventual")]).await
    }
    async fn send(&self, token: &str, method: &str, path: &str, body: Option<Value>, headers: &[(&str, &str)]) -> (u16, Value) {
        let url = if path.starts_with("http") { path.replace("localhost", "127.0.0.1") } else { self.server.url(path) };
        let mut req = http().request(method.parse().unwrap(), url).bearer_auth(token);
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        if let Some(b) = body {
            req = req.json(&b);
        }
        let r = req.send().await.unwrap();
        let status = r.status().as_u16();
        let text = r.text().await.unwrap();
        (status, serde_json::from_str(&text).unwrap_or(Value::String(text)))
    }
    async fn create_user(&self, alias: &str, name: &str) -> Value {
        let (status, u) = self
            .call(
                "POST",
                "/v1.0/users",
                Some(json!({
                    "accountEnabled": true,
                    "displayName": name,
                    "mailNickname": alias,
                    "userPrincipalName": format!("{alias}@{}", self.domain),
                    "passwordProfile": { "password": "Correct-Horse-Battery-9", "forceChangePasswordNextSignIn": false },
                })),
            )
            .await;
        assert_eq!(status, 201, "{u}");
        u
    }
    async fn create_group(&self, name: &str, extra: Value) -> (u16, Value) {
        let mut body = json!({ "displayName": name, "mailEnabled": false, "mailNickname": name.replace(' ', ""), "securityEnabled": true });
        for (k, v) in extra.as_object().unwrap() {
            body[k] = v.clone();
        }
        self.call("POST", "/v1.0/groups", Some(body)).await
    }
    /// Every page of a list, following `@odata.nextLink`.
    async fn all(&self, path: &str, advanced: bool) -> (Vec<Value>, usize) {
        let (mut items, mut pages) = (Vec::new(), 0);
        let mut next = Some(path.to_string());
        while let Some(url) = next {
            let hdrs: &[(&str, &str)] = if advanced { &[("ConsistencyLevel", "eventual")] } else { &[] };
            let (status, page) = self.send(&self.token.clone(), "GET", &url, None, hdrs).await;
            assert_eq!(status, 200, "{url}: {page}");
            items.extend(page["value"].as_array().unwrap().iter().cloned());
            pages += 1;
            next = page["@odata.nextLink"].as_str().map(str::to_string);
        }
        (items, pages)
    }
}

fn code(v: &Value) -> &str {
    v["error"]["code"].as_str().unwrap_or("")
}

#[tokio::test]
async fn users_are_created_read_updated_deleted_and_restored_in_graphs_shapes() {
    let s = setup().await;
    let u = s.create_user("adelev", "Adele Vance").await;
    let id = u["id"].as_str().unwrap();
    assert!(u["@odata.context"].as_str().unwrap().ends_with("/v1.0/$metadata#users/$entity"));
    assert_eq!(u["userPrincipalName"], format!("adelev@{}", s.domain));
    assert!(u.get("accountEnabled").is_none(), "accountEnabled is outside the default set: {u}");
    assert_eq!(u["businessPhones"], json!([]));
    assert!(u.get("passwordProfile").is_none() && u.get("managerId").is_none());

    // By id, by UPN (any case), with $select.
    assert_eq!(s.call("GET", &format!("/v1.0/users/{id}"), None).await.1["displayName"], "Adele Vance");
    let (status, by_upn) = s.call("GET", &format!("/v1.0/users/ADELEV@{}", s.domain), None).await;
    assert_eq!((status, by_upn["id"].as_str()), (200, Some(id)));
    let (_, sel) = s.call("GET", &format!("/v1.0/users/{id}?$select=accountEnabled,jobTitle"), None).await;
    assert_eq!(sel["accountEnabled"], true);
    assert!(sel["@odata.context"].as_str().unwrap().contains("users"));
    assert!(sel.get("displayName").is_none(), "only what was selected (and id): {sel}");

    // PATCH: 204, then visible; a password reset in the same request.
    let patch = json!({ "jobTitle": "Engineer", "city": "Lyon", "passwordProfile": { "password": "Another-Long-Secret-42" } });
    assert_eq!(s.call("PATCH", &format!("/v1.0/users/{id}"), Some(patch)).await.0, 204);
    let (_, sel) = s.call("GET", &format!("/v1.0/users/{id}?$select=jobTitle,city"), None).await;
    assert_eq!((sel["jobTitle"].as_str(), sel["city"].as_str()), (Some("Engineer"), Some("Lyon")));

    // Refused, by name, with nothing written.
    for (body, needle) in [
        (json!({ "id": "x" }), "read-only"),
        (json!({ "createdDateTime": "2020-01-01T00:00:00Z" }), "read-only"),
        (json!({ "favouriteColour": "blue" }), "favouriteColour"),
        (json!({ "accountEnabled": "yes" }), "wrong type"),
        (json!({ "displayName": "" }), "displayName"),
        (json!({ "passwordProfile": { "password": "short" } }), "password"),
    ] {
        let (status, e) = s.call("PATCH", &format!("/v1.0/users/{id}"), Some(body.clone())).await;
        assert_eq!(status, 400, "{body} → {e}");
        assert!(e["error"]["message"].as_str().unwrap().contains(needle), "{body} → {e}");
        assert!(e["error"]["innerError"]["request-id"].is_string());
    }
    assert_eq!(s.call("GET", &format!("/v1.0/users/{id}?$select=jobTitle"), None).await.1["jobTitle"], "Engineer");
    // Creation needs Graph's required properties; a taken UPN is refused.
    let (status, e) = s.call("POST", "/v1.0/users", Some(json!({ "displayName": "No UPN", "accountEnabled": true }))).await;
    assert_eq!((status, code(&e)), (400, "Request_BadRequest"));
    let dup = json!({ "accountEnabled": true, "displayName": "Dup", "mailNickname": "dup", "userPrincipalName": format!("AdeleV@{}", s.domain),
                      "passwordProfile": { "password": "Correct-Horse-Battery-9" } });
    let (status, e) = s.call("POST", "/v1.0/users", Some(dup)).await;
    assert!(status == 400 || status == 409, "{status} {e}");

    // Delete → 404 → deleted items → restore → back.
    assert_eq!(s.call("DELETE", &format!("/v1.0/users/{id}"), None).await.0, 204);
    let (status, e) = s.call("GET", &format!("/v1.0/users/{id}"), None).await;
    assert_eq!((status, code(&e)), (404, "Request_ResourceNotFound"));
    let (_, deleted) = s.call("GET", "/v1.0/directory/deletedItems/microsoft.graph.user", None).await;
    assert_eq!(deleted["value"].as_array().unwrap().len(), 1, "{deleted}");
    assert_eq!(deleted["value"][0]["id"], id);
    let (status, restored) = s.call("POST", &format!("/v1.0/directory/deletedItems/{id}/restore"), None).await;
    assert_eq!((status, restored["@odata.type"].as_str()), (200, Some("#microsoft.graph.user")));
    assert_eq!(s.call("GET", &format!("/v1.0/users/{id}"), None).await.0, 200);
    // Permanent deletion only from deleted items.
    assert_eq!(s.call("DELETE", &format!("/v1.0/directory/deletedItems/{id}"), None).await.0, 404);
    assert_eq!(s.call("DELETE", &format!("/v1.0/users/{id}"), None).await.0, 204);
    assert_eq!(s.call("DELETE", &format!("/v1.0/directory/deletedItems/{id}"), None).await.0, 204);
    assert_eq!(s.call("GET", &format!("/v1.0/directory/deletedItems/{id}"), None).await.0, 404);

    // manager / directReports / revokeSignInSessions.
    let boss = s.create_user("boss", "Big Boss").await;
    let worker = s.create_user("worker", "Worker Bee").await;
    let (bid, wid) = (boss["id"].as_str().unwrap(), worker["id"].as_str().unwrap());
    let reference = json!({ "@odata.id": format!("https://graph.microsoft.com/v1.0/users/{bid}") });
    assert_eq!(s.call("PUT", &format!("/v1.0/users/{wid}/manager/$ref"), Some(reference)).await.0, 204);
    assert_eq!(s.call("GET", &format!("/v1.0/users/{wid}/manager"), None).await.1["id"], bid);
    let (_, reports) = s.call("GET", &format!("/v1.0/users/{bid}/directReports"), None).await;
    assert_eq!(reports["value"][0]["id"], wid);
    assert_eq!(reports["value"][0]["@odata.type"], "#microsoft.graph.user");
    assert_eq!(s.call("DELETE", &format!("/v1.0/users/{wid}/manager/$ref"), None).await.0, 204);
    assert_eq!(s.call("GET", &format!("/v1.0/users/{wid}/manager"), None).await.0, 404);
    let (status, revoked) = s.call("POST", &format!("/v1.0/users/{wid}/revokeSignInSessions"), None).await;
    assert_eq!((status, &revoked["value"]), (200, &json!(true)));
    // /me is for delegated tokens.
    assert_eq!(s.call("GET", "/v1.0/me", None).await.0, 400);
}

#[tokio::test]
async fn odata_filters_paging_counts_and_search_follow_graphs_rules() {
    let s = setup().await;
    let names = ["Alex Wilber", "Adele Vance", "Allan Deyoung", "Bianca Pisani", "Megan Bowen", "Lee Gu", "Alice O'Neil"];
    for (i, n) in names.iter().enumerate() {
        s.create_user(&format!("u{i}"), n).await;
    }
    for i in 0..23 {
        s.create_user(&format!("bulk{i:02}"), &format!("Bulk User {i:02}")).await;
    }

    // startswith, case-insensitive, paged 2 at a time: every match once, in displayName order.
    let (items, pages) = s.all("/v1.0/users?$filter=startswith(displayName,'AL')&$top=2&$select=displayName", false).await;
    let got: Vec<&str> = items.iter().map(|u| u["displayName"].as_str().unwrap()).collect();
    assert_eq!(got, vec!["Alex Wilber", "Alice O'Neil", "Allan Deyoung"]);
    assert_eq!(pages, 2);
    // Quotes inside literals are doubled, as OData says.
    let (_, r) = s.call("GET", "/v1.0/users?$filter=displayName%20eq%20'Alice%20O''Neil'", None).await;
    assert_eq!(r["value"].as_array().unwrap().len(), 1, "{r}");
    // All 31 users (30 + the administrator), in pages of 7, each once.
    let (items, pages) = s.all("/v1.0/users?$top=7", false).await;
    let ids: BTreeSet<String> = items.iter().map(|u| u["id"].as_str().unwrap().to_string()).collect();
    assert_eq!((items.len(), ids.len(), pages), (31, 31, 5));

    // The skip token is opaque and bound to its query: tampered or moved, it is refused.
    let (_, first) = s.call("GET", "/v1.0/users?$top=5", None).await;
    let next = first["@odata.nextLink"].as_str().unwrap().to_string();
    assert!(next.starts_with("http://localhost:") || next.starts_with("http://127.0.0.1:"), "absolute: {next}");
    let token = next.split("$skiptoken=").nth(1).unwrap().to_string();
    let mut tampered = token.clone();
    tampered.replace_range(0..1, if token.starts_with('e') { "f" } else { "e" });
    let (status, e) = s.call("GET", &format!("/v1.0/users?$top=5&$skiptoken={tampered}"), None).await;
    assert_eq!((status, code(&e)), (400, "Request_BadRequest"));
    let (status, _) = s.call("GET", &format!("/v1.0/users?$top=6&$skiptoken={token}"), None).await;
    assert_eq!(status, 400, "a token moved to another query");
    let (status, _) = s.call("GET", &format!("/v1.0/groups?$top=5&$skiptoken={token}"), None).await;
    assert_eq!(status, 400, "a token moved to another collection");

    // $count: advanced only. Without the header, /$count is refused and $count=true ignored.
    let (status, e) = s.call("GET", "/v1.0/users/$count", None).await;
    assert_eq!((status, e["error"]["message"].as_str()), (400, Some("$count is not currently supported.")));
    let (status, n) = s.advanced("/v1.0/users/$count?$filter=startswith(displayName,'bulk')").await;
    assert_eq!((status, n), (200, json!(23)));
    let (_, r) = s.call("GET", "/v1.0/users?$count=true&$top=1", None).await;
    assert!(r.get("@odata.count").is_none());
    let (_, r) = s.advanced("/v1.0/users?$count=true&$top=1&$filter=startswith(displayName,'bulk')").await;
    assert_eq!(r["@odata.count"], 23);
    // ...and a later page of an advanced query works without the header (the token remembers).
    let (items, _) = s
        .all(
            "/v1.0/users?$count=true&$top=10&$filter=endswith(userPrincipalName,'bulk07@DOMAIN')".replace("DOMAIN", &s.domain).as_str(),
            true,
        )
        .await;
    assert_eq!(items.len(), 1);
    let (_, r) = s.advanced("/v1.0/users?$count=true&$top=10&$filter=startswith(displayName,'bulk')").await;
    let (status, page2) = s.call("GET", r["@odata.nextLink"].as_str().unwrap(), None).await;
    assert_eq!(status, 200, "{page2}");
    assert_eq!(page2["value"].as_array().unwrap().len(), 10);
    assert!(page2.get("@odata.count").is_none(), "the count is on the first page only");

    // Operators Graph keeps for advanced queries, and its errors.
    let (status, e) = s.call("GET", "/v1.0/users?$filter=displayName%20ne%20'Lee%20Gu'", None).await;
    assert_eq!((status, code(&e)), (400, "Request_UnsupportedQuery"));
    let (status, r) = s.advanced("/v1.0/users?$count=true&$filter=displayName%20ne%20'Lee%20Gu'").await;
    assert_eq!((status, r["@odata.count"].as_i64()), (200, Some(30)));
    let (status, e) = s.call("GET", "/v1.0/users?$search=%22displayName:bowen%22", None).await;
    assert_eq!((status, code(&e)), (400, "Request_UnsupportedQuery"));
    assert!(e["error"]["message"].as_str().unwrap().contains("ConsistencyLevel"));
    let (_, r) = s.advanced("/v1.0/users?$search=%22displayName:bowen%22").await;
    assert_eq!(r["value"][0]["displayName"], "Megan Bowen");
    // Malformed OData: 400 with a message that points at the problem.
    let (status, e) = s.call("GET", "/v1.0/users?$filter=startswith(displayName,'a'", None).await;
    assert_eq!((status, code(&e)), (400, "Request_BadRequest"));
    assert!(e["error"]["message"].as_str().unwrap().contains("position"), "{e}");
    for bad in ["$top=0", "$top=1000", "$top=x", "$select=nope", "$orderby=id", "$skip=3", "$expand=manager"] {
        let (status, e) = s.call("GET", &format!("/v1.0/users?{bad}"), None).await;
        assert_eq!(status, 400, "{bad}: {e}");
    }
    // Ordering.
    let (_, r) = s.call("GET", "/v1.0/users?$orderby=displayName%20desc&$top=1", None).await;
    assert_eq!(r["value"][0]["displayName"], "Megan Bowen");
    // A property outside the index (and not filterable in Graph) is refused, not scanned.
    let (status, _) = s.call("GET", "/v1.0/users?$filter=passwordProfile%20eq%20'x'", None).await;
    assert_eq!(status, 400);
}

#[tokio::test]
async fn hostile_input_never_reaches_sql_as_text() {
    let s = setup().await;
    s.create_user("victim", "Victim").await;
    for value in ["x' or 1 eq 1 --", "'; DROP TABLE objects; --", "%' OR '%'='", "\\", "_", "%", "a\u{0}b"] {
        let quoted = value.replace('\'', "''");
        let filter: String = url::form_urlencoded::byte_serialize(format!("displayName eq '{quoted}'").as_bytes()).collect();
        let (status, r) = s.call("GET", &format!("/v1.0/users?$filter={filter}"), None).await;
        assert_eq!(status, 200, "{value}: {r}");
        assert_eq!(r["value"], json!([]), "{value}");
        let filter: String = url::form_urlencoded::byte_serialize(format!("startswith(displayName,'{quoted}')").as_bytes()).collect();
        assert_eq!(s.call("GET", &format!("/v1.0/users?$filter={filter}"), None).await.1["value"], json!([]), "{value}");
        let search: String =
            url::form_urlencoded::byte_serialize(format!("\"displayName:{}\"", value.replace('"', "")).as_bytes()).collect();
        let (status, _) = s.advanced(&format!("/v1.0/users?$search={search}")).await;
        assert!(status == 200 || status == 400, "{value}: {status}");
    }
    for orderby in ["displayName;DROP TABLE objects", "(SELECT 1)", "displayName desc, 1"] {
        let o: String = url::form_urlencoded::byte_serialize(orderby.as_bytes()).collect();
        assert_eq!(s.call("GET", &format!("/v1.0/users?$orderby={o}"), None).await.0, 400, "{orderby}");
    }
    for id in ["1' OR '1'='1", "..%2F..%2Fetc", "00000000-0000-0000-0000-00000000000g"] {
        let (status, _) = s.call("GET", &format!("/v1.0/groups/{id}"), None).await;
        assert!(status == 400 || status == 404, "{id}: {status}");
    }
    // Still whole.
    let (_, r) = s.call("GET", "/v1.0/users?$filter=displayName%20eq%20'Victim'", None).await;
    assert_eq!(r["value"].as_array().unwrap().len(), 1);
    // Oversized bodies: 413 before anything is read.
    let big = json!({ "displayName": "x".repeat(2 * 1024 * 1024) });
    assert_eq!(s.call("POST", "/v1.0/users", Some(big)).await.0, 413);
    // Not JSON, or not an object.
    let r = http().post(s.server.url("/v1.0/groups")).bearer_auth(&s.token).body("{nope").send().await.unwrap();
    assert_eq!(r.status(), 400);
    assert_eq!(s.call("POST", "/v1.0/groups", Some(json!([1, 2]))).await.0, 400);
}

#[tokio::test]
async fn groups_members_nesting_and_roles() {
    let s = setup().await;
    let u = s.create_user("member", "Member One").await;
    let v = s.create_user("member2", "Member Two").await;
    let (uid, vid) = (u["id"].as_str().unwrap().to_string(), v["id"].as_str().unwrap().to_string());
    let bind =
        |ids: &[&str]| json!(ids.iter().map(|i| format!("https://graph.microsoft.com/v1.0/directoryObjects/{i}")).collect::<Vec<_>>());

    // Created with members in one unit: one bad reference and nothing is created.
    let missing = "11111111-1111-4111-8111-111111111111";
    let (status, e) = s.create_group("Broken", json!({ "members@odata.bind": bind(&[&uid, missing]) })).await;
    assert_eq!(status, 404, "{e}");
    assert_eq!(s.call("GET", "/v1.0/groups", None).await.1["value"], json!([]));
    let many: Vec<String> = (0..21).map(|_| uid.clone()).collect();
    let many: Vec<&str> = many.iter().map(String::as_str).collect();
    assert_eq!(s.create_group("TooMany", json!({ "members@odata.bind": bind(&many) })).await.0, 400);

    let (status, inner) = s.create_group("Inner", json!({ "members@odata.bind": bind(&[&uid]) })).await;
    assert_eq!(status, 201, "{inner}");
    let inner_id = inner["id"].as_str().unwrap().to_string();
    assert_eq!(inner["securityEnabled"], true);
    let (_, outer) = s.create_group("Outer", json!({})).await;
    let outer_id = outer["id"].as_str().unwrap().to_string();

    // $ref add (and Graph's 400 on a duplicate), PATCH with a bind, $ref remove.
    let reference = |id: &str| json!({ "@odata.id": format!("https://graph.microsoft.com/v1.0/directoryObjects/{id}") });
    assert_eq!(s.call("POST", &format!("/v1.0/groups/{outer_id}/members/$ref"), Some(reference(&inner_id))).await.0, 204);
    let (status, e) = s.call("POST", &format!("/v1.0/groups/{outer_id}/members/$ref"), Some(reference(&inner_id))).await;
    assert_eq!((status, code(&e)), (400, "Request_BadRequest"));
    let (status, e) = s.call("POST", &format!("/v1.0/groups/{inner_id}/members/$ref"), Some(reference(&outer_id))).await;
    assert_eq!(status, 400, "a cycle: {e}");
    let patch = json!({ "description": "outer group", "members@odata.bind": bind(&[&vid]) });
    assert_eq!(s.call("PATCH", &format!("/v1.0/groups/{outer_id}"), Some(patch)).await.0, 204);
    let (_, members) = s.call("GET", &format!("/v1.0/groups/{outer_id}/members"), None).await;
    let types: BTreeSet<&str> = members["value"].as_array().unwrap().iter().map(|m| m["@odata.type"].as_str().unwrap()).collect();
    assert_eq!(types, BTreeSet::from(["#microsoft.graph.group", "#microsoft.graph.user"]));
    let (_, transitive) = s.call("GET", &format!("/v1.0/groups/{outer_id}/transitiveMembers"), None).await;
    assert_eq!(transitive["value"].as_array().unwrap().len(), 3, "{transitive}");

    // Casts, counts and $select on relationship lists; objects of any type by id.
    let (_, users) = s.call("GET", &format!("/v1.0/groups/{outer_id}/transitiveMembers/microsoft.graph.user"), None).await;
    assert_eq!(users["value"].as_array().unwrap().len(), 2, "{users}");
    let (_, groups_only) = s.call("GET", &format!("/v1.0/groups/{outer_id}/members/graph.group?$select=displayName"), None).await;
    assert_eq!(groups_only["value"], json!([{ "@odata.type": "#microsoft.graph.group", "id": inner_id, "displayName": "Inner" }]));
    assert_eq!(s.call("GET", &format!("/v1.0/groups/{outer_id}/members/$count"), None).await.0, 400, "advanced only");
    let (status, n) = s.advanced(&format!("/v1.0/groups/{outer_id}/transitiveMembers/microsoft.graph.user/$count")).await;
    assert_eq!((status, n), (200, json!(2)));
    assert_eq!(s.call("GET", &format!("/v1.0/groups/{outer_id}/members/microsoft.graph.nothing"), None).await.0, 404);
    let (items, pages) = s.all(&format!("/v1.0/groups/{outer_id}/transitiveMembers?$top=1&$select=id"), false).await;
    assert_eq!((items.len(), pages), (3, 3));
    let (_, obj) = s.call("GET", &format!("/v1.0/directoryObjects/{uid}"), None).await;
    assert_eq!(obj["@odata.type"], "#microsoft.graph.user");
    let (_, by_ids) =
        s.call("POST", "/v1.0/directoryObjects/getByIds", Some(json!({ "ids": [uid, inner_id, missing], "types": ["group"] }))).await;
    assert_eq!(by_ids["value"].as_array().unwrap().len(), 1, "{by_ids}");
    assert_eq!(by_ids["value"][0]["id"], inner_id.as_str());

    // The user's view: direct and transitive, getMemberGroups, checkMemberGroups, getMemberObjects.
    let (_, direct) = s.call("GET", &format!("/v1.0/users/{uid}/memberOf"), None).await;
    assert_eq!(direct["value"].as_array().unwrap().len(), 1);
    let (_, all) = s.call("GET", &format!("/v1.0/users/{uid}/transitiveMemberOf"), None).await;
    assert_eq!(all["value"].as_array().unwrap().len(), 2);
    let (status, groups) =
        s.call("POST", &format!("/v1.0/users/{uid}/getMemberGroups"), Some(json!({ "securityEnabledOnly": true }))).await;
    assert_eq!(status, 200);
    assert!(groups["@odata.context"].as_str().unwrap().ends_with("Collection(Edm.String)"));
    let got: BTreeSet<&str> = groups["value"].as_array().unwrap().iter().map(|v| v.as_str().unwrap()).collect();
    assert_eq!(got, BTreeSet::from([inner_id.as_str(), outer_id.as_str()]));
    let (_, checked) =
        s.call("POST", &format!("/v1.0/users/{uid}/checkMemberGroups"), Some(json!({ "groupIds": [outer_id, missing] }))).await;
    assert_eq!(checked["value"], json!([outer_id]));
    let too_many: Vec<&str> = (0..21).map(|_| missing).collect();
    assert_eq!(s.call("POST", &format!("/v1.0/users/{uid}/checkMemberGroups"), Some(json!({ "groupIds": too_many }))).await.0, 400);
    assert_eq!(s.call("POST", &format!("/v1.0/users/{uid}/getMemberGroups"), Some(json!({}))).await.0, 400);

    // Remove; membership follows at once.
    assert_eq!(s.call("DELETE", &format!("/v1.0/groups/{outer_id}/members/{inner_id}/$ref"), None).await.0, 204);
    assert_eq!(s.call("DELETE", &format!("/v1.0/groups/{outer_id}/members/{inner_id}/$ref"), None).await.0, 404);
    let (_, groups) = s.call("POST", &format!("/v1.0/users/{uid}/getMemberGroups"), Some(json!({ "securityEnabledOnly": false }))).await;
    assert_eq!(groups["value"], json!([inner_id]));

    // Group queries: the lambda on groupTypes, and $select.
    let (status, m365) = s.create_group("Team", json!({ "groupTypes": ["Unified"], "mailEnabled": true })).await;
    assert_eq!(status, 201, "{m365}");
    let (_, r) = s.call("GET", "/v1.0/groups?$filter=groupTypes/any(c:c%20eq%20'Unified')&$select=displayName", None).await;
    assert_eq!(r["value"], json!([{ "id": m365["id"], "displayName": "Team" }]));
    assert!(r["@odata.context"].as_str().unwrap().ends_with("#groups(id,displayName)"));

    // Directory roles: assign, see it in memberOf and under the role, remove.
    let (_, defs) = s.call("GET", "/v1.0/roleManagement/directory/roleDefinitions", None).await;
    let user_admin = defs["value"].as_array().unwrap().iter().find(|d| d["displayName"] == "User Administrator").unwrap()["id"].clone();
    let (status, a) = s
        .call(
            "POST",
            "/v1.0/roleManagement/directory/roleAssignments",
            Some(json!({ "principalId": uid, "roleDefinitionId": user_admin, "directoryScopeId": "/" })),
        )
        .await;
    assert_eq!(status, 201, "{a}");
    let (_, of) = s.call("GET", &format!("/v1.0/users/{uid}/memberOf"), None).await;
    assert!(of["value"].as_array().unwrap().iter().any(|m| m["@odata.type"] == "#microsoft.graph.directoryRole"), "{of}");
    let (_, members) = s.call("GET", &format!("/v1.0/directoryRoles/{}/members", user_admin.as_str().unwrap()), None).await;
    assert_eq!(members["value"][0]["id"], uid.as_str());
    let filter = format!("/v1.0/roleManagement/directory/roleAssignments?$filter=principalId%20eq%20'{uid}'");
    assert_eq!(s.call("GET", &filter, None).await.1["value"].as_array().unwrap().len(), 1);
    let aid = a["id"].as_str().unwrap();
    assert_eq!(s.call("DELETE", &format!("/v1.0/roleManagement/directory/roleAssignments/{aid}"), None).await.0, 204);
    assert_eq!(s.call("GET", &filter, None).await.1["value"], json!([]));

    // Delete and restore a group.
    assert_eq!(s.call("DELETE", &format!("/v1.0/groups/{inner_id}"), None).await.0, 204);
    let (_, deleted) = s.call("GET", "/v1.0/directory/deletedItems/microsoft.graph.group", None).await;
    assert_eq!(deleted["value"][0]["id"], inner_id.as_str());
    assert_eq!(s.call("POST", &format!("/v1.0/directory/deletedItems/{inner_id}/restore"), None).await.0, 200);
    assert_eq!(s.call("GET", &format!("/v1.0/groups/{inner_id}/members"), None).await.1["value"][0]["id"], uid.as_str());
}

#[tokio::test]
async fn least_privilege_for_app_only_callers() {
    let s = setup().await;
    let target = s.create_user("target", "Target").await;
    let tid_user = target["id"].as_str().unwrap();
    // A new app with a secret and a service principal, but no permission.
    let (_, app) = s.call("POST", "/v1.0/applications", Some(json!({ "displayName": "Reader" }))).await;
    let (app_obj, app_id) = (app["id"].as_str().unwrap().to_string(), app["appId"].as_str().unwrap().to_string());
    let (_, secret) = s.call("POST", &format!("/v1.0/applications/{app_obj}/addPassword"), Some(json!({ "passwordCredential": {} }))).await;
    let secret = secret["secretText"].as_str().unwrap().to_string();
    let (_, sp) = s.call("POST", "/v1.0/servicePrincipals", Some(json!({ "appId": app_id }))).await;
    let sp_id = sp["id"].as_str().unwrap().to_string();
    let weak = app_token(&s.server, &s.tid, &app_id, &secret).await;
    for (method, path) in
        [("GET", "/v1.0/users".to_string()), ("GET", "/v1.0/groups".to_string()), ("GET", format!("/v1.0/users/{tid_user}"))]
    {
        let (status, e) = s.send(&weak, method, &path, None, &[]).await;
        assert_eq!((status, code(&e)), (403, "Authorization_RequestDenied"), "{path}");
    }
    // User.Read.All: reads users, nothing else.
    let (_, sps) = s.call("GET", "/v1.0/servicePrincipals", None).await;
    let graph =
        sps["value"].as_array().unwrap().iter().find(|v| v["appId"] == "00000003-0000-0000-c000-000000000000").unwrap()["id"].clone();
    let grant = json!({ "principalId": sp_id, "resourceId": graph, "appRoleId": "df021288-bdef-4463-88db-98f22de89214" });
    assert_eq!(s.call("POST", &format!("/v1.0/servicePrincipals/{sp_id}/appRoleAssignments"), Some(grant)).await.0, 201);
    let reader = app_token(&s.server, &s.tid, &app_id, &secret).await;
    assert_eq!(s.send(&reader, "GET", "/v1.0/users", None, &[]).await.0, 200);
    assert_eq!(s.send(&reader, "GET", &format!("/v1.0/users/{tid_user}/memberOf"), None, &[]).await.0, 200);
    let body = json!({ "jobTitle": "x" });
    assert_eq!(s.send(&reader, "PATCH", &format!("/v1.0/users/{tid_user}"), Some(body), &[]).await.0, 403);
    assert_eq!(s.send(&reader, "DELETE", &format!("/v1.0/users/{tid_user}"), None, &[]).await.0, 403);
    assert_eq!(s.send(&reader, "GET", "/v1.0/groups", None, &[]).await.0, 403);
    assert_eq!(s.send(&reader, "GET", "/v1.0/roleManagement/directory/roleAssignments", None, &[]).await.0, 403);
    assert_eq!(s.call("GET", &format!("/v1.0/users/{tid_user}?$select=jobTitle"), None).await.1["jobTitle"], Value::Null);
    // No token, a bad token: 401 with a challenge.
    let r = http().get(s.server.url("/v1.0/users")).send().await.unwrap();
    assert_eq!(r.status(), 401);
    assert!(r.headers().contains_key("www-authenticate"));
    let mut forged = reader.clone();
    forged.pop();
    assert_eq!(s.send(&forged, "GET", "/v1.0/users", None, &[]).await.0, 401);
}

#[tokio::test]
async fn every_write_is_in_the_directory_audit_log_with_who_what_target_and_result() {
    let s = setup().await;
    let u = s.create_user("audited", "Audited User").await;
    let uid = u["id"].as_str().unwrap().to_string();
    let (_, group) = s.create_group("Audited Group", json!({})).await;
    let gid = group["id"].as_str().unwrap().to_string();
    let reference = json!({ "@odata.id": format!("https://graph.microsoft.com/v1.0/directoryObjects/{uid}") });
    assert_eq!(s.call("POST", &format!("/v1.0/groups/{gid}/members/$ref"), Some(reference.clone())).await.0, 204);
    // Refused writes are recorded too.
    assert_eq!(s.call("POST", &format!("/v1.0/groups/{gid}/members/$ref"), Some(reference)).await.0, 400);
    assert_eq!(s.call("PATCH", &format!("/v1.0/users/{uid}"), Some(json!({ "jobTitle": "Auditor" }))).await.0, 204);

    let (status, log) = s.call("GET", "/v1.0/auditLogs/directoryAudits", None).await;
    assert_eq!(status, 200, "{log}");
    let records = log["value"].as_array().unwrap();
    let activities: Vec<(&str, &str)> =
        records.iter().map(|r| (r["activityDisplayName"].as_str().unwrap(), r["result"].as_str().unwrap())).collect();
    assert_eq!(
        activities,
        vec![
            ("Update user", "success"),
            ("Add member to group", "failure"),
            ("Add member to group", "success"),
            ("Add group", "success"),
            ("Add user", "success"),
        ],
        "newest first"
    );
    let add_user = &records[4];
    assert_eq!(add_user["category"], "UserManagement");
    assert_eq!(add_user["targetResources"][0]["id"], uid.as_str());
    assert_eq!(add_user["targetResources"][0]["userPrincipalName"], u["userPrincipalName"]);
    assert!(add_user["initiatedBy"]["app"]["appId"].is_string());
    assert_eq!(add_user["initiatedBy"]["app"]["ipAddress"], "127.0.0.1");
    assert!(add_user["correlationId"].as_str().unwrap().len() >= 32);
    assert!(records[1]["resultReason"].as_str().unwrap().to_lowercase().contains("already"), "{}", records[1]);
    // No secret reaches the log.
    assert!(!log.to_string().contains("Correct-Horse-Battery-9"));

    // Filters: a target, an activity and a result, a time range; paging with a bound token.
    let by_target = format!("/v1.0/auditLogs/directoryAudits?$filter=targetResources/any(t:t/id%20eq%20'{uid}')");
    let (status, found) = s.call("GET", &by_target, None).await;
    assert_eq!(status, 200, "{found}");
    assert_eq!(found["value"].as_array().unwrap().len(), 3, "Add user, Add member to group, Update user: {found}");
    let failures = "/v1.0/auditLogs/directoryAudits?$filter=result%20eq%20'failure'%20and%20category%20eq%20'GroupManagement'";
    assert_eq!(s.call("GET", failures, None).await.1["value"].as_array().unwrap().len(), 1);
    let future = "/v1.0/auditLogs/directoryAudits?$filter=activityDateTime%20ge%202999-01-01T00:00:00Z";
    assert_eq!(s.call("GET", future, None).await.1["value"], json!([]));
    let (items, pages) = s.all("/v1.0/auditLogs/directoryAudits?$top=2", false).await;
    assert_eq!((items.len(), pages), (5, 3));
    let (_, first) = s.call("GET", "/v1.0/auditLogs/directoryAudits?$top=2", None).await;
    let next = first["@odata.nextLink"].as_str().unwrap().replace("$top=2", "$top=3");
    assert_eq!(s.call("GET", &next, None).await.0, 400, "a token moved to another query");
    for bad in ["$filter=initiatedBy/user/id%20eq%20'x'", "$filter=category%20ne%20'x'", "$orderby=activityDateTime"] {
        assert_eq!(s.call("GET", &format!("/v1.0/auditLogs/directoryAudits?{bad}"), None).await.0, 400, "{bad}");
    }
    // The registration API is audited too, failures included.
    let (status, app) = s.call("POST", "/v1.0/applications", Some(json!({ "displayName": "Audited App" }))).await;
    assert_eq!(status, 201);
    assert_eq!(s.call("POST", "/v1.0/applications", Some(json!({ "displayName": "Bad", "nonsense": 1 }))).await.0, 400);
    let apps = "/v1.0/auditLogs/directoryAudits?$filter=category%20eq%20'ApplicationManagement'";
    let (_, log) = s.call("GET", apps, None).await;
    let got: Vec<(&str, &str)> = log["value"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| (r["activityDisplayName"].as_str().unwrap(), r["result"].as_str().unwrap()))
        .collect();
    assert!(got.contains(&("Add application", "success")) && got.contains(&("Add application", "failure")), "{got:?}");
    let created = log["value"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["result"] == "success" && r["activityDisplayName"] == "Add application")
        .unwrap();
    assert!(created["targetResources"].as_array().unwrap().iter().any(|t| t["id"] == app["id"]), "{created}");

    // One record by id.
    let id = records[0]["id"].as_str().unwrap();
    assert_eq!(s.call("GET", &format!("/v1.0/auditLogs/directoryAudits/{id}"), None).await.1["id"], id);
    assert_eq!(s.call("GET", "/v1.0/auditLogs/directoryAudits/11111111-1111-4111-8111-111111111111", None).await.0, 404);
}

#[tokio::test]
async fn graph_throttles_each_application_by_resource_units_with_retry_after() {
    let dir = tempfile::tempdir().unwrap();
    let init = init(dir.path(), &[]);
    // 1 unit a second, bursts of 10: five user lists (2 units each), then 429.
    std::fs::write(dir.path().join("ward.toml"), "graph_rate_limit = 1\n").unwrap();
    let server = Server::start(dir.path(), &["--data-dir", "data"]);
    let tid = init["tenant_id"].as_str().unwrap().to_string();
    let token = app_token(&server, &tid, init["client_id"].as_str().unwrap(), init["client_secret"].as_str().unwrap()).await;
    let get = |path: &str| http().get(server.url(path)).bearer_auth(&token).send();
    for i in 0..5 {
        assert_eq!(get("/v1.0/users").await.unwrap().status(), 200, "request {i}");
    }
    let r = get("/v1.0/users").await.unwrap();
    assert_eq!(r.status(), 429);
    let wait: u64 = r.headers()["retry-after"].to_str().unwrap().parse().unwrap();
    assert!((1..=2).contains(&wait), "{wait}");
    assert_eq!(r.headers()["x-ms-resource-unit"], "2");
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["error"]["code"], "TooManyRequests");
    // The registration API shares the application's budget.
    assert_eq!(http().get(server.url("/v1.0/applications")).bearer_auth(&token).send().await.unwrap().status(), 429);
    // Waiting as told is enough.
    tokio::time::sleep(std::time::Duration::from_secs(wait + 1)).await;
    assert_eq!(get("/v1.0/users?$top=5&$select=id").await.unwrap().status(), 200, "a cheap request (1 unit) after the wait");
}

#[tokio::test]
async fn delta_queries_return_everything_then_only_what_changed() {
    let s = setup().await;
    let a = s.create_user("deltaa", "Delta A").await;
    let b = s.create_user("deltab", "Delta B").await;
    let (aid, bid) = (a["id"].as_str().unwrap().to_string(), b["id"].as_str().unwrap().to_string());
    let (_, group) =
        s.create_group("Delta Group", json!({ "members@odata.bind": [format!("https://graph.microsoft.com/v1.0/users/{aid}")] })).await;
    let gid = group["id"].as_str().unwrap().to_string();

    // The first round: every user (3 with the administrator), two per page, then a delta link.
    let mut link = s.server.url("/v1.0/users/delta?$select=displayName,jobTitle");
    let mut seen = Vec::new();
    let delta_link = loop {
        let (status, page) = s.send(&s.token.clone(), "GET", &link, None, &[("Prefer", "odata.maxpagesize=2")]).await;
        assert_eq!(status, 200, "{page}");
        seen.extend(page["value"].as_array().unwrap().iter().map(|u| u["id"].as_str().unwrap().to_string()));
        if let Some(next) = page["@odata.nextLink"].as_str() {
            assert!(page.get("@odata.deltaLink").is_none());
            link = next.to_string();
        } else {
            break page["@odata.deltaLink"].as_str().unwrap().to_string();
        }
    };
    assert_eq!(seen.len(), 3);
    assert!(seen.contains(&aid) && seen.contains(&bid));
    // Nothing changed: nothing to say.
    let (_, quiet) = s.call("GET", &delta_link, None).await;
    assert_eq!(quiet["value"], json!([]));
    let delta_link = quiet["@odata.deltaLink"].as_str().unwrap().to_string();

    // Changes: an update (twice: reported once), a deletion, a new user, a group change (not a user change).
    assert_eq!(s.call("PATCH", &format!("/v1.0/users/{aid}"), Some(json!({ "jobTitle": "One" }))).await.0, 204);
    assert_eq!(s.call("PATCH", &format!("/v1.0/users/{aid}"), Some(json!({ "jobTitle": "Two" }))).await.0, 204);
    assert_eq!(s.call("DELETE", &format!("/v1.0/users/{bid}"), None).await.0, 204);
    let c = s.create_user("deltac", "Delta C").await;
    assert_eq!(s.call("PATCH", &format!("/v1.0/groups/{gid}"), Some(json!({ "description": "x" }))).await.0, 204);
    let (_, changes) = s.call("GET", &delta_link, None).await;
    let value = changes["value"].as_array().unwrap();
    assert_eq!(value.len(), 3, "{changes}");
    assert_eq!(value[0], json!({ "id": aid, "displayName": "Delta A", "jobTitle": "Two" }), "the $select of the first round holds");
    assert_eq!(value[1], json!({ "id": bid, "@removed": { "reason": "changed" } }), "restorable");
    assert_eq!(value[2]["id"], c["id"]);
    let next_round = changes["@odata.deltaLink"].as_str().unwrap().to_string();
    // Purged for good: "deleted".
    assert_eq!(s.call("DELETE", &format!("/v1.0/directory/deletedItems/{bid}"), None).await.0, 204);
    let (_, gone) = s.call("GET", &next_round, None).await;
    assert_eq!(gone["value"], json!([{ "id": bid, "@removed": { "reason": "deleted" } }]));

    // Groups: the first round carries members; later rounds carry membership changes.
    let (_, first) = s.call("GET", "/v1.0/groups/delta", None).await;
    assert_eq!(first["value"][0]["members@delta"], json!([{ "@odata.type": "#microsoft.graph.user", "id": aid }]));
    let groups_link = first["@odata.deltaLink"].as_str().unwrap().to_string();
    let reference = json!({ "@odata.id": format!("https://graph.microsoft.com/v1.0/directoryObjects/{}", c["id"].as_str().unwrap()) });
    assert_eq!(s.call("POST", &format!("/v1.0/groups/{gid}/members/$ref"), Some(reference)).await.0, 204);
    assert_eq!(s.call("DELETE", &format!("/v1.0/groups/{gid}/members/{aid}/$ref"), None).await.0, 204);
    let (_, changed) = s.call("GET", &groups_link, None).await;
    assert_eq!(
        changed["value"][0]["members@delta"],
        json!([
            { "@odata.type": "#microsoft.graph.user", "id": c["id"] },
            { "@odata.type": "#microsoft.graph.user", "id": aid, "@removed": { "reason": "deleted" } },
        ])
    );

    // Tokens are bound: tampered, or moved to another resource or $select, they are refused.
    let token = next_round.split("$deltatoken=").nth(1).unwrap();
    assert_eq!(s.call("GET", &format!("/v1.0/groups/delta?$deltatoken={token}"), None).await.0, 400);
    assert_eq!(s.call("GET", &format!("/v1.0/users/delta?$deltatoken={token}"), None).await.0, 400, "without the round's $select");
    assert_eq!(s.call("GET", &format!("/v1.0/users/delta?$select=displayName,jobTitle&$deltatoken=x{token}"), None).await.0, 400);
    assert_eq!(s.call("GET", "/v1.0/users/delta?$filter=displayName%20eq%20'x'", None).await.0, 400);
    // "latest": no listing, just a link for what happens from now on.
    let (_, latest) = s.call("GET", "/v1.0/users/delta?$deltatoken=latest", None).await;
    assert_eq!(latest["value"], json!([]));
    let (_, after_latest) = s.call("GET", latest["@odata.deltaLink"].as_str().unwrap(), None).await;
    assert_eq!(after_latest["value"], json!([]));
}

#[tokio::test]
async fn authentication_methods_in_graphs_shapes() {
    let s = setup().await;
    let u = s.create_user("methods", "Methods User").await;
    let uid = u["id"].as_str().unwrap();
    let (status, methods) = s.call("GET", &format!("/v1.0/users/{uid}/authentication/methods"), None).await;
    assert_eq!(status, 200, "{methods}");
    assert_eq!(
        methods["value"],
        json!([{ "@odata.type": "#microsoft.graph.passwordAuthenticationMethod", "id": "28c10230-6103-485e-b985-444c60001490", "password": null, "createdDateTime": null }])
    );
    let (_, oath) = s.call("GET", &format!("/v1.0/users/{uid}/authentication/softwareOathMethods"), None).await;
    assert_eq!(oath["value"], json!([]));
    let missing = "11111111-1111-4111-8111-111111111111";
    assert_eq!(s.call("DELETE", &format!("/v1.0/users/{uid}/authentication/softwareOathMethods/{missing}"), None).await.0, 404);
    assert_eq!(s.call("GET", "/v1.0/me/authentication/methods", None).await.0, 400, "app-only has no /me");
    assert_eq!(s.call("GET", &format!("/v1.0/users/nobody@{}/authentication/methods", s.domain), None).await.0, 404);

    // An administrator's password reset: generated by Ward and shown once, or given and judged.
    let reset = format!("/v1.0/users/{uid}/authentication/methods/28c10230-6103-485e-b985-444c60001490/resetPassword");
    let r = http().post(s.server.url(&reset)).bearer_auth(&s.token).json(&json!({})).send().await.unwrap();
    assert_eq!(r.status(), 202);
    let location = r.headers()["location"].to_str().unwrap().to_string();
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["newPassword"].as_str().map(str::len), Some(20), "{body}");
    let op = location.split("/v1.0/").nth(1).unwrap();
    let (status, operation) = s.call("GET", &format!("/v1.0/{op}"), None).await;
    assert_eq!((status, operation["status"].as_str()), (200, Some("succeeded")), "{operation}");
    let (status, _) = s.call("GET", &format!("/v1.0/users/{uid}/authentication/operations/{missing}"), None).await;
    assert_eq!(status, 404);
    let (status, e) = s.call("POST", &reset, Some(json!({ "newPassword": "password1" }))).await;
    assert_eq!(status, 400, "a common password is refused: {e}");
    let (status, given) = s.call("POST", &reset, Some(json!({ "newPassword": "Quartz-Lantern-Orbit-58" }))).await;
    assert_eq!((status, given["newPassword"].clone()), (202, Value::Null), "a given password is not echoed");
    assert_eq!(s.call("POST", &reset, Some(json!({ "password": "x" }))).await.0, 400);
    let other_method = format!("/v1.0/users/{uid}/authentication/methods/{missing}/resetPassword");
    assert_eq!(s.call("POST", &other_method, Some(json!({}))).await.0, 404);
}

#[tokio::test]
async fn the_authentication_methods_policy_decides_who_may_use_which_method() {
    let s = setup().await;
    let policy = "/v1.0/policies/authenticationMethodsPolicy";
    let fido = format!("{policy}/authenticationMethodConfigurations/Fido2");
    let (status, p) = s.call("GET", policy, None).await;
    assert_eq!(status, 200, "{p}");
    let ids: Vec<&str> = p["authenticationMethodConfigurations"].as_array().unwrap().iter().map(|c| c["id"].as_str().unwrap()).collect();
    assert_eq!(ids, ["Fido2", "SoftwareOath", "TemporaryAccessPass"]);
    let (_, f) = s.call("GET", &fido, None).await;
    assert_eq!(f["@odata.type"], "#microsoft.graph.fido2AuthenticationMethodConfiguration");
    assert_eq!((f["state"].as_str(), f["isAttestationEnforced"].as_bool()), (Some("enabled"), Some(false)));
    assert_eq!(f["includeTargets"], json!([{ "targetType": "group", "id": "all_users", "isRegistrationRequired": false }]));

    // A valid patch changes exactly what it says; annotations are ignored.
    let blocked = "cb69481e-8ff7-4039-93ec-0a2729a154a8";
    let patch = json!({ "@odata.type": "#microsoft.graph.fido2AuthenticationMethodConfiguration",
        "keyRestrictions": { "isEnforced": true, "enforcementType": "block", "aaGuids": [blocked] } });
    assert_eq!(s.call("PATCH", &fido, Some(patch)).await.0, 204);
    let (_, f) = s.call("GET", &fido, None).await;
    assert_eq!(f["keyRestrictions"], json!({ "isEnforced": true, "enforcementType": "block", "aaGuids": [blocked] }));
    assert_eq!(f["state"], "enabled");
    // Bad patches are refused whole, with Graph's error shape, and change nothing.
    for bad in [
        json!({ "state": "on" }),
        json!({ "keyRestrictions": { "enforcementType": "deny" } }),
        json!({ "keyRestrictions": { "aaGuids": ["not-a-guid"] } }),
        json!({ "isAttestationEnforced": true, "favouriteColour": "blue" }),
        json!({ "includeTargets": [{ "targetType": "group", "id": "everyone" }] }),
    ] {
        let (status, e) = s.call("PATCH", &fido, Some(bad.clone())).await;
        assert_eq!(status, 400, "{bad} → {e}");
        assert!(e["error"]["code"].is_string(), "{e}");
    }
    assert_eq!(s.call("GET", &fido, None).await.1, f);
    assert_eq!(
        s.call("PATCH", &format!("{policy}/authenticationMethodConfigurations/Sms"), Some(json!({ "state": "enabled" }))).await.0,
        404
    );

    // Temporary Access Pass limited to one group: issued to its members only.
    let member = s.create_user("tapmember", "TAP Member").await;
    let other = s.create_user("tapother", "TAP Other").await;
    let (status, g) = s
        .call(
            "POST",
            "/v1.0/groups",
            Some(json!({ "displayName": "Onboarding", "mailEnabled": false, "mailNickname": "onboarding", "securityEnabled": true })),
        )
        .await;
    assert_eq!(status, 201, "{g}");
    let gid = g["id"].as_str().unwrap();
    let bind = json!({ "@odata.id": format!("https://graph.microsoft.com/v1.0/directoryObjects/{}", member["id"].as_str().unwrap()) });
    assert_eq!(s.call("POST", &format!("/v1.0/groups/{gid}/members/$ref"), Some(bind)).await.0, 204);
    let tap = format!("{policy}/authenticationMethodConfigurations/TemporaryAccessPass");
    let only_group = json!({ "includeTargets": [{ "targetType": "group", "id": gid }] });
    assert_eq!(s.call("PATCH", &tap, Some(only_group)).await.0, 204);
    let issue = |u: &Value| format!("/v1.0/users/{}/authentication/temporaryAccessPassMethods", u["id"].as_str().unwrap());
    assert_eq!(s.call("POST", &issue(&member), Some(json!({}))).await.0, 201);
    let (_, registered) =
        s.call("GET", "/v1.0/auditLogs/directoryAudits?$filter=activityDisplayName eq 'Admin registered security info'", None).await;
    let record = &registered["value"][0];
    assert_eq!(record["targetResources"][0]["id"], member["id"], "{registered}");
    assert_eq!(record["targetResources"][0]["modifiedProperties"][0]["newValue"], "tap", "{registered}");
    assert!(record["initiatedBy"]["app"]["appId"].is_string(), "{registered}");
    let (status, e) = s.call("POST", &issue(&other), Some(json!({}))).await;
    assert_eq!(status, 400, "{e}");
    assert!(e["error"]["message"].as_str().unwrap().contains("policy"), "{e}");
    // Disabled for everyone: nobody gets one.
    assert_eq!(s.call("PATCH", &tap, Some(json!({ "state": "disabled" }))).await.0, 204);
    assert_eq!(s.call("POST", &issue(&member), Some(json!({}))).await.0, 400);

    // Every change is audited.
    let (_, audits) = s.call("GET", "/v1.0/auditLogs/directoryAudits?$filter=category eq 'Policy'", None).await;
    assert!(audits["value"].as_array().unwrap().len() >= 3, "{audits}");

    // Reading needs a policy permission; an app with only User.Read.All gets 403.
    let (_, app) = s.call("POST", "/v1.0/applications", Some(json!({ "displayName": "No policy" }))).await;
    let (app_obj, app_id) = (app["id"].as_str().unwrap().to_string(), app["appId"].as_str().unwrap().to_string());
    let (_, secret) = s.call("POST", &format!("/v1.0/applications/{app_obj}/addPassword"), Some(json!({ "passwordCredential": {} }))).await;
    s.call("POST", "/v1.0/servicePrincipals", Some(json!({ "appId": app_id }))).await;
    let weak = app_token(&s.server, &s.tid, &app_id, secret["secretText"].as_str().unwrap()).await;
    assert_eq!(s.send(&weak, "GET", policy, None, &[]).await.0, 403);
    assert_eq!(s.send(&weak, "PATCH", &fido, Some(json!({ "state": "disabled" })), &[]).await.0, 403);
    // And a user's passkeys are listed in Graph's shape (none yet).
    let (status, keys) = s.call("GET", &format!("/v1.0/users/{}/authentication/fido2Methods", member["id"].as_str().unwrap()), None).await;
    assert_eq!((status, keys["value"].clone()), (200, json!([])));
}

#[tokio::test]
async fn branding_set_through_graph_shows_on_the_sign_in_page() {
    let s = setup().await;
    let branding = format!("/v1.0/organization/{}/branding", s.tid);
    let (status, b) = s.call("GET", &branding, None).await;
    assert_eq!((status, b["backgroundColor"].clone()), (200, Value::Null), "{b}");
    let patch = json!({ "backgroundColor": "#0B5394", "signInPageText": "Contoso staff only. <b>not bold</b>", "usernameHintText": "you@contoso.com" });
    assert_eq!(s.call("PATCH", &branding, Some(patch)).await.0, 204);
    for bad in [json!({ "backgroundColor": "red;}" }), json!({ "usernameHintText": "x".repeat(65) }), json!({ "squareLogo": "x" })] {
        assert_eq!(s.call("PATCH", &branding, Some(bad.clone())).await.0, 400, "{bad}");
    }
    let other = "/v1.0/organization/11111111-1111-4111-8111-111111111111/branding";
    assert_eq!(s.call("PATCH", other, Some(json!({ "signInPageText": "x" }))).await.0, 404, "only one's own organisation");

    // The logo: PNG or JPEG only.
    let logo = s.server.url(&format!("{branding}/bannerLogo"));
    let png = [b"\x89PNG\r\n\x1a\n".as_slice(), b"a tiny test image"].concat();
    let put = |body: Vec<u8>, kind: &'static str| http().put(&logo).bearer_auth(&s.token).header("content-type", kind).body(body).send();
    assert_eq!(put(b"<svg onload=alert(1)/>".to_vec(), "image/svg+xml").await.unwrap().status(), 400);
    assert_eq!(put(png.clone(), "image/png").await.unwrap().status(), 204);

    // The sign-in page shows it all, escaped, with the colour from a stylesheet of Ward's.
    let page = http().get(s.server.url(&format!("/{}/mysecurityinfo", s.tid))).send().await.unwrap().text().await.unwrap();
    assert!(page.contains("placeholder=\"you@contoso.com\""), "{page}");
    assert!(page.contains("Contoso staff only. &lt;b&gt;not bold&lt;/b&gt;"), "{page}");
    assert!(page.contains(&format!("<img class=\"logo\" src=\"/{}/branding/logo\"", s.tid)), "{page}");
    let css_href = format!("/{}/branding/style.css?c=0b5394", s.tid);
    assert!(page.contains(&css_href), "{page}");
    let css = http().get(s.server.url(&css_href)).send().await.unwrap().text().await.unwrap();
    assert_eq!(css, "body{background:#0b5394}");
    let served = http().get(s.server.url(&format!("/{}/branding/logo", s.tid))).send().await.unwrap();
    assert_eq!(served.headers()["content-type"], "image/png");
    assert_eq!(served.bytes().await.unwrap().as_ref(), png.as_slice());
}
