//! OpenID Connect end to end against the real binary, the way a browser and a client app use it:
//! discovery, the sign-in and consent pages (forms, CSRF, cookies), the code flow with PKCE for a
//! native app and with a secret for a web app, tokens verified against the published JWKS, user
//! info, refresh rotation, introspection, revocation and sign-out. The sign-in methods (an
//! authenticator app, passwords, sessions, Temporary Access Pass, username first) are in
//! `sign_in_methods.rs`.

mod common;
use common::signin::*;
use common::*;
use jsonwebtoken::{Algorithm, DecodingKey, Validation, decode, decode_header, jwk::JwkSet};
use serde_json::Value;

#[tokio::test]
async fn discovery_describes_this_tenant_and_only_what_exists() {
    let s = setup();
    for path in ["/v2.0/.well-known/openid-configuration", "/.well-known/openid-configuration"] {
        let doc: Value = http().get(s.url(path)).send().await.unwrap().json().await.unwrap();
        assert_eq!(doc["issuer"], format!("http://localhost:{}/{}/v2.0", s.server.addr.port(), s.tid));
        assert_eq!(doc["code_challenge_methods_supported"], serde_json::json!(["S256"]));
        // Every endpoint advertised answers something other than 404.
        for key in [
            "authorization_endpoint",
            "token_endpoint",
            "jwks_uri",
            "userinfo_endpoint",
            "end_session_endpoint",
            "introspection_endpoint",
            "revocation_endpoint",
        ] {
            let url = doc[key].as_str().unwrap().replace("localhost", "127.0.0.1");
            let status = http().get(&url).send().await.unwrap().status().as_u16();
            assert_ne!(status, 404, "{key} {url}");
        }
    }
    // By verified domain too; an unknown tenant is a clear error.
    let r = http().get(format!("{}/defaultdirectory.ward.local/v2.0/.well-known/openid-configuration", s.base())).send().await.unwrap();
    assert_eq!(r.status(), 200);
    let r = http().get(format!("{}/nowhere.example/v2.0/.well-known/openid-configuration", s.base())).send().await.unwrap();
    assert_eq!(r.status(), 400);
}

#[tokio::test]
async fn a_native_app_signs_a_person_in_with_pkce() {
    let s = setup();
    let mut b = Browser::new();
    let authorize = s.authorize_url(&s.native, NATIVE_REDIRECT, "openid profile email offline_access User.Read", true);
    // The sign-in page: a real form, a CSRF token, a CSP that lets the form lead to the client.
    let page = b.get(&authorize).await;
    assert_eq!(page.status, 200);
    assert!(page.body.contains("<label for=\"username\">") && page.body.contains("Native Tool"));
    assert!(page.csp.as_deref().unwrap().contains("form-action 'self' http://127.0.0.1"), "{:?}", page.csp);
    // Wrong password: the page again, with an error and no session.
    let wrong = b.submit(&s.base(), &page, &[("username", &s.upn), ("password", "nope")]).await;
    assert_eq!(wrong.status, 401);
    assert!(wrong.body.contains("role=\"alert\"") && !b.cookies.contains_key("ward_session"));
    // A forged form (no valid CSRF token) is refused.
    let forged = b.submit(&s.base(), &page, &[("username", &s.upn), ("password", PASSWORD), ("csrf_token", "forged")]).await;
    assert_eq!(forged.status, 403);
    let mut stranger = Browser::new();
    let replayed_form = stranger.submit(&s.base(), &page, &[("username", &s.upn), ("password", PASSWORD)]).await;
    assert_eq!(replayed_form.status, 403, "a CSRF token is bound to its browser's cookie");

    let code = s.sign_in(&mut b, &authorize, NATIVE_REDIRECT).await;
    let (status, t) = s.redeem_native(&code).await;
    assert_eq!(status, 200, "{t}");
    let id = s.verify(t["id_token"].as_str().unwrap(), &s.native, "JWT").await;
    assert_eq!(id["nonce"], "nonce-7");
    assert_eq!(id["preferred_username"], s.upn);
    assert_eq!(id["email"], "megan@contoso.example");
    let at = s.verify(t["access_token"].as_str().unwrap(), "https://graph.microsoft.com", "at+jwt").await;
    assert_eq!(at["scp"], "openid profile email User.Read");
    assert_eq!(at["sub"], id["sub"]);
    // User info.
    let info: Value = http()
        .get(format!("{}/oidc/userinfo", s.base()))
        .bearer_auth(t["access_token"].as_str().unwrap())
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(info["sub"], id["sub"]);
    assert_eq!(info["name"], "Megan Bowen");
    let r = http().get(format!("{}/oidc/userinfo", s.base())).bearer_auth("not.a.token").send().await.unwrap();
    assert_eq!(r.status(), 401);
    assert!(r.headers()["www-authenticate"].to_str().unwrap().contains("invalid_token"));

    // Single sign-on: the second app visit needs no password, and no consent again.
    let again = b.get(&authorize).await;
    assert!(again.location.as_deref().unwrap().starts_with(&format!("{NATIVE_REDIRECT}?code=")));

    // A replayed code is refused and revokes what it issued.
    let (status, e) = s.redeem_native(&code).await;
    assert_eq!((status, e["error"].as_str()), (400, Some("invalid_grant")));
    let (_, e) = s
        .token(&[("grant_type", "refresh_token"), ("client_id", &s.native), ("refresh_token", t["refresh_token"].as_str().unwrap())], None)
        .await;
    assert_eq!(e["error"], "invalid_grant");
}

#[tokio::test]
async fn a_web_app_authenticates_rotates_introspects_revokes_and_signs_out() {
    let s = setup();
    let mut b = Browser::new();
    let authorize = s.authorize_url(&s.web, WEB_REDIRECT, "openid profile offline_access User.Read", false);
    let code = s.sign_in(&mut b, &authorize, WEB_REDIRECT).await;
    let exchange = [("grant_type", "authorization_code"), ("code", code.as_str()), ("redirect_uri", WEB_REDIRECT)];
    // A confidential client must authenticate.
    let (status, e) = s.token(&[&exchange[..], &[("client_id", s.web.as_str())]].concat(), None).await;
    assert_eq!((status, e["error"].as_str()), (401, Some("invalid_client")));
    let (status, t) = s.token(&exchange, Some((&s.web, &s.web_secret))).await;
    assert_eq!(status, 200, "{t}");
    assert_eq!(s.verify(t["access_token"].as_str().unwrap(), "https://graph.microsoft.com", "at+jwt").await["azpacr"], "1");

    // Rotation, then reuse detection.
    let rt1 = t["refresh_token"].as_str().unwrap();
    let (status, t2) = s.token(&[("grant_type", "refresh_token"), ("refresh_token", rt1)], Some((&s.web, &s.web_secret))).await;
    assert_eq!(status, 200, "{t2}");
    let rt2 = t2["refresh_token"].as_str().unwrap();
    assert_ne!(rt1, rt2);
    let introspect = |token: String| {
        let s = &s;
        async move {
            let r = http()
                .post(s.url("/oauth2/v2.0/introspect"))
                .basic_auth(&s.web, Some(&s.web_secret))
                .form(&[("token", token)])
                .send()
                .await
                .unwrap();
            assert_eq!(r.status(), 200);
            r.json::<Value>().await.unwrap()
        }
    };
    let live = introspect(t2["access_token"].as_str().unwrap().to_string()).await;
    assert_eq!((live["active"].as_bool(), live["username"].as_str()), (Some(true), Some(s.upn.as_str())));
    assert_eq!(introspect(rt2.to_string()).await["active"], true);
    assert_eq!(introspect(rt1.to_string()).await["active"], false, "spent");
    let r = http().post(s.url("/oauth2/v2.0/introspect")).form(&[("token", rt2), ("client_id", &s.web)]).send().await.unwrap();
    assert_eq!(r.status(), 401, "introspection needs client authentication");

    let (_, e) = s.token(&[("grant_type", "refresh_token"), ("refresh_token", rt1)], Some((&s.web, &s.web_secret))).await;
    assert_eq!(e["error"], "invalid_grant");
    let (_, e) = s.token(&[("grant_type", "refresh_token"), ("refresh_token", rt2)], Some((&s.web, &s.web_secret))).await;
    assert_eq!(e["error"], "invalid_grant", "reuse revoked the family");
    assert_eq!(introspect(t2["access_token"].as_str().unwrap().to_string()).await["active"], false);

    // A new grant (single sign-on, no password), then revocation by the client.
    let code = s.sign_in(&mut b, &authorize, WEB_REDIRECT).await;
    let (_, t3) = s
        .token(&[("grant_type", "authorization_code"), ("code", &code), ("redirect_uri", WEB_REDIRECT)], Some((&s.web, &s.web_secret)))
        .await;
    let r = http()
        .post(s.url("/oauth2/v2.0/revoke"))
        .basic_auth(&s.web, Some(&s.web_secret))
        .form(&[("token", t3["refresh_token"].as_str().unwrap())])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(introspect(t3["access_token"].as_str().unwrap().to_string()).await["active"], false);

    // Sign-out. Without a hint it must be confirmed (no cross-site sign-out); an unregistered
    // post-logout URI is never followed.
    let code = s.sign_in(&mut b, &authorize, WEB_REDIRECT).await;
    let (_, t4) = s
        .token(&[("grant_type", "authorization_code"), ("code", &code), ("redirect_uri", WEB_REDIRECT)], Some((&s.web, &s.web_secret)))
        .await;
    let confirm = b.get(&s.url("/oauth2/v2.0/logout")).await;
    assert_eq!(confirm.status, 200);
    assert!(confirm.body.contains("Sign out"));
    assert!(b.cookies.contains_key("ward_session"), "not signed out by a plain GET");
    let id_token = t4["id_token"].as_str().unwrap();
    let evil = format!("{}?id_token_hint={id_token}&post_logout_redirect_uri=https://evil.example/&state=z", s.url("/oauth2/v2.0/logout"));
    let out = b.get(&evil).await;
    assert_eq!((out.status, out.location), (200, None), "not an open redirect");
    assert!(!b.cookies.contains_key("ward_session"));
    let (_, e) = s
        .token(&[("grant_type", "refresh_token"), ("refresh_token", t4["refresh_token"].as_str().unwrap())], Some((&s.web, &s.web_secret)))
        .await;
    assert_eq!(e["error"], "invalid_grant", "signing out ends the session's grants");
    // After sign-out, the sign-in page comes back.
    let page = b.get(&authorize).await;
    assert!(page.body.contains("name=\"username\""));
    // With a registered URI and a valid hint, the browser goes back to the app.
    let code = s.sign_in(&mut b, &authorize, WEB_REDIRECT).await;
    let (_, t5) = s
        .token(&[("grant_type", "authorization_code"), ("code", &code), ("redirect_uri", WEB_REDIRECT)], Some((&s.web, &s.web_secret)))
        .await;
    let back = format!(
        "{}?id_token_hint={}&post_logout_redirect_uri={}&state=z",
        s.url("/oauth2/v2.0/logout"),
        t5["id_token"].as_str().unwrap(),
        WEB_REDIRECT
    );
    let out = b.get(&back).await;
    assert_eq!(out.location.as_deref(), Some(format!("{WEB_REDIRECT}?state=z").as_str()));
}

#[tokio::test]
async fn authorize_errors_go_to_the_person_or_to_the_registered_uri_never_elsewhere() {
    let s = setup();
    let mut b = Browser::new();
    // Unregistered redirect URI: an error page, no redirect.
    let page = b.get(&s.authorize_url(&s.web, "https://evil.example/cb", "openid", false)).await;
    assert_eq!((page.status, page.location.as_deref()), (400, None));
    assert!(page.body.contains("AADSTS50011"));
    // The error page names its correlation id: the request id of the response and of the log line.
    let r = http().get(s.authorize_url(&s.web, "https://evil.example/cb", "openid", false)).send().await.unwrap();
    let id = r.headers()["request-id"].to_str().unwrap().to_string();
    let body = r.text().await.unwrap();
    assert!(body.contains(&format!("<code id=\"correlation-id\">{id}</code>")), "{body}");
    let log = s.server.wait_for_log(&id);
    let line = log.lines().find(|l| l.contains(&id)).unwrap();
    assert!(line.contains("\"status\":400"), "the log line carries the same id: {line}");
    // Unknown client: an error page.
    let page = b.get(&s.authorize_url("5d6a7a9e-0000-4000-8000-000000000000", WEB_REDIRECT, "openid", false)).await;
    assert_eq!((page.status, page.location.as_deref()), (400, None));
    // A public client without PKCE: the error goes back to its registered URI.
    let page = b.get(&s.authorize_url(&s.native, NATIVE_REDIRECT, "openid", false)).await;
    let loc = page.location.unwrap();
    assert!(loc.starts_with(&format!("{NATIVE_REDIRECT}?error=invalid_request")) && loc.contains("state=st-42"), "{loc}");
    // Unknown scope.
    let loc = b.get(&s.authorize_url(&s.web, WEB_REDIRECT, "openid Mail.Send", false)).await.location.unwrap();
    assert!(loc.contains("error=invalid_scope"), "{loc}");
    // Declining consent.
    let authorize = s.authorize_url(&s.web, WEB_REDIRECT, "openid User.Read", false);
    let page = b.get(&authorize).await;
    let consent = b.submit(&s.base(), &page, &[("username", &s.upn), ("password", PASSWORD)]).await;
    let consent = b.get(&format!("{}{}", s.base(), consent.location.unwrap())).await;
    assert!(consent.body.contains("Permissions requested"), "{}", consent.body);
    let declined = b.submit(&s.base(), &consent, &[("consent", "deny")]).await;
    assert!(declined.location.unwrap().starts_with(&format!("{WEB_REDIRECT}?error=access_denied")));
    // Admin-only permissions cannot be consented to by the user...
    let read_all = s.authorize_url(&s.web, WEB_REDIRECT, "openid User.Read.All", false);
    let page = b.get(&read_all).await;
    assert_eq!(page.status, 403);
    assert!(page.body.contains("Need admin approval"));
    // ...until an administrator consents for everyone: then no consent page at all.
    ok(ward(s._dir.path()).args(["app", "consent", &s.web, "--scope", "openid User.Read.All", "--data-dir", "data"]));
    let page = b.get(&read_all).await;
    assert!(page.location.as_deref().unwrap_or_default().starts_with(&format!("{WEB_REDIRECT}?code=")), "{}", page.body);
}

#[tokio::test]
async fn an_app_can_choose_es256_or_eddsa_for_its_tokens() {
    let s = setup();
    let d = s._dir.path();
    fails_with(ward(d).args(["app", "create", "--data-dir", "data", "--name", "Bad", "--signing-alg", "HS256"]), "invalid_value");
    for (alg, jwt_alg) in [("ES256", Algorithm::ES256), ("EdDSA", Algorithm::EdDSA)] {
        let app = cli(d, &["app", "create", "--json", "--name", alg, "--signing-alg", alg]);
        let id = app["appId"].as_str().unwrap();
        let secret = cli(d, &["app", "add-secret", id, "--json"]);
        let (status, t) = s
            .token(
                &[("grant_type", "client_credentials"), ("scope", "https://graph.microsoft.com/.default")],
                Some((id, secret["secretText"].as_str().unwrap())),
            )
            .await;
        assert_eq!(status, 200, "{t}");
        let token = t["access_token"].as_str().unwrap();
        let header = decode_header(token).unwrap();
        assert_eq!(header.alg, jwt_alg);
        let jwks: JwkSet = http().get(s.url("/discovery/v2.0/keys")).send().await.unwrap().json().await.unwrap();
        let mut v = Validation::new(jwt_alg);
        v.set_audience(&["https://graph.microsoft.com"]);
        let key = DecodingKey::from_jwk(jwks.find(header.kid.as_deref().unwrap()).unwrap()).unwrap();
        assert_eq!(decode::<Value>(token, &key, &v).unwrap().claims["appid"], id);
        // Another algorithm's verifier refuses it.
        let rs_key = jwks.keys.iter().find(|k| k.common.key_algorithm == Some(jsonwebtoken::jwk::KeyAlgorithm::RS256)).unwrap();
        assert!(decode::<Value>(token, &DecodingKey::from_jwk(rs_key).unwrap(), &Validation::new(Algorithm::RS256)).is_err());
    }
}

#[tokio::test]
async fn a_device_signs_in_through_the_code_page() {
    let s = setup();
    let start = s.device_start("openid profile offline_access User.Read").await;
    let user_code = start["user_code"].as_str().unwrap();
    assert!(start["message"].as_str().unwrap().contains(user_code));
    let verification = start["verification_uri"].as_str().unwrap().replace("localhost", "127.0.0.1");

    // On the phone: the page asks for a sign-in first, then the code.
    let mut b = Browser::new();
    let page = b.get(&verification).await;
    assert!(page.body.contains("name=\"username\""), "{}", page.body);
    let page = b.submit(&s.base(), &page, &[("username", &s.upn), ("password", PASSWORD)]).await;
    assert_eq!(page.status, 303);
    let entry = b.get(&format!("{}{}", s.base(), page.location.unwrap())).await;
    assert!(entry.body.contains("<label for=\"user_code\">"));
    // A wrong code says so.
    let wrong = b.submit(&s.base(), &entry, &[("user_code", "BCDF-GHJK")]).await;
    assert_eq!(wrong.status, 400);
    assert!(wrong.body.contains("role=\"alert\""));
    let confirm = b.submit(&s.base(), &entry, &[("user_code", user_code)]).await;
    assert!(confirm.body.contains("Native Tool"), "{}", confirm.body);
    // A confirmation without its CSRF token does nothing.
    let forged = b.submit(&s.base(), &confirm, &[("decision", "approve"), ("csrf_token", "x")]).await;
    assert_eq!(forged.status, 403);
    let done = b.submit(&s.base(), &confirm, &[("decision", "approve")]).await;
    assert!(done.body.contains("You have signed in on your device"), "{}", done.body);

    // The device polls and gets its tokens, once.
    let (status, t) = s.device_poll(&start).await;
    assert_eq!(status, 200, "{t}");
    let id = s.verify(t["id_token"].as_str().unwrap(), &s.native, "JWT").await;
    assert_eq!(id["preferred_username"], s.upn);
    let (_, e) = s.device_poll(&start).await;
    assert!(matches!(e["error"].as_str(), Some("invalid_grant" | "slow_down")), "{e}");
}

#[tokio::test]
async fn an_api_calls_another_on_behalf_of_the_signed_in_user() {
    let s = setup();
    let d = s._dir.path();
    // A middle-tier API that exposes `access_as_user`, with a secret, and consent (for everyone)
    // to read the user's profile from Ward's API.
    let api = cli(d, &["app", "create", "--json", "--name", "Orders API", "--expose-scope", "access_as_user"]);
    let api_id = api["appId"].as_str().unwrap().to_string();
    assert_eq!(api["identifierUris"], serde_json::json!([format!("api://{api_id}")]));
    let api_secret = cli(d, &["app", "add-secret", &api_id, "--json"])["secretText"].as_str().unwrap().to_string();
    // The native app signs the user in for the API.
    let mut b = Browser::new();
    let authorize = s.authorize_url(&s.native, NATIVE_REDIRECT, &format!("openid api://{api_id}/access_as_user"), true);
    let code = s.sign_in(&mut b, &authorize, NATIVE_REDIRECT).await;
    let (status, t) = s.redeem_native(&code).await;
    assert_eq!(status, 200, "{t}");
    let for_api = t["access_token"].as_str().unwrap().to_string();
    let claims = s.verify(&for_api, &api_id, "at+jwt").await;
    assert_eq!(claims["scp"], "openid access_as_user");

    let obo = |assertion: String, scope: &'static str| {
        let s = &s;
        let (id, secret) = (api_id.clone(), api_secret.clone());
        async move {
            s.token(
                &[
                    ("grant_type", "urn:ietf:params:oauth:grant-type:jwt-bearer"),
                    ("requested_token_use", "on_behalf_of"),
                    ("assertion", &assertion),
                    ("scope", scope),
                ],
                Some((&id, &secret)),
            )
            .await
        }
    };
    // Without the API's consent to call Ward's API: refused.
    let (status, e) = obo(for_api.clone(), "https://graph.microsoft.com/User.Read").await;
    assert_eq!((status, e["error"].as_str()), (400, Some("invalid_grant")), "{e}");
    ok(ward(d).args(["app", "consent", &api_id, "--scope", "User.Read", "--data-dir", "data"]));
    let (status, t) = obo(for_api.clone(), "https://graph.microsoft.com/.default").await;
    assert_eq!(status, 200, "{t}");
    let downstream = s.verify(t["access_token"].as_str().unwrap(), "https://graph.microsoft.com", "at+jwt").await;
    assert_eq!(downstream["scp"], "User.Read");
    assert_eq!(downstream["azp"], api_id.as_str());
    assert_eq!(
        (downstream["oid"].clone(), downstream["sid"].clone()),
        (claims["oid"].clone(), claims["sid"].clone()),
        "same user, same grant"
    );
    assert!(t.get("refresh_token").is_none());

    // A token addressed elsewhere (here: the downstream one) is not an assertion for this API.
    let (_, e) = obo(t["access_token"].as_str().unwrap().to_string(), "https://graph.microsoft.com/User.Read").await;
    assert_eq!(e["error"], "invalid_grant");
    // requested_token_use is required.
    let (status, _) = s
        .token(
            &[("grant_type", "urn:ietf:params:oauth:grant-type:jwt-bearer"), ("assertion", &for_api), ("scope", "User.Read")],
            Some((&api_id, &api_secret)),
        )
        .await;
    assert_eq!(status, 400);
    // Another client cannot use a token addressed to the API.
    let (status, _) = s
        .token(
            &[
                ("grant_type", "urn:ietf:params:oauth:grant-type:jwt-bearer"),
                ("requested_token_use", "on_behalf_of"),
                ("assertion", &for_api),
                ("scope", "User.Read"),
            ],
            Some((&s.web, &s.web_secret)),
        )
        .await;
    assert_eq!(status, 400);
    // Signing out ends the grant the assertion belongs to: on-behalf-of stops too.
    let confirm = b.get(&s.url("/oauth2/v2.0/logout")).await;
    b.submit(&s.base(), &confirm, &[]).await;
    let (_, e) = obo(for_api, "https://graph.microsoft.com/User.Read").await;
    assert_eq!(e["error"], "invalid_grant");
}

#[tokio::test]
async fn an_administrator_consents_for_the_organisation_on_the_consent_page() {
    let s = setup();
    ok(ward(s._dir.path()).args(["tenant", "set", "--users-can-consent-to-apps", "false", "--data-dir", "data"]));
    let authorize = s.authorize_url(&s.web, WEB_REDIRECT, "openid User.Read", false);
    // An ordinary user cannot consent at all now.
    let mut user = Browser::new();
    let page = user.get(&authorize).await;
    let page = user.submit(&s.base(), &page, &[("username", &s.upn), ("password", PASSWORD)]).await;
    let page = user.get(&format!("{}{}", s.base(), page.location.unwrap())).await;
    assert_eq!(page.status, 403, "{}", page.body);
    // The administrator sees the organisation-wide choice and takes it.
    let mut admin = Browser::new();
    let page = admin.get(&authorize).await;
    let page = admin.submit(&s.base(), &page, &[("username", &s.admin.0), ("password", &s.admin.1)]).await;
    let consent = admin.get(&format!("{}{}", s.base(), page.location.unwrap())).await;
    assert!(consent.body.contains("Consent on behalf of your organisation"), "{}", consent.body);
    let done = admin.submit(&s.base(), &consent, &[("consent", "accept"), ("organization", "on")]).await;
    assert!(done.location.is_some());
    // Now the ordinary user gets straight through, without a consent page.
    let page = user.get(&authorize).await;
    assert!(page.location.as_deref().unwrap_or_default().starts_with(&format!("{WEB_REDIRECT}?code=")), "{}", page.body);
}

#[tokio::test]
async fn delegated_graph_calls_need_the_scope_and_for_writes_an_application_administrator() {
    let s = setup();
    let d = s._dir.path();
    let token_for = |who: (String, String)| {
        let s = &s;
        async move {
            let mut b = Browser::new();
            let authorize = s.authorize_url(&s.native, NATIVE_REDIRECT, "openid Application.ReadWrite.All", true);
            let mut page = b.get(&authorize).await;
            let code = loop {
                if let Some(loc) = page.location.clone() {
                    if loc.starts_with(NATIVE_REDIRECT) {
                        let q: Vec<(String, String)> = serde_urlencoded::from_str(loc.split_once('?').unwrap().1).unwrap();
                        break q.into_iter().find(|(k, _)| k == "code").unwrap().1;
                    }
                    page = b.get(&format!("{}{loc}", s.base())).await;
                } else if page.body.contains("name=\"username\"") {
                    page = b.submit(&s.base(), &page, &[("username", &who.0), ("password", &who.1)]).await;
                } else if page.body.contains("name=\"consent\"") {
                    page = b.submit(&s.base(), &page, &[("consent", "accept")]).await;
                } else {
                    return Err(page.status);
                }
            };
            let (_, t) = s.redeem_native(&code).await;
            Ok(t["access_token"].as_str().unwrap().to_string())
        }
    };
    let graph = |token: String, method: &'static str, body: Option<Value>| {
        let url = s.server.url("/v1.0/applications");
        async move {
            let mut req = http().request(method.parse().unwrap(), url).bearer_auth(token);
            if let Some(b) = body {
                req = req.json(&b);
            }
            req.send().await.unwrap().status().as_u16()
        }
    };
    // An ordinary user cannot consent to an admin-only permission.
    assert_eq!(token_for((s.upn.clone(), PASSWORD.into())).await, Err(403));
    // The Global Administrator can, for themselves, and may then read and write registrations.
    let admin = token_for(s.admin.clone()).await.unwrap();
    assert_eq!(graph(admin.clone(), "GET", None).await, 200);
    assert_eq!(graph(admin, "POST", Some(serde_json::json!({ "displayName": "By the admin" }))).await, 201);
    // With the permission granted to the client for everyone, the ordinary user's token carries the
    // scope: enough to read, not to write (they administer no applications).
    ok(ward(d).args(["app", "consent", &s.native, "--scope", "openid Application.ReadWrite.All", "--data-dir", "data"]));
    let user = token_for((s.upn.clone(), PASSWORD.into())).await.unwrap();
    assert_eq!(graph(user.clone(), "GET", None).await, 200);
    assert_eq!(graph(user, "POST", Some(serde_json::json!({ "displayName": "By a user" }))).await, 403);
}

#[tokio::test]
async fn a_consent_form_is_bound_to_the_sign_in_it_was_shown_to() {
    let s = setup();
    let mut b = Browser::new();
    let authorize = s.authorize_url(&s.web, WEB_REDIRECT, "openid User.Read", false);
    let page = b.get(&authorize).await;
    let page = b.submit(&s.base(), &page, &[("username", &s.upn), ("password", PASSWORD)]).await;
    let consent = b.get(&format!("{}{}", s.base(), page.location.unwrap())).await;
    assert!(consent.body.contains("Permissions requested"));
    // The same browser (same anti-forgery cookie) signs in again: a new session.
    let again = b.get(&format!("{authorize}&prompt=login")).await;
    let page = b.submit(&s.base(), &again, &[("username", &s.upn), ("password", PASSWORD)]).await;
    assert_eq!(page.status, 303);
    // The form shown to the first session is refused in the second.
    let stale = b.submit(&s.base(), &consent, &[("consent", "accept")]).await;
    assert_eq!(stale.status, 403, "{}", stale.body);
}

/// Graph's directory API on a user's behalf: the token's scopes, intersected with what the
/// signed-in user may do (a directory role), decide; and the audit log names the user.
#[tokio::test]
async fn delegated_graph_calls_need_the_scope_and_the_users_role() {
    let s = setup();
    let d = s._dir.path();
    // An administrator consents, for everyone, to the native tool writing users.
    ok(ward(d).args(["app", "consent", &s.native, "--scope", "openid User.ReadWrite.All", "--data-dir", "data"]));
    let other = cli(d, &["user", "create", "--json", "--upn", "lee@defaultdirectory.ward.local", "--display-name", "Lee Gu"]);
    let other_id = other["id"].as_str().unwrap().to_string();
    let mut b = Browser::new();
    let authorize = s.authorize_url(&s.native, NATIVE_REDIRECT, "openid https://graph.microsoft.com/User.ReadWrite.All", true);
    let code = s.sign_in(&mut b, &authorize, NATIVE_REDIRECT).await;
    let (status, t) = s.redeem_native(&code).await;
    assert_eq!(status, 200, "{t}");
    let token = t["access_token"].as_str().unwrap().to_string();
    let graph = |method: &str, path: &str, body: Option<Value>| {
        let mut req = http().request(method.parse().unwrap(), format!("{}{path}", s.base())).bearer_auth(&token);
        if let Some(b) = body {
            req = req.json(&b);
        }
        async move {
            let r = req.send().await.unwrap();
            let status = r.status().as_u16();
            (status, r.json::<Value>().await.unwrap_or(Value::Null))
        }
    };
    // Reading is allowed to any member with the scope; /me is Megan.
    let (status, me) = graph("GET", "/v1.0/me", None).await;
    assert_eq!((status, me["userPrincipalName"].as_str()), (200, Some(s.upn.as_str())));
    assert_eq!(graph("GET", "/v1.0/users", None).await.0, 200);
    // Writing someone else needs a role Megan does not hold, whatever the app was granted.
    let patch = serde_json::json!({ "jobTitle": "Promoted" });
    let (status, e) = graph("PATCH", &format!("/v1.0/users/{other_id}"), Some(patch.clone())).await;
    assert_eq!((status, e["error"]["code"].as_str()), (403, Some("Authorization_RequestDenied")));
    // Made User Administrator, the same token may (roles are read at each call).
    ok(ward(d).args(["role", "assign", "User Administrator", &s.upn, "--data-dir", "data"]));
    assert_eq!(graph("PATCH", &format!("/v1.0/users/{other_id}"), Some(patch)).await.0, 204);
    // Groups were not consented: no group writes, role or not.
    let group = serde_json::json!({ "displayName": "G", "mailEnabled": false, "mailNickname": "g", "securityEnabled": true });
    assert_eq!(graph("POST", "/v1.0/groups", Some(group)).await.0, 403);
    let (status, log) = graph("GET", "/v1.0/auditLogs/directoryAudits", None).await;
    assert_eq!(status, 403, "reading the audit log needs AuditLog.Read.All: {log}");
    // An app granted AuditLog.Read.All sees who did it: Megan, through the native tool, from here.
    s.grant_web("AuditLog.Read.All");
    let log = s.get_json("/v1.0/auditLogs/directoryAudits", &s.web_app_token().await).await;
    let update = &log["value"][0];
    assert_eq!(update["activityDisplayName"], "Update user", "{log}");
    assert_eq!(update["initiatedBy"]["user"]["userPrincipalName"], s.upn.as_str());
    assert_eq!(update["initiatedBy"]["user"]["ipAddress"], "127.0.0.1");
    assert_eq!(update["initiatedBy"]["app"]["appId"], s.native.as_str());
    assert_eq!(update["targetResources"][0]["id"], other_id.as_str());
}

/// Consent is read once per directory position: withdrawing it (a directory change) takes effect
/// on the very next request.
#[tokio::test]
async fn withdrawn_consent_is_asked_for_again_at_once() {
    let s = setup();
    let authorize = s.authorize_url(&s.native, NATIVE_REDIRECT, "openid User.Read", true);
    let mut b = Browser::new();
    s.sign_in(&mut b, &authorize, NATIVE_REDIRECT).await;
    // Signed in and consented: straight to the app, twice (the second from what was read before).
    for _ in 0..2 {
        let page = b.get(&authorize).await;
        assert!(page.location.as_deref().unwrap_or_default().starts_with(NATIVE_REDIRECT), "{}", page.body);
    }
    s.grant_web("Application.ReadWrite.All");
    let token = s.web_app_token().await;
    let grants = s.get_json("/v1.0/oauth2PermissionGrants", &token).await;
    let mine: Vec<&Value> = grants["value"].as_array().unwrap().iter().filter(|g| g["consentType"] == "Principal").collect();
    assert!(!mine.is_empty(), "{grants}");
    for g in mine {
        let url = format!("{}/v1.0/oauth2PermissionGrants/{}", s.base(), g["id"].as_str().unwrap());
        assert_eq!(http().delete(url).bearer_auth(&token).send().await.unwrap().status(), 204);
    }
    let page = b.get(&authorize).await;
    assert_eq!(page.status, 200, "asked again, not sent to the app: {:?}", page.location);
    assert!(page.body.contains("Permissions requested"), "{}", page.body);
}
