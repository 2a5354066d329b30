//! Graph's application-registration API end to end, as an automation client (the app `ward init`
//! creates, holding `Application.ReadWrite.All`) uses it: register, expose an API, add and remove
//! secrets and certificates, create the service principal, grant and withdraw permissions, delete.
//! Each step is checked through the token endpoint, where it matters.

mod common;
use common::*;
use jsonwebtoken::{Algorithm, EncodingKey, Header, encode};
use serde_json::{Value, json};

struct Setup {
    _dir: tempfile::TempDir,
    server: Server,
    tid: String,
    admin_token: String,
}

async fn setup() -> Setup {
    let dir = tempfile::tempdir().unwrap();
    let init = init(dir.path(), &[]);
    let server = Server::start(dir.path(), &["--data-dir", "data"]);
    let tid = init["tenant_id"].as_str().unwrap().to_string();
    let (status, t) = client_token(&server, &tid, init["client_id"].as_str().unwrap(), init["client_secret"].as_str().unwrap()).await;
    assert_eq!(status, 200);
    Setup { _dir: dir, server, tid, admin_token: t["access_token"].as_str().unwrap().to_string() }
}

impl Setup {
    async fn call(&self, method: &str, path: &str, body: Option<Value>) -> (u16, Value) {
        self.call_as(&self.admin_token.clone(), method, path, body).await
    }
    async fn call_as(&self, token: &str, method: &str, path: &str, body: Option<Value>) -> (u16, Value) {
        let url = if path.starts_with("http") { path.to_string() } else { self.server.url(path) };
        let mut req = http().request(method.parse().unwrap(), url).bearer_auth(token);
        if let Some(b) = body {
            req = req.json(&b);
        }
        let r = req.send().await.unwrap();
        let status = r.status().as_u16();
        let text = r.text().await.unwrap();
        (status, if text.is_empty() { Value::Null } else { serde_json::from_str(&text).unwrap() })
    }
}

fn now() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs() as i64
}

#[tokio::test]
async fn register_configure_credential_grant_and_delete_an_application() {
    let s = setup().await;
    // Who may call: nobody without a token; nobody without the permission.
    let r = http().get(s.server.url("/v1.0/applications")).send().await.unwrap();
    assert_eq!(r.status(), 401);
    let (_, e) = s.call_as("not-a-token", "GET", "/v1.0/applications", None).await;
    assert_eq!(e["error"]["code"], "InvalidAuthenticationToken");

    // Register, with an exposed API and a web redirect URI.
    let (status, app) = s
        .call(
            "POST",
            "/v1.0/applications",
            Some(json!({
                "displayName": "Contoso Orders",
                "signInAudience": "AzureADMyOrg",
                "web": { "redirectUris": ["https://orders.contoso.example/signin-oidc"] },
                "api": { "oauth2PermissionScopes": [{ "value": "Orders.Read", "type": "User", "adminConsentDescription": "Read orders", "isEnabled": true }] }
            })),
        )
        .await;
    assert_eq!(status, 201, "{app}");
    let (id, app_id) = (app["id"].as_str().unwrap().to_string(), app["appId"].as_str().unwrap().to_string());
    assert_eq!(app["identifierUris"], json!([format!("api://{app_id}")]));
    assert_eq!(app["api"]["oauth2PermissionScopes"][0]["value"], "Orders.Read");
    assert!(app["@odata.context"].as_str().unwrap().ends_with("$metadata#applications/$entity"));
    // Bad input is refused with Graph's envelope, and nothing is written.
    for bad in [
        json!({ "displayName": "X", "web": { "redirectUris": ["http://evil.example/cb"] } }),
        json!({ "displayName": "X", "nonsense": true }),
        json!({ "displayName": "X", "signInAudience": "AzureADMultipleOrgs" }),
        json!({ "displayName": "X", "identifierUris": [format!("api://{app_id}")] }),
        json!({ "web": {} }),
    ] {
        let (status, e) = s.call("POST", "/v1.0/applications", Some(bad.clone())).await;
        assert_eq!(status, 400, "{bad} → {e}");
        assert!(e["error"]["code"].is_string());
    }
    let (_, list) = s.call("GET", "/v1.0/applications", None).await;
    assert_eq!(list["value"].as_array().unwrap().len(), 2, "the automation app and Contoso Orders");
    // Paging.
    let (_, page) = s.call("GET", "/v1.0/applications?$top=1", None).await;
    assert_eq!(page["value"].as_array().unwrap().len(), 1);
    let (_, next) = s.call("GET", &page["@odata.nextLink"].as_str().unwrap().replace("localhost", "127.0.0.1"), None).await;
    assert_eq!(next["value"].as_array().unwrap().len(), 1);
    assert_ne!(next["value"][0]["id"], page["value"][0]["id"]);

    // PATCH: display name; read-only properties refused.
    assert_eq!(s.call("PATCH", &format!("/v1.0/applications/{id}"), Some(json!({ "displayName": "Contoso Orders 2" }))).await.0, 204);
    assert_eq!(s.call("GET", &format!("/v1.0/applications/{id}"), None).await.1["displayName"], "Contoso Orders 2");
    assert_eq!(s.call("PATCH", &format!("/v1.0/applications/{id}"), Some(json!({ "appId": "x" }))).await.0, 400);
    // requiredResourceAccess: only permissions that exist.
    let rra = |id: &str| json!({ "requiredResourceAccess": [{ "resourceAppId": "00000003-0000-0000-c000-000000000000", "resourceAccess": [{ "id": id, "type": "Scope" }] }] });
    assert_eq!(s.call("PATCH", &format!("/v1.0/applications/{id}"), Some(rra("e1fe6dd8-ba31-4d61-89e7-88639da4683d"))).await.0, 204);
    assert_eq!(s.call("PATCH", &format!("/v1.0/applications/{id}"), Some(rra("11111111-1111-4111-8111-111111111111"))).await.0, 400);
    let (_, shown) = s.call("GET", &format!("/v1.0/applications/{id}"), None).await;
    assert_eq!(shown["requiredResourceAccess"][0]["resourceAccess"][0]["id"], "e1fe6dd8-ba31-4d61-89e7-88639da4683d");

    // No service principal yet: no tokens. Then one, a secret, and app-only tokens.
    let (status, secret) = s
        .call("POST", &format!("/v1.0/applications/{id}/addPassword"), Some(json!({ "passwordCredential": { "displayName": "ci" } })))
        .await;
    assert_eq!(status, 200, "{secret}");
    let secret_text = secret["secretText"].as_str().unwrap().to_string();
    assert_eq!(secret["hint"], &secret_text[..3]);
    let (status, e) = client_token(&s.server, &s.tid, &app_id, &secret_text).await;
    assert_eq!((status, e["error"].as_str()), (400, Some("unauthorized_client")));
    let (status, sp) = s.call("POST", "/v1.0/servicePrincipals", Some(json!({ "appId": app_id }))).await;
    assert_eq!(status, 201, "{sp}");
    let sp_id = sp["id"].as_str().unwrap().to_string();
    assert_eq!(s.call("POST", "/v1.0/servicePrincipals", Some(json!({ "appId": app_id }))).await.0, 409);
    let (status, t) = client_token(&s.server, &s.tid, &app_id, &secret_text).await;
    assert_eq!(status, 200);
    let token = t["access_token"].as_str().unwrap().to_string();
    // Without Application.ReadWrite.All the new app may not manage registrations.
    let (status, e) = s.call_as(&token, "GET", "/v1.0/applications", None).await;
    assert_eq!((status, e["error"]["code"].as_str()), (403, Some("Authorization_RequestDenied")));

    // Grant it an application permission through Graph: its next token carries the role.
    let (_, sps) = s.call("GET", "/v1.0/servicePrincipals", None).await;
    let graph_sp =
        sps["value"].as_array().unwrap().iter().find(|v| v["appId"] == "00000003-0000-0000-c000-000000000000").unwrap()["id"].clone();
    let (status, assignment) = s
        .call(
            "POST",
            &format!("/v1.0/servicePrincipals/{sp_id}/appRoleAssignments"),
            Some(json!({ "principalId": sp_id, "resourceId": graph_sp, "appRoleId": "df021288-bdef-4463-88db-98f22de89214" })),
        )
        .await;
    assert_eq!(status, 201, "{assignment}");
    let (_, t) = client_token(&s.server, &s.tid, &app_id, &secret_text).await;
    let claims = decode_claims(t["access_token"].as_str().unwrap());
    assert_eq!(claims["roles"], json!(["User.Read.All"]));
    let aid = assignment["id"].as_str().unwrap();
    assert_eq!(s.call("DELETE", &format!("/v1.0/servicePrincipals/{sp_id}/appRoleAssignments/{aid}"), None).await.0, 204);
    let (_, t) = client_token(&s.server, &s.tid, &app_id, &secret_text).await;
    assert!(decode_claims(t["access_token"].as_str().unwrap()).get("roles").is_none());

    // Delegated consent for everyone, listed and withdrawn.
    let (status, grant) = s
        .call(
            "POST",
            "/v1.0/oauth2PermissionGrants",
            Some(json!({ "clientId": sp_id, "consentType": "AllPrincipals", "resourceId": graph_sp, "scope": "openid User.Read" })),
        )
        .await;
    assert_eq!(status, 201, "{grant}");
    let (_, grants) = s.call("GET", &format!("/v1.0/oauth2PermissionGrants?$filter=clientId eq '{sp_id}'"), None).await;
    assert_eq!(grants["value"][0]["scope"], "openid User.Read");
    assert_eq!(s.call("DELETE", &format!("/v1.0/oauth2PermissionGrants/{}", grant["id"].as_str().unwrap()), None).await.0, 204);
    assert_eq!(s.call("GET", "/v1.0/oauth2PermissionGrants", None).await.1["value"], json!([]));

    // Disable and enable the service principal.
    assert_eq!(s.call("PATCH", &format!("/v1.0/servicePrincipals/{sp_id}"), Some(json!({ "accountEnabled": false }))).await.0, 204);
    assert_eq!(client_token(&s.server, &s.tid, &app_id, &secret_text).await.1["error"], "unauthorized_client");
    assert_eq!(s.call("PATCH", &format!("/v1.0/servicePrincipals/{sp_id}"), Some(json!({ "accountEnabled": true }))).await.0, 204);

    // Certificates: the first without proof, then only with a proof signed by a current key.
    let first = rcgen::KeyPair::generate().unwrap();
    let cert1 = rcgen::CertificateParams::new(vec!["orders".into()]).unwrap().self_signed(&first).unwrap();
    use base64::Engine;
    let b64 = |der: &[u8]| base64::engine::general_purpose::STANDARD.encode(der);
    let key_body = |der: &[u8], proof: Option<String>| json!({ "keyCredential": { "type": "AsymmetricX509Cert", "usage": "Verify", "key": b64(der) }, "passwordCredential": null, "proof": proof });
    let (status, k1) = s.call("POST", &format!("/v1.0/applications/{id}/addKey"), Some(key_body(cert1.der(), None))).await;
    assert_eq!(status, 200, "{k1}");
    assert!(k1["key"].is_null(), "key material is not echoed");
    let second = rcgen::KeyPair::generate().unwrap();
    let cert2 = rcgen::CertificateParams::new(vec!["orders".into()]).unwrap().self_signed(&second).unwrap();
    assert_eq!(
        s.call("POST", &format!("/v1.0/applications/{id}/addKey"), Some(key_body(cert2.der(), None))).await.0,
        400,
        "proof required now"
    );
    let proof = |key: &rcgen::KeyPair, iss: &str| {
        let claims = json!({ "aud": "00000002-0000-0000-c000-000000000000", "iss": iss, "nbf": now(), "exp": now() + 600 });
        encode(&Header::new(Algorithm::ES256), &claims, &EncodingKey::from_ec_pem(key.serialize_pem().as_bytes()).unwrap()).unwrap()
    };
    let (status, _) =
        s.call("POST", &format!("/v1.0/applications/{id}/addKey"), Some(key_body(cert2.der(), Some(proof(&second, &id))))).await;
    assert_eq!(status, 400, "a proof signed by the key being added proves nothing");
    let (status, k2) =
        s.call("POST", &format!("/v1.0/applications/{id}/addKey"), Some(key_body(cert2.der(), Some(proof(&first, &id))))).await;
    assert_eq!(status, 200, "{k2}");
    let (status, _) = s
        .call(
            "POST",
            &format!("/v1.0/applications/{id}/removeKey"),
            Some(json!({ "keyId": k1["keyId"], "proof": proof(&second, &app_id) })),
        )
        .await;
    assert_eq!(status, 400, "the proof's issuer is the application's object id");
    let (status, _) = s
        .call("POST", &format!("/v1.0/applications/{id}/removeKey"), Some(json!({ "keyId": k1["keyId"], "proof": proof(&second, &id) })))
        .await;
    assert_eq!(status, 204);
    assert_eq!(s.call("GET", &format!("/v1.0/applications/{id}"), None).await.1["keyCredentials"].as_array().unwrap().len(), 1);

    // Secrets go too.
    assert_eq!(s.call("POST", &format!("/v1.0/applications/{id}/removePassword"), Some(json!({ "keyId": secret["keyId"] }))).await.0, 204);
    assert_eq!(client_token(&s.server, &s.tid, &app_id, &secret_text).await.0, 401);

    // Deleting the application takes its service principal along.
    assert_eq!(s.call("DELETE", &format!("/v1.0/applications/{id}"), None).await.0, 204);
    assert_eq!(s.call("GET", &format!("/v1.0/applications/{id}"), None).await.0, 404);
    assert_eq!(s.call("GET", &format!("/v1.0/servicePrincipals/{sp_id}"), None).await.0, 404);
    // Ward's own API cannot be deleted.
    assert_eq!(s.call("DELETE", &format!("/v1.0/servicePrincipals/{}", graph_sp.as_str().unwrap()), None).await.0, 400);
}

fn decode_claims(token: &str) -> Value {
    use base64::Engine;
    serde_json::from_slice(&base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(token.split('.').nth(1).unwrap()).unwrap()).unwrap()
}

#[tokio::test]
async fn a_daemon_gets_app_only_tokens_for_an_isv_api_with_the_roles_granted() {
    let s = setup().await;
    let d = s._dir.path();
    let cli = |args: &[&str]| json(&ok(ward(d).args(args).args(["--data-dir", "data"])));
    let api =
        cli(&["app", "create", "--json", "--name", "Orders API", "--app-role", "Orders.ReadWrite.All", "--app-role", "Orders.Read.All"]);
    let api_id = api["appId"].as_str().unwrap().to_string();
    let daemon = cli(&["app", "create", "--json", "--name", "Nightly sync"]);
    let daemon_id = daemon["appId"].as_str().unwrap().to_string();
    let secret = cli(&["app", "add-secret", &daemon_id, "--json"])["secretText"].as_str().unwrap().to_string();
    let token_for = |scope: String| {
        let (server, tid, id, secret) = (&s.server, s.tid.clone(), daemon_id.clone(), secret.clone());
        async move {
            let r = http()
                .post(server.url(&format!("/{tid}/oauth2/v2.0/token")))
                .basic_auth(&id, Some(&secret))
                .form(&[("grant_type", "client_credentials"), ("scope", scope.as_str())])
                .send()
                .await
                .unwrap();
            (r.status().as_u16(), r.json::<Value>().await.unwrap())
        }
    };
    let scope = format!("api://{api_id}/.default");
    // No grant yet: a token for the API, without roles.
    let (status, t) = token_for(scope.clone()).await;
    assert_eq!(status, 200, "{t}");
    let claims = decode_claims(t["access_token"].as_str().unwrap());
    assert_eq!(claims["aud"], api_id.as_str());
    assert!(claims.get("roles").is_none());
    // The administrator grants one role; the token carries exactly it.
    ok(ward(d).args(["app", "grant", &daemon_id, "Orders.Read.All", "--resource", &format!("api://{api_id}"), "--data-dir", "data"]));
    fails_with(ward(d).args(["app", "grant", &daemon_id, "Orders.Delete", "--resource", &api_id, "--data-dir", "data"]), "invalid_value");
    let (_, t) = token_for(scope).await;
    assert_eq!(decode_claims(t["access_token"].as_str().unwrap())["roles"], json!(["Orders.Read.All"]));
    // A resource that does not exist.
    let (status, e) = token_for("api://11111111-2222-4333-8444-555555555555/.default".into()).await;
    assert_eq!((status, e["error"].as_str()), (400, Some("invalid_scope")));
}
