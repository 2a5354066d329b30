//! The user grants through the services, against the real (SQLite) store with a manual clock:
//! the code flow with PKCE, single-use codes, refresh rotation and reuse detection, expiry, other
//! clients and tenants, the decision point at every redemption, introspection and revocation.

use base64::Engine;
use std::sync::Arc;
use time::{Duration, OffsetDateTime};
use uuid::Uuid;
use ward_auth::authorize::{AuthorizeFailure, AuthorizeOutcome};
use ward_auth::crypto::sha256_b64;
use ward_auth::grants::client_credentials::{AuthMethod, ClientCredentials};
use ward_auth::signin::{LOCKOUT_THRESHOLD, SignInError};
use ward_auth::{AccessToken, Kek, KeyRing, OAuthError, TokenService};
use ward_core::app::Platform;
use ward_core::clock::{Clock, ManualClock};
use ward_core::ids::TenantId;
use ward_core::store::WriteOp;
use ward_core::tenant::Tenant;
use ward_core::user::{NewUser, UserPatch};
use ward_directory::{Directory, InitRequest, NewUserRequest, SystemRng};

const PASSWORD: &str = "correct horse battery staple 7";
const REDIRECT: &str = "http://127.0.0.1/callback";
const VERIFIER: &str = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk-more-entropy";

mod services;

struct F {
    dir: Arc<Directory>,
    tokens: TokenService,
    clock: Arc<ManualClock>,
    tenant: Tenant,
    client: Uuid,
    _tmp: tempfile::TempDir,
}

async fn fixture() -> F {
    let services::Services { dir, tokens, clock, tenant, tmp, .. } = services::start().await;
    let settings = ward_core::tenant::TenantSettings { users_can_consent_to_apps: true, ..Default::default() };
    let tenant = dir.set_tenant_settings(tenant.id, settings).await.unwrap();
    let upn = format!("alice@{}", tenant.initial_domain().as_str());
    let user =
        NewUser { user_principal_name: upn, display_name: "Alice".into(), mail: Some("alice@example.com".into()), ..Default::default() };
    dir.create_user(tenant.id, NewUserRequest { user, password: Some(PASSWORD.into()), ..Default::default() }).await.unwrap();
    let (app, _) = dir
        .create_application_with(tenant.id, "Native", |a| a.set_redirect_uris(Platform::PublicClient, &[REDIRECT.into()]))
        .await
        .unwrap();
    F { dir, tokens, clock, client: app.app_id, tenant, _tmp: tmp }
}

fn public(id: Uuid) -> ClientCredentials {
    ClientCredentials::public(id.to_string())
}

fn claims(token: &str) -> serde_json::Value {
    let payload = token.split('.').nth(1).unwrap();
    serde_json::from_slice(&base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(payload).unwrap()).unwrap()
}

fn params(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
}

impl F {
    fn tid(&self) -> String {
        self.tenant.id.to_string()
    }
    fn upn(&self) -> String {
        format!("alice@{}", self.tenant.initial_domain().as_str())
    }
    fn request(&self, scope: &str) -> Vec<(String, String)> {
        let challenge = sha256_b64(VERIFIER.as_bytes());
        let client = self.client.to_string();
        params(&[
            ("client_id", &client),
            ("redirect_uri", REDIRECT),
            ("response_type", "code"),
            ("scope", scope),
            ("state", "s1"),
            ("nonce", "n1"),
            ("code_challenge", &challenge),
            ("code_challenge_method", "S256"),
        ])
    }

    /// Signs Alice in, consents, and returns the code the redirect carries.
    async fn code(&self, scope: &str) -> String {
        let req = self.tokens.validate_authorize(&self.tid(), &self.request(scope)).await.unwrap();
        assert!(matches!(self.tokens.authorize(&req, None).await.unwrap(), AuthorizeOutcome::SignIn));
        let s = self.tokens.password_sign_in(&req.tenant, &self.upn(), PASSWORD).await.unwrap();
        let session = (s.session, s.user);
        let location = match self.tokens.authorize(&req, Some(&session)).await.unwrap() {
            AuthorizeOutcome::Consent { ask, admin, .. } => {
                assert!(admin.is_empty());
                self.tokens.consent(&req, &session.1, &ask, false).await.unwrap();
                match self.tokens.authorize(&req, Some(&session)).await.unwrap() {
                    AuthorizeOutcome::Redirect(l) => l,
                    other => panic!("{other:?}"),
                }
            }
            AuthorizeOutcome::Redirect(l) => l,
            other => panic!("{other:?}"),
        };
        assert!(location.starts_with(&format!("{REDIRECT}?code=")), "{location}");
        assert!(location.ends_with("&state=s1"));
        let q: Vec<(String, String)> = serde_urlencoded::from_str(location.split_once('?').unwrap().1).unwrap();
        q.into_iter().find(|(k, _)| k == "code").unwrap().1
    }

    async fn redeem(&self, code: &str, verifier: &str) -> Result<AccessToken, OAuthError> {
        self.tokens.authorization_code(&self.tid(), public(self.client), Some(code), Some(REDIRECT), Some(verifier)).await
    }

    async fn refresh(&self, rt: &str) -> Result<AccessToken, OAuthError> {
        self.tokens.refresh_token(&self.tid(), public(self.client), Some(rt), None).await
    }
}

const SCOPE: &str = "openid profile email offline_access User.Read";

#[tokio::test]
async fn the_code_flow_issues_id_access_and_refresh_tokens_once() {
    let f = fixture().await;
    let code = f.code(SCOPE).await;
    let t = f.redeem(&code, VERIFIER).await.unwrap();
    assert_eq!(t.scope.as_deref(), Some("openid profile email offline_access User.Read"));
    let id = claims(t.id_token.as_deref().unwrap());
    assert_eq!(id["aud"], f.client.to_string());
    assert_eq!(id["iss"], format!("https://id.example.com/{}/v2.0", f.tenant.id));
    assert_eq!(id["nonce"], "n1");
    assert_eq!(id["preferred_username"], f.upn());
    assert_eq!(id["name"], "Alice");
    assert_eq!(id["email"], "alice@example.com");
    assert_eq!(id["amr"], serde_json::json!(["pwd"]));
    assert_eq!(id["auth_time"], f.clock.now().unix_timestamp());
    let at = claims(&t.access_token);
    assert_eq!(at["scp"], "openid profile email User.Read");
    assert_eq!(at["aud"], "https://graph.microsoft.com");
    assert_eq!(at["idtyp"], "user");
    assert_eq!(at["azpacr"], "0", "a public client");
    assert_eq!(at["sub"], id["sub"]);
    assert!(at.get("roles").is_none());
    // The user info endpoint answers for the access token.
    let info = f.tokens.userinfo(&t.access_token).await.unwrap().unwrap();
    assert_eq!(info["sub"], id["sub"]);
    assert_eq!(info["email"], "alice@example.com");

    // A code is single-use; the replay revokes what it issued (the refresh token stops working,
    // and the access token stops introspecting as live).
    let e = f.redeem(&code, VERIFIER).await.unwrap_err();
    assert_eq!((e.error, e.description.split(':').next().unwrap()), ("invalid_grant", "AADSTS54005"));
    let e = f.refresh(t.refresh_token.as_deref().unwrap()).await.unwrap_err();
    assert_eq!(e.error, "invalid_grant");
    assert!(f.tokens.userinfo(&t.access_token).await.unwrap().is_none(), "revoked grant, dead access token");
}

#[tokio::test]
async fn refresh_tokens_rotate_and_reuse_revokes_the_family() {
    let f = fixture().await;
    let t = f.redeem(&f.code(SCOPE).await, VERIFIER).await.unwrap();
    let rt1 = t.refresh_token.unwrap();
    let t2 = f.refresh(&rt1).await.unwrap();
    let rt2 = t2.refresh_token.clone().unwrap();
    assert_ne!(rt1, rt2);
    assert_eq!(claims(t2.id_token.as_deref().unwrap())["sid"], claims(&t.access_token)["sid"], "one grant");
    // Narrowing is allowed; widening is not.
    let e = f.tokens.refresh_token(&f.tid(), public(f.client), Some(&rt2), Some("User.Read.All")).await.unwrap_err();
    assert_eq!(e.error, "invalid_scope");
    // The old one again: refused, and the whole family with it.
    let e = f.refresh(&rt1).await.unwrap_err();
    assert_eq!(e.error, "invalid_grant");
    let e = f.refresh(&rt2).await.unwrap_err();
    assert_eq!(e.error, "invalid_grant", "the rotated token dies with its family");
    // Without offline_access, no refresh token at all.
    let t = f.redeem(&f.code("openid User.Read").await, VERIFIER).await.unwrap();
    assert!(t.refresh_token.is_none());
    assert_eq!(t.scope.as_deref(), Some("openid User.Read"));
}

#[tokio::test]
async fn codes_refuse_the_wrong_verifier_client_redirect_tenant_and_age() {
    let f = fixture().await;
    let code = f.code(SCOPE).await;
    let e = f.redeem(&code, &VERIFIER.replace('d', "e")).await.unwrap_err();
    assert_eq!((e.error, &e.description[..12]), ("invalid_grant", "AADSTS501481"));
    let e = f.tokens.authorization_code(&f.tid(), public(f.client), Some(&code), Some(REDIRECT), None).await.unwrap_err();
    assert_eq!(e.error, "invalid_grant", "PKCE verifier missing");
    let e = f
        .tokens
        .authorization_code(&f.tid(), public(f.client), Some(&code), Some("http://127.0.0.1/other"), Some(VERIFIER))
        .await
        .unwrap_err();
    assert_eq!(e.error, "invalid_grant", "another redirect URI");
    // Another client, even a confidential one with a valid secret.
    let (other, _) = f
        .dir
        .create_application_with(f.tenant.id, "Other", |a| a.set_redirect_uris(Platform::Web, &["https://other.example/cb".into()]))
        .await
        .unwrap();
    let (_, secret) = f.dir.add_client_secret(f.tenant.id, other.id, None, Duration::days(1)).await.unwrap();
    let creds = ClientCredentials::secret(other.app_id.to_string(), secret, AuthMethod::ClientSecretPost);
    let e = f.tokens.authorization_code(&f.tid(), creds, Some(&code), Some(REDIRECT), Some(VERIFIER)).await.unwrap_err();
    assert_eq!(e.error, "invalid_grant", "another client");
    // Another tenant.
    let elsewhere = TenantId::from_uuid(Uuid::new_v4());
    f.dir
        .store()
        .commit(elsewhere, f.clock.now(), vec![WriteOp::CreateTenant(Tenant::new(elsewhere, "Elsewhere", f.clock.now()).unwrap())])
        .await
        .unwrap();
    let e = f
        .tokens
        .authorization_code(&elsewhere.to_string(), public(f.client), Some(&code), Some(REDIRECT), Some(VERIFIER))
        .await
        .unwrap_err();
    assert_eq!(e.error, "invalid_client", "the client does not exist there");
    // None of those spent the code; the right redemption still works.
    f.redeem(&code, VERIFIER).await.unwrap();
    // Codes expire after ten minutes.
    let code = f.code(SCOPE).await;
    f.clock.advance(Duration::minutes(10) + Duration::seconds(1));
    let e = f.redeem(&code, VERIFIER).await.unwrap_err();
    assert_eq!((e.error, &e.description[..11]), ("invalid_grant", "AADSTS70008"));
}

#[tokio::test]
async fn authorize_refuses_bad_requests_and_never_redirects_to_unregistered_uris() {
    let f = fixture().await;
    let mut p = f.request(SCOPE);
    p[1].1 = "http://127.0.0.1/evil".into();
    assert!(matches!(f.tokens.validate_authorize(&f.tid(), &p).await.unwrap_err(), AuthorizeFailure::Page(_)));
    let mut p = f.request(SCOPE);
    p[0].1 = Uuid::new_v4().to_string();
    assert!(matches!(f.tokens.validate_authorize(&f.tid(), &p).await.unwrap_err(), AuthorizeFailure::Page(_)));
    let redirected = |p: Vec<(String, String)>| {
        let t = &f.tokens;
        let tid = f.tid();
        async move {
            match t.validate_authorize(&tid, &p).await.unwrap_err() {
                AuthorizeFailure::Redirect(r) => {
                    assert_eq!(r.redirect_uri, REDIRECT);
                    r.error.error
                }
                other => panic!("{other:?}"),
            }
        }
    };
    // A public client must use PKCE, with S256.
    let without: Vec<_> = f.request(SCOPE).into_iter().filter(|(k, _)| !k.starts_with("code_challenge")).collect();
    assert_eq!(redirected(without).await, "invalid_request");
    let mut plain = f.request(SCOPE);
    plain[7].1 = "plain".into();
    assert_eq!(redirected(plain).await, "invalid_request");
    let mut token = f.request(SCOPE);
    token[2].1 = "token".into();
    assert_eq!(redirected(token).await, "unsupported_response_type");
    assert_eq!(redirected(f.request("openid Nope.Read")).await, "invalid_scope");
    assert_eq!(redirected(f.request("api://elsewhere/read")).await, "invalid_scope");
    let mut twice = f.request(SCOPE);
    twice.push(("state".into(), "again".into()));
    assert!(matches!(f.tokens.validate_authorize(&f.tid(), &twice).await.unwrap_err(), AuthorizeFailure::Page(_)));
    // prompt=none without a session: login_required, sent back to the client.
    let mut silent = f.request(SCOPE);
    silent.push(("prompt".into(), "none".into()));
    let req = f.tokens.validate_authorize(&f.tid(), &silent).await.unwrap();
    match f.tokens.authorize(&req, None).await.unwrap_err() {
        AuthorizeFailure::Redirect(r) => assert_eq!(r.error.error, "login_required"),
        other => panic!("{other:?}"),
    }
    // Where users may not consent (the default), nothing is theirs to grant; an administrator's
    // consent for everyone lets them in.
    let locked = f.dir.set_tenant_settings(f.tenant.id, Default::default()).await.unwrap();
    let req = f.tokens.validate_authorize(&f.tid(), &f.request("openid User.Read")).await.unwrap();
    let s = f.tokens.password_sign_in(&locked, &f.upn(), PASSWORD).await.unwrap();
    let session = (s.session, s.user);
    match f.tokens.authorize(&req, Some(&session)).await.unwrap() {
        AuthorizeOutcome::Consent { ask, admin, for_organization } => {
            assert!(ask.is_empty(), "{ask:?} {:?}", req.tenant.settings);
            assert!(!for_organization, "an ordinary user");
            assert_eq!(admin.iter().map(|p| p.value.as_str()).collect::<Vec<_>>(), ["openid", "User.Read"]);
            // Consent given anyway (a forged form) records nothing.
            f.tokens.consent(&req, &session.1, &admin, true).await.unwrap();
            assert!(matches!(f.tokens.authorize(&req, Some(&session)).await.unwrap(), AuthorizeOutcome::Consent { .. }));
        }
        other => panic!("{other:?}"),
    }
    let sp = f.dir.service_principal_by_app_id(f.tenant.id, f.client).await.unwrap();
    f.dir.grant_delegated(f.tenant.id, sp.id, "https://graph.microsoft.com", None, &["openid", "User.Read"]).await.unwrap();
    assert!(matches!(f.tokens.authorize(&req, Some(&session)).await.unwrap(), AuthorizeOutcome::Redirect(_)));
    f.dir.set_tenant_settings(f.tenant.id, f.tenant.settings.clone()).await.unwrap();
    // Admin-only permissions are not the user's to consent to.
    let req = f.tokens.validate_authorize(&f.tid(), &f.request("openid User.Read.All")).await.unwrap();
    let s = f.tokens.password_sign_in(&req.tenant, &f.upn(), PASSWORD).await.unwrap();
    match f.tokens.authorize(&req, Some(&(s.session, s.user))).await.unwrap() {
        AuthorizeOutcome::Consent { admin, .. } => {
            assert_eq!(admin.iter().map(|p| p.value.as_str()).collect::<Vec<_>>(), ["User.Read.All"])
        }
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn the_decision_point_stops_disabled_users_revoked_sessions_and_disabled_apps() {
    let f = fixture().await;
    let t = f.redeem(&f.code(SCOPE).await, VERIFIER).await.unwrap();
    // Revoking the user's sign-in sessions voids the refresh token.
    f.clock.advance(Duration::seconds(2));
    f.dir.revoke_sign_in_sessions(f.tenant.id, &f.upn()).await.unwrap();
    let e = f.refresh(t.refresh_token.as_deref().unwrap()).await.unwrap_err();
    assert_eq!((e.error, &e.description[..11]), ("invalid_grant", "AADSTS50173"));
    assert!(f.tokens.userinfo(&t.access_token).await.unwrap().is_none(), "issued before the revocation");
    // Within one second: a sign-in at .2 and a revocation at .7 of the same second. Tokens say
    // the second only; the sign-in and the grant are kept to the microsecond, so both die.
    let whole = f.clock.now().replace_nanosecond(0).unwrap() + Duration::seconds(1);
    f.clock.advance(whole - f.clock.now() + Duration::milliseconds(200));
    let t = f.redeem(&f.code(SCOPE).await, VERIFIER).await.unwrap();
    f.clock.advance(Duration::milliseconds(500));
    f.dir.revoke_sign_in_sessions(f.tenant.id, &f.upn()).await.unwrap();
    let e = f.refresh(t.refresh_token.as_deref().unwrap()).await.unwrap_err();
    assert_eq!((e.error, &e.description[..11]), ("invalid_grant", "AADSTS50173"), "the same second, before the revocation");
    assert!(f.tokens.userinfo(&t.access_token).await.unwrap().is_none(), "the same second, before the revocation");
    // And a sign-in after it, in that same second, works.
    f.clock.advance(Duration::milliseconds(100));
    let t = f.redeem(&f.code(SCOPE).await, VERIFIER).await.unwrap();
    assert!(f.refresh(t.refresh_token.as_deref().unwrap()).await.is_ok(), "after the revocation");
    // A disabled user gets nothing more.
    let t = f.redeem(&f.code(SCOPE).await, VERIFIER).await.unwrap();
    f.dir.update_user(f.tenant.id, &f.upn(), UserPatch { account_enabled: Some(false), ..Default::default() }).await.unwrap();
    let e = f.refresh(t.refresh_token.as_deref().unwrap()).await.unwrap_err();
    assert_eq!((e.error, &e.description[..11]), ("invalid_grant", "AADSTS50057"));
    assert!(matches!(f.tokens.password_sign_in(&f.tenant, &f.upn(), PASSWORD).await, Err(SignInError::Disabled)));
    f.dir.update_user(f.tenant.id, &f.upn(), UserPatch { account_enabled: Some(true), ..Default::default() }).await.unwrap();
    // A disabled application gets nothing more either.
    let t = f.redeem(&f.code(SCOPE).await, VERIFIER).await.unwrap();
    let sp = f.dir.service_principal_by_app_id(f.tenant.id, f.client).await.unwrap();
    f.dir.set_service_principal_enabled(f.tenant.id, sp.id, false).await.unwrap();
    let e = f.refresh(t.refresh_token.as_deref().unwrap()).await.unwrap_err();
    assert_eq!(e.error, "unauthorized_client");
    assert!(f.tokens.userinfo(&t.access_token).await.unwrap().is_none(), "a disabled client's access tokens are dead too");
}

#[tokio::test]
async fn passwords_lock_out_after_repeated_failures_and_unknown_users_look_the_same() {
    let f = fixture().await;
    assert!(matches!(f.tokens.password_sign_in(&f.tenant, "nobody@nowhere.test", PASSWORD).await, Err(SignInError::BadCredentials)));
    for _ in 0..LOCKOUT_THRESHOLD {
        assert!(matches!(f.tokens.password_sign_in(&f.tenant, &f.upn(), "wrong").await, Err(SignInError::BadCredentials)));
    }
    // Locked, even with the right password.
    assert!(matches!(f.tokens.password_sign_in(&f.tenant, &f.upn(), PASSWORD).await, Err(SignInError::Locked { .. })));
    f.clock.advance(Duration::seconds(61));
    let s = f.tokens.password_sign_in(&f.tenant, &f.upn().to_uppercase(), PASSWORD).await.unwrap();
    assert_eq!(s.cookie.len(), 43);
    assert!(f.tokens.session(&f.tenant, &s.cookie).await.unwrap().is_some());
    assert!(f.tokens.session(&f.tenant, &s.cookie.replace('A', "B")).await.unwrap().is_none() || !s.cookie.contains('A'));
    // Sessions expire.
    f.clock.advance(Duration::hours(12));
    assert!(f.tokens.session(&f.tenant, &s.cookie).await.unwrap().is_none());
}

#[tokio::test]
async fn introspection_and_revocation_answer_only_the_tokens_own_client() {
    let f = fixture().await;
    let (web, _) = f
        .dir
        .create_application_with(f.tenant.id, "Web", |a| a.set_redirect_uris(Platform::Web, &["https://web.example/cb".into()]))
        .await
        .unwrap();
    let (_, secret) = f.dir.add_client_secret(f.tenant.id, web.id, None, Duration::days(1)).await.unwrap();
    let web_creds = || ClientCredentials::secret(web.app_id.to_string(), secret.clone(), AuthMethod::ClientSecretBasic);
    // Tokens of the native client: the web client learns nothing about them.
    let t = f.redeem(&f.code(SCOPE).await, VERIFIER).await.unwrap();
    let rt = t.refresh_token.clone().unwrap();
    assert_eq!(f.tokens.introspect(&f.tid(), web_creds(), Some(&t.access_token)).await.unwrap()["active"], false);
    assert_eq!(f.tokens.introspect(&f.tid(), web_creds(), Some(&rt)).await.unwrap()["active"], false);
    // Introspection needs client authentication.
    let e = f.tokens.introspect(&f.tid(), public(web.app_id), Some(&t.access_token)).await.unwrap_err();
    assert_eq!(e.error, "invalid_client");
    // Revoking someone else's token does nothing (and says nothing).
    f.tokens.revoke(&f.tid(), web_creds(), Some(&rt)).await.unwrap();
    let t2 = f.refresh(&rt).await.unwrap();
    // The owner revokes: the grant ends, refresh and access tokens with it.
    f.tokens.revoke(&f.tid(), public(f.client), Some(t2.refresh_token.as_deref().unwrap())).await.unwrap();
    assert_eq!(f.refresh(t2.refresh_token.as_deref().unwrap()).await.unwrap_err().error, "invalid_grant");
    assert!(f.tokens.userinfo(&t2.access_token).await.unwrap().is_none());
    // A tampered or unsigned access token is never live.
    let parts: Vec<&str> = t2.access_token.split('.').collect();
    let none = format!("{}.{}.", base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(br#"{"alg":"none","typ":"at+jwt"}"#), parts[1]);
    assert!(f.tokens.userinfo(&none).await.unwrap().is_none());
    let mut body = claims(&t2.access_token);
    body["oid"] = serde_json::json!(Uuid::new_v4());
    let forged = format!("{}.{}.{}", parts[0], base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(body.to_string()), parts[2]);
    assert!(f.tokens.userinfo(&forged).await.unwrap().is_none());
}

#[tokio::test]
async fn the_device_flow_polls_politely_and_redeems_once() {
    use ward_auth::grants::device::{DeviceDecision, MAX_USER_CODE_FAILURES};
    let f = fixture().await;
    let start = f.tokens.device_authorization(&f.tid(), public(f.client), Some("openid offline_access User.Read")).await.unwrap();
    assert_eq!(start.user_code.len(), 9);
    assert_eq!(start.verification_uri, format!("https://id.example.com/{}/oauth2/deviceauth", f.tenant.id));
    let tid = f.tid();
    let poll = || f.tokens.device_code_grant(&tid, public(f.client), Some(&start.device_code));
    assert_eq!(poll().await.unwrap_err().error, "authorization_pending");
    assert_eq!(poll().await.unwrap_err().error, "slow_down", "polled again at once");
    f.clock.advance(Duration::seconds(5));
    assert_eq!(poll().await.unwrap_err().error, "authorization_pending");
    // Another client cannot redeem it.
    let (other, _) = f
        .dir
        .create_application_with(f.tenant.id, "Other", |a| a.set_redirect_uris(Platform::PublicClient, &[REDIRECT.into()]))
        .await
        .unwrap();
    f.clock.advance(Duration::seconds(5));
    let e = f.tokens.device_code_grant(&f.tid(), public(other.app_id), Some(&start.device_code)).await.unwrap_err();
    assert_eq!(e.error, "invalid_grant");

    // The person signs in elsewhere and approves (lower-case, spaced code is fine).
    let s = f.tokens.password_sign_in(&f.tenant, &f.upn(), PASSWORD).await.unwrap();
    let typed = start.user_code.to_lowercase().replace('-', " ");
    let pending = f.tokens.pending_device(&f.tenant, &s.session, &typed).await.unwrap().unwrap();
    assert_eq!(pending.app.app_id, f.client);
    assert!(matches!(f.tokens.decide_device(&f.tenant, &s.session, &s.user, &typed, true).await.unwrap(), Some(DeviceDecision::Approved)));
    f.clock.advance(Duration::seconds(5));
    let t = poll().await.unwrap();
    assert_eq!(claims(&t.access_token)["scp"], "openid User.Read");
    assert!(t.id_token.is_some() && t.refresh_token.is_some());
    // Redeemed once: again is refused and revokes what it issued.
    f.clock.advance(Duration::seconds(5));
    assert_eq!(poll().await.unwrap_err().error, "invalid_grant");
    assert_eq!(f.refresh(t.refresh_token.as_deref().unwrap()).await.unwrap_err().error, "invalid_grant");
    // The device's grant outlives the hourly purge as long as its refresh token does.
    let kept = f.tokens.device_authorization(&f.tid(), public(f.client), Some("openid offline_access")).await.unwrap();
    f.tokens.decide_device(&f.tenant, &s.session, &s.user, &kept.user_code, true).await.unwrap();
    let kept = f.tokens.device_code_grant(&f.tid(), public(f.client), Some(&kept.device_code)).await.unwrap();
    f.clock.advance(Duration::hours(26));
    f.dir.store().purge_expired_auth(f.clock.now() - Duration::days(1)).await.unwrap();
    f.refresh(kept.refresh_token.as_deref().unwrap()).await.unwrap();

    // Denied, and expired.
    let denied = f.tokens.device_authorization(&f.tid(), public(f.client), Some("openid")).await.unwrap();
    assert!(matches!(
        f.tokens.decide_device(&f.tenant, &s.session, &s.user, &denied.user_code, false).await.unwrap(),
        Some(DeviceDecision::Denied)
    ));
    let e = f.tokens.device_code_grant(&f.tid(), public(f.client), Some(&denied.device_code)).await.unwrap_err();
    assert_eq!(e.error, "access_denied");
    let late = f.tokens.device_authorization(&f.tid(), public(f.client), Some("openid")).await.unwrap();
    f.clock.advance(Duration::minutes(15));
    let e = f.tokens.device_code_grant(&f.tid(), public(f.client), Some(&late.device_code)).await.unwrap_err();
    assert_eq!(e.error, "expired_token");
    assert!(f.tokens.decide_device(&f.tenant, &s.session, &s.user, &late.user_code, true).await.unwrap().is_none(), "too late to approve");

    // Guessing codes stops after a few wrong ones, even for a real code.
    let s = f.tokens.password_sign_in(&f.tenant, &f.upn(), PASSWORD).await.unwrap();
    let real = f.tokens.device_authorization(&f.tid(), public(f.client), Some("openid")).await.unwrap();
    for _ in 0..MAX_USER_CODE_FAILURES {
        assert!(f.tokens.pending_device(&f.tenant, &s.session, "BBBB-BBBB").await.unwrap().is_none());
    }
    assert!(f.tokens.pending_device(&f.tenant, &s.session, &real.user_code).await.is_err());
    // A confidential client must authenticate to start one.
    let (web, _) = f
        .dir
        .create_application_with(f.tenant.id, "Web", |a| a.set_redirect_uris(Platform::Web, &["https://web.example/cb".into()]))
        .await
        .unwrap();
    let e = f.tokens.device_authorization(&f.tid(), public(web.app_id), Some("openid")).await.unwrap_err();
    assert_eq!(e.error, "invalid_client");
}

#[tokio::test]
async fn dot_default_asks_for_the_clients_required_permissions_on_an_isv_api() {
    use ward_core::app::{RequiredResourceAccess, ResourceAccess};
    let f = fixture().await;
    let files_read = Uuid::new_v4();
    let (api, _) = f
        .dir
        .create_application_with(f.tenant.id, "Files API", |a| a.expose_scope(files_read, "Files.Read", false, "Read your files"))
        .await
        .unwrap();
    let client = f.dir.application_by_app_id(f.tenant.id, f.client).await.unwrap();
    f.dir
        .update_application(f.tenant.id, client.id, |a| {
            a.required_resource_access = vec![RequiredResourceAccess {
                resource_app_id: api.app_id,
                resource_access: vec![ResourceAccess { id: files_read, access_type: "Scope".into() }],
            }];
            Ok(())
        })
        .await
        .unwrap();
    let req = f.tokens.validate_authorize(&f.tid(), &f.request(&format!("openid api://{}/.default", api.app_id))).await.unwrap();
    let s = f.tokens.password_sign_in(&req.tenant, &f.upn(), PASSWORD).await.unwrap();
    let session = (s.session, s.user);
    let AuthorizeOutcome::Consent { ask, .. } = f.tokens.authorize(&req, Some(&session)).await.unwrap() else { panic!("consent expected") };
    assert_eq!(ask.iter().map(|s| s.value.as_str()).collect::<Vec<_>>(), ["openid", "Files.Read"]);
    f.tokens.consent(&req, &session.1, &ask, false).await.unwrap();
    let AuthorizeOutcome::Redirect(location) = f.tokens.authorize(&req, Some(&session)).await.unwrap() else { panic!("a code expected") };
    let q: Vec<(String, String)> = serde_urlencoded::from_str(location.split_once('?').unwrap().1).unwrap();
    let code = &q.iter().find(|(k, _)| k == "code").unwrap().1;
    let t = f.redeem(code, VERIFIER).await.unwrap();
    let at = claims(&t.access_token);
    assert_eq!((at["aud"].as_str(), at["scp"].as_str()), (Some(api.app_id.to_string().as_str()), Some("openid Files.Read")));
    // Scopes of two resources in one request are refused.
    let e = f.tokens.validate_authorize(&f.tid(), &f.request(&format!("User.Read api://{}/Files.Read", api.app_id))).await.unwrap_err();
    assert!(matches!(e, AuthorizeFailure::Redirect(r) if r.error.error == "invalid_scope"));
}

#[tokio::test]
async fn a_single_page_apps_refresh_tokens_end_a_day_after_sign_in_however_often_they_rotate() {
    let f = fixture().await;
    let spa_uri = "https://spa.example.com/";
    let (spa, _) =
        f.dir.create_application_with(f.tenant.id, "SPA", |a| a.set_redirect_uris(Platform::Spa, &[spa_uri.into()])).await.unwrap();
    let mut request = f.request(SCOPE);
    request[0].1 = spa.app_id.to_string();
    request[1].1 = spa_uri.into();
    let req = f.tokens.validate_authorize(&f.tid(), &request).await.unwrap();
    let s = f.tokens.password_sign_in(&req.tenant, &f.upn(), PASSWORD).await.unwrap();
    let session = (s.session, s.user);
    if let AuthorizeOutcome::Consent { ask, .. } = f.tokens.authorize(&req, Some(&session)).await.unwrap() {
        f.tokens.consent(&req, &session.1, &ask, false).await.unwrap();
    }
    let AuthorizeOutcome::Redirect(location) = f.tokens.authorize(&req, Some(&session)).await.unwrap() else { panic!("a code") };
    let q: Vec<(String, String)> = serde_urlencoded::from_str(location.split_once('?').unwrap().1).unwrap();
    let code = q.into_iter().find(|(k, _)| k == "code").unwrap().1;
    let t = f.tokens.authorization_code(&f.tid(), public(spa.app_id), Some(&code), Some(spa_uri), Some(VERIFIER)).await.unwrap();
    f.clock.advance(Duration::hours(23));
    let t = f.tokens.refresh_token(&f.tid(), public(spa.app_id), t.refresh_token.as_deref(), None).await.unwrap();
    f.clock.advance(Duration::hours(2));
    let e = f.tokens.refresh_token(&f.tid(), public(spa.app_id), t.refresh_token.as_deref(), None).await.unwrap_err();
    assert_eq!((e.error, &e.description[..12]), ("invalid_grant", "AADSTS700082"));
}

/// A lock earned on one node holds on every node: the counters of accounts are in the store.
#[tokio::test]
async fn lockout_holds_across_nodes() {
    let tmp = tempfile::tempdir().unwrap();
    let start = OffsetDateTime::from_unix_timestamp(1_800_000_000).unwrap();
    let store = ward_store::open(&ward_store::StoreLocation::Sqlite(tmp.path().join("ward.db")), start).await.unwrap();
    let clock = Arc::new(ManualClock::new(start));
    let kek = Kek::generate_base64().unwrap();
    let node = |store: Arc<dyn ward_core::store::Store>, clock: Arc<ManualClock>, kek: String| async move {
        let dir = Arc::new(Directory::new(store.clone(), clock.clone(), Arc::new(SystemRng)));
        let keys = Arc::new(KeyRing::open(store, Kek::from_base64(&kek).unwrap(), clock).await.unwrap());
        (dir.clone(), TokenService::new(dir, keys, "https://id.example.com"))
    };
    let (dir, a) = node(store.clone(), clock.clone(), kek.clone()).await;
    let (_, b) = node(store.clone(), clock.clone(), kek.clone()).await;
    let tenant = dir.initialize(InitRequest::default()).await.unwrap().tenant;
    let upn = format!("bob@{}", tenant.initial_domain().as_str());
    let user = NewUser { user_principal_name: upn.clone(), display_name: "Bob".into(), ..Default::default() };
    dir.create_user(tenant.id, NewUserRequest { user, password: Some(PASSWORD.into()), ..Default::default() }).await.unwrap();

    // Failures spread over both nodes add up.
    for i in 0..LOCKOUT_THRESHOLD {
        let node = if i % 2 == 0 { &a } else { &b };
        assert!(matches!(
            node.check_password(&tenant, &upn, "wrong password 1").await,
            Err(SignInError::BadCredentials | SignInError::Locked { .. })
        ));
    }
    for node in [&a, &b] {
        assert!(matches!(node.check_password(&tenant, &upn, PASSWORD).await, Err(SignInError::Locked { .. })), "locked on every node");
    }
    // The lock passes; a success clears the count everywhere.
    clock.advance(Duration::minutes(2));
    assert!(b.check_password(&tenant, &upn, PASSWORD).await.is_ok());
    assert!(matches!(a.check_password(&tenant, &upn, "wrong password 1").await, Err(SignInError::BadCredentials)), "counting starts again");
}

#[tokio::test]
async fn sessions_end_when_idle_and_at_their_absolute_lifetime_and_stay_signed_in_lasts_longer() {
    use ward_auth::signin::{PERSISTENT_IDLE, PERSISTENT_LIFETIME, SESSION_IDLE, SESSION_LIFETIME};
    let f = fixture().await;
    let alice = f.dir.user(f.tenant.id, &f.upn()).await.unwrap();
    let live = |cookie: String| {
        let f = &f;
        async move { f.tokens.session(&f.tenant, &cookie).await.unwrap().is_some() }
    };
    // Without "stay signed in": used now and then, it lives; left alone past the idle limit, it ends.
    let s = f.tokens.after_password(&f.tenant, alice.clone(), "pwd", "b", false).await.unwrap().ok().unwrap();
    assert!(!s.session.persistent);
    f.clock.advance(SESSION_IDLE - Duration::minutes(10));
    assert!(live(s.cookie.clone()).await, "used within the idle limit");
    f.clock.advance(SESSION_IDLE - Duration::minutes(10));
    assert!(live(s.cookie.clone()).await, "the last use slid the idle limit forward");
    f.clock.advance(SESSION_IDLE + Duration::seconds(1));
    assert!(!live(s.cookie.clone()).await, "idle too long");

    // However busy, it ends at its absolute lifetime.
    let s = f.tokens.after_password(&f.tenant, alice.clone(), "pwd", "b", false).await.unwrap().ok().unwrap();
    let mut used = Duration::ZERO;
    while used + Duration::hours(1) < SESSION_LIFETIME {
        f.clock.advance(Duration::hours(1));
        used += Duration::hours(1);
        assert!(live(s.cookie.clone()).await, "busy for {used}");
    }
    f.clock.advance(SESSION_LIFETIME - used);
    assert!(!live(s.cookie.clone()).await, "past the absolute lifetime");

    // "Stay signed in": days of idleness are fine, up to its own limits.
    let s = f.tokens.after_password(&f.tenant, alice, "pwd", "b", true).await.unwrap().ok().unwrap();
    assert!(s.session.persistent);
    assert_eq!(s.session.expires_at - s.session.auth_time, PERSISTENT_LIFETIME);
    f.clock.advance(PERSISTENT_IDLE - Duration::hours(1));
    assert!(live(s.cookie.clone()).await);
    f.clock.advance(PERSISTENT_IDLE + Duration::seconds(1));
    assert!(!live(s.cookie.clone()).await);
}

#[tokio::test]
async fn smart_lockout_spares_familiar_networks_and_stops_a_spraying_network() {
    use ward_auth::signin::{SOURCE_THRESHOLD, from_source};
    let f = fixture().await;
    let home: Option<std::net::IpAddr> = Some("198.51.100.7".parse().unwrap());
    let attacker: Option<std::net::IpAddr> = Some("203.0.113.9".parse().unwrap());
    let sign_in = |ip, user: String, pw: &'static str| {
        let f = &f;
        async move { from_source(ip, "test", None, None, f.tokens.password_sign_in(&f.tenant, &user, pw)).await }
    };
    // Alice signs in from home once: home is now familiar to her.
    assert!(sign_in(home, f.upn(), PASSWORD).await.is_ok());
    // An attacker elsewhere guesses until her account locks — for them, and for anyone unfamiliar.
    for _ in 0..LOCKOUT_THRESHOLD {
        assert!(matches!(sign_in(attacker, f.upn(), "wrong").await, Err(SignInError::BadCredentials)));
    }
    assert!(matches!(sign_in(attacker, f.upn(), PASSWORD).await, Err(SignInError::Locked { .. })));
    let elsewhere: Option<std::net::IpAddr> = Some("192.0.2.1".parse().unwrap());
    assert!(matches!(sign_in(elsewhere, f.upn(), PASSWORD).await, Err(SignInError::Locked { .. })));
    // From home (another address of the same /24) she still gets in.
    assert!(sign_in(Some("198.51.100.200".parse().unwrap()), f.upn(), PASSWORD).await.is_ok());
    // Failures at home lock the home counter in turn.
    for _ in 0..LOCKOUT_THRESHOLD {
        assert!(matches!(sign_in(home, f.upn(), "wrong").await, Err(SignInError::BadCredentials)));
    }
    assert!(matches!(sign_in(home, f.upn(), PASSWORD).await, Err(SignInError::Locked { .. })));

    // Spraying: one network, many names (most of them not even accounts): the network locks,
    // even for a correct password of another person, while other networks are unaffected.
    let bob = format!("bob@{}", f.tenant.initial_domain().as_str());
    let user = NewUser { user_principal_name: bob.clone(), display_name: "Bob".into(), ..Default::default() };
    f.dir.create_user(f.tenant.id, NewUserRequest { user, password: Some(PASSWORD.into()), ..Default::default() }).await.unwrap();
    let sprayer: Option<std::net::IpAddr> = Some("2001:db8:1:2::99".parse().unwrap());
    for i in 0..SOURCE_THRESHOLD {
        let name = format!("user{i}@{}", f.tenant.initial_domain().as_str());
        assert!(matches!(sign_in(sprayer, name, "Summer2026!").await, Err(SignInError::BadCredentials)), "attempt {i}");
    }
    let same_net: Option<std::net::IpAddr> = Some("2001:db8:1:2::1".parse().unwrap());
    assert!(matches!(sign_in(same_net, bob.clone(), PASSWORD).await, Err(SignInError::Locked { .. })));
    assert!(sign_in(Some("2001:db8:9:9::1".parse().unwrap()), bob, PASSWORD).await.is_ok());
}

/// A policy's sign-in frequency: a session older than it signs in again (silently: login_required);
/// a younger one goes straight through. Emergency-access accounts are not asked.
#[tokio::test]
async fn a_policys_sign_in_frequency_asks_an_older_session_to_sign_in_again() {
    let f = fixture().await;
    f.code("openid").await;
    let policy = serde_json::json!({"displayName": "Every four hours", "state": "enabled",
        "conditions": {"users": {"includeUsers": ["All"]}, "applications": {"includeApplications": ["All"]}},
        "sessionControls": {"signInFrequency": {"isEnabled": true, "type": "hours", "value": 4}}});
    let policy = f.dir.check_ca_policy(f.tenant.id, None, &policy).await.unwrap();
    f.dir.create_ca_policy(f.tenant.id, policy).await.unwrap();
    let req = f.tokens.validate_authorize(&f.tid(), &f.request("openid")).await.unwrap();
    let s = f.tokens.password_sign_in(&req.tenant, &f.upn(), PASSWORD).await.unwrap();
    let session = (s.session, s.user);
    f.clock.advance(Duration::hours(3));
    let req = f.tokens.validate_authorize(&f.tid(), &f.request("openid")).await.unwrap();
    assert!(matches!(f.tokens.authorize(&req, Some(&session)).await.unwrap(), AuthorizeOutcome::Redirect(_)), "3 hours: still fine");
    f.clock.advance(Duration::hours(1) + Duration::seconds(1));
    let req = f.tokens.validate_authorize(&f.tid(), &f.request("openid")).await.unwrap();
    assert!(matches!(f.tokens.authorize(&req, Some(&session)).await.unwrap(), AuthorizeOutcome::SignIn), "past 4 hours: sign in again");
    let mut silent = f.request("openid");
    silent.push(("prompt".into(), "none".into()));
    let req = f.tokens.validate_authorize(&f.tid(), &silent).await.unwrap();
    match f.tokens.authorize(&req, Some(&session)).await.unwrap_err() {
        AuthorizeFailure::Redirect(r) => assert_eq!(r.error.error, "login_required"),
        other => panic!("{other:?}"),
    }
    // The same session of an emergency-access account is not asked.
    let mut settings = f.dir.resolve_tenant(&f.tid()).await.unwrap().settings;
    settings.emergency_access_accounts = vec![session.1.id];
    f.dir.set_tenant_settings(f.tenant.id, settings).await.unwrap();
    let req = f.tokens.validate_authorize(&f.tid(), &f.request("openid")).await.unwrap();
    assert!(matches!(f.tokens.authorize(&req, Some(&session)).await.unwrap(), AuthorizeOutcome::Redirect(_)));
}

/// A policy's sign-in frequency holds for refresh tokens too: past it, the refresh is refused.
#[tokio::test]
async fn a_policys_sign_in_frequency_stops_refreshes_of_an_older_sign_in() {
    let f = fixture().await;
    let policy = serde_json::json!({"displayName": "Every four hours", "state": "enabled",
        "conditions": {"users": {"includeUsers": ["All"]}, "applications": {"includeApplications": ["All"]}},
        "sessionControls": {"signInFrequency": {"isEnabled": true, "type": "hours", "value": 4}}});
    let policy = f.dir.check_ca_policy(f.tenant.id, None, &policy).await.unwrap();
    f.dir.create_ca_policy(f.tenant.id, policy).await.unwrap();
    let code = f.code("openid offline_access").await;
    let t = f.redeem(&code, VERIFIER).await.unwrap();
    f.clock.advance(Duration::hours(3));
    let t = f.refresh(t.refresh_token.as_deref().unwrap()).await.unwrap();
    f.clock.advance(Duration::hours(1) + Duration::seconds(1));
    let e = f.refresh(t.refresh_token.as_deref().unwrap()).await.unwrap_err();
    assert_eq!(e.error, "invalid_grant");
    assert!(e.description.starts_with("AADSTS70044"), "{e:?}");
}
