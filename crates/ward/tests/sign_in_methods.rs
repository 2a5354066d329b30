//! Sign-in methods end to end against the real binary, through the pages a browser uses: an
//! authenticator app added then asked for (also on the device-code page), the password policy and
//! changes, recent sign-ins and signing out everywhere, a Temporary Access Pass, and the
//! username-first pages that let no name be probed. Passkeys are driven by independent clients:
//! `interop/python/fido2_*.py` and the browser tests.

mod common;
use common::signin::*;
use common::*;
use serde_json::Value;

/// An authenticator app added on "My security info", then asked for at every sign-in: codes are
/// accepted once, wrong ones refused, and the tokens say a second factor was used.
#[tokio::test]
async fn authenticator_app_enrollment_and_sign_in_with_a_code() {
    let s = setup();
    let portal = format!("{}/{}/mysecurityinfo", s.base(), s.tid);
    let mut b = Browser::new();
    // Not signed in: the page is the sign-in form, which leads back to it.
    let page = b.get(&portal).await;
    assert!(page.body.contains("name=\"username\""), "{}", page.body);
    let page = b.submit(&s.base(), &page, &[("username", &s.upn), ("password", PASSWORD)]).await;
    assert_eq!((page.status, page.location.as_deref()), (303, Some(format!("/{}/mysecurityinfo", s.tid).as_str())));
    let page = b.get(&portal).await;
    assert!(page.body.contains("You sign in with your password only."), "{}", page.body);

    // Add an app: a QR code drawn here, the key to type, and a first code to prove it works.
    let page = b.get(&format!("{portal}/authenticator")).await;
    assert_eq!(page.status, 200);
    assert!(page.body.contains("<svg") && page.body.contains("aria-label=\"QR code"), "the QR code is inline SVG");
    let secret = between(&page.body, "<code id=\"secret\">", "</code>").to_string();
    let wrong = b.submit(&s.base(), &page, &[("code", "000000")]).await;
    assert_eq!(wrong.status, 422);
    assert_eq!(between(&wrong.body, "<code id=\"secret\">", "</code>"), secret, "the same secret after a wrong code");
    let mut stranger = Browser::new();
    let forged = stranger.submit(&s.base(), &page, &[("code", &app_code(&secret, 0))]).await;
    assert_ne!(forged.status, 303, "another browser cannot finish this enrollment");
    let done = b.submit(&s.base(), &wrong, &[("code", &app_code(&secret, 0)), ("name", "Megan's phone")]).await;
    assert_eq!(done.status, 303, "{}", done.body);
    let page = b.get(&portal).await;
    assert!(page.body.contains("Megan&#39;s phone") || page.body.contains("Megan's phone"), "{}", page.body);
    // The registration is in the audit log, as the person's own doing.
    s.grant_web("AuditLog.Read.All");
    let filter = serde_urlencoded::to_string([("$filter", "activityDisplayName eq 'User registered security info'")]).unwrap();
    let audits = s.get_json(&format!("/v1.0/auditLogs/directoryAudits?{filter}"), &s.web_app_token().await).await;
    assert_eq!(audits["value"][0]["initiatedBy"]["user"]["userPrincipalName"], s.upn.as_str(), "{audits}");
    assert_eq!(audits["value"][0]["targetResources"][0]["modifiedProperties"][0]["newValue"], "totp", "{audits}");

    // Signing in to an application now takes a code after the password.
    let mut b2 = Browser::new();
    let authorize = s.authorize_url(&s.native, NATIVE_REDIRECT, "openid profile", true);
    let page = b2.get(&authorize).await;
    let otp = b2.submit(&s.base(), &page, &[("username", &s.upn), ("password", PASSWORD)]).await;
    assert_eq!(otp.status, 200);
    assert!(otp.body.contains("autocomplete=\"one-time-code\""), "{}", otp.body);
    assert!(!b2.cookies.keys().any(|k| k.contains("ward_session")), "no session before the code");
    // The code used at enrollment (same time step) is refused: each step is accepted once.
    let replayed = b2.submit(&s.base(), &otp, &[("code", &app_code(&secret, 0))]).await;
    assert_eq!(replayed.status, 401, "{}", replayed.body);
    // A tampered pending sign-in is refused outright.
    let tampered = b2.submit(&s.base(), &otp, &[("pending", "v1.AAAA"), ("code", &app_code(&secret, 1))]).await;
    assert_eq!(tampered.status, 400);
    // The next step's code (the app is a little ahead): accepted, and the flow goes on.
    let accepted = b2.submit(&s.base(), &otp, &[("code", &app_code(&secret, 1))]).await;
    assert_eq!(accepted.status, 303, "{}", accepted.body);
    let loc = s.follow_to_client(&mut b2, accepted).await;
    assert!(loc.starts_with(NATIVE_REDIRECT), "{loc}");
    let code = code_of(&loc);
    let (status, t) = s.redeem_native(&code).await;
    assert_eq!(status, 200, "{t}");
    let id = s.verify(t["id_token"].as_str().unwrap(), &s.native, "JWT").await;
    assert_eq!(id["amr"], serde_json::json!(["pwd", "otp", "mfa"]), "{id}");

    // Graph's authentication-methods API shows both methods (never a secret) to an app allowed to.
    let methods_url = format!("{}/v1.0/users/{}/authentication/methods", s.base(), s.upn);
    let r = http().get(&methods_url).bearer_auth(s.web_app_token().await).send().await.unwrap();
    assert_eq!(r.status(), 403, "no permission yet");
    s.grant_web("UserAuthenticationMethod.Read.All");
    let reader = s.web_app_token().await;
    let methods: serde_json::Value = http().get(&methods_url).bearer_auth(&reader).send().await.unwrap().json().await.unwrap();
    let types: Vec<&str> = methods["value"].as_array().unwrap().iter().map(|m| m["@odata.type"].as_str().unwrap()).collect();
    assert_eq!(types, vec!["#microsoft.graph.passwordAuthenticationMethod", "#microsoft.graph.softwareOathAuthenticationMethod"]);
    assert_eq!(methods["value"][1]["secretKey"], serde_json::Value::Null);
    assert!(!methods.to_string().contains(&secret.replace(' ', "")), "the secret never leaves");
    let oath_id = methods["value"][1]["id"].as_str().unwrap().to_string();
    let one = format!("{}/v1.0/users/{}/authentication/softwareOathMethods/{oath_id}", s.base(), s.upn);
    assert_eq!(http().get(&one).bearer_auth(&reader).send().await.unwrap().status(), 200);
    assert_eq!(http().delete(&one).bearer_auth(&reader).send().await.unwrap().status(), 403, "reading is not removing");

    // Removing it is a change of security info: the password-only session that added the first
    // method is sent to verify with it; the session that signed in with its code removes it.
    let page = b.get(&portal).await;
    let refused = b.submit(&s.base(), &page, &[]).await;
    assert_eq!(refused.location.as_deref(), Some(format!("/{}/mysecurityinfo/verify", s.tid).as_str()), "{}", refused.body);
    let page = b2.get(&portal).await;
    let removed = b2.submit(&s.base(), &page, &[]).await;
    assert_eq!(removed.status, 303, "{}", removed.body);
    assert_eq!(removed.location.as_deref(), Some(format!("/{}/mysecurityinfo", s.tid).as_str()));
    assert!(b.get(&portal).await.body.contains("You sign in with your password only."));
    let mut b3 = Browser::new();
    let page = b3.get(&authorize).await;
    let after = b3.submit(&s.base(), &page, &[("username", &s.upn), ("password", PASSWORD)]).await;
    assert_eq!(after.status, 303, "password only again: {}", after.body);
}

/// The tenant's password policy, a forced change at the first sign-in (before any code is issued),
/// and changing one's own password from "My security info".
#[tokio::test]
async fn password_policy_forced_change_and_self_service_change() {
    let s = setup();
    let d = s._dir.path();
    ok(ward(d).args(["tenant", "set", "--banned-password-words", "Contoso,Fabrikam", "--data-dir", "data"]));
    // A password built on a banned word, or on a common one, is refused wherever it is set.
    std::fs::write(d.join("weak"), "Fabr1kam!26\n").unwrap();
    let refused = ward(d)
        .args([
            "user",
            "create",
            "--upn",
            "weak@defaultdirectory.ward.local",
            "--display-name",
            "Weak",
            "--password-file",
            "weak",
            "--data-dir",
            "data",
        ])
        .output()
        .unwrap();
    assert!(!refused.status.success(), "a banned word");
    std::fs::write(d.join("first"), "Initial-Glacier-Otter-7\n").unwrap();
    ok(ward(d).args([
        "user",
        "create",
        "--upn",
        "newbie@defaultdirectory.ward.local",
        "--display-name",
        "Nora Newbie",
        "--password-file",
        "first",
        "--force-change-password",
        "--data-dir",
        "data",
    ]));

    // Signing in to an application: the password works, then the change comes before any code.
    let mut b = Browser::new();
    let authorize = s.authorize_url(&s.native, NATIVE_REDIRECT, "openid", true);
    let page = b.get(&authorize).await;
    let page =
        b.submit(&s.base(), &page, &[("username", "newbie@defaultdirectory.ward.local"), ("password", "Initial-Glacier-Otter-7")]).await;
    assert_eq!(page.status, 303);
    let page = b.get(&format!("{}{}", s.base(), page.location.unwrap())).await;
    let change = page.location.clone().expect("sent to change the password");
    assert!(change.starts_with(&format!("/{}/changepassword?continue=", s.tid)), "{change}");
    let form = b.get(&format!("{}{change}", s.base())).await;
    assert!(form.body.contains("asks you to choose a new password"), "{}", form.body);
    // Refused: mismatch, wrong current, the user's own name, a common password.
    let fill = |current: &str, new: &str, confirm: &str| {
        vec![("current", current.to_string()), ("new", new.to_string()), ("confirm", confirm.to_string())]
    };
    for (fields, status) in [
        (fill("Initial-Glacier-Otter-7", "Brand-New-Lantern-5", "Brand-New-Lantern-6"), 422),
        (fill("wrong", "Brand-New-Lantern-5", "Brand-New-Lantern-5"), 401),
        (fill("Initial-Glacier-Otter-7", "Newbie!6X", "Newbie!6X"), 422),
        (fill("Initial-Glacier-Otter-7", "Password1!", "Password1!"), 422),
    ] {
        let refs: Vec<(&str, &str)> = fields.iter().map(|(k, v)| (*k, v.as_str())).collect();
        let r = b.submit(&s.base(), &form, &refs).await;
        assert_eq!(r.status, status, "{fields:?}: {}", r.body);
    }
    let done = b
        .submit(
            &s.base(),
            &form,
            &[("current", "Initial-Glacier-Otter-7"), ("new", "Brand-New-Lantern-5"), ("confirm", "Brand-New-Lantern-5")],
        )
        .await;
    assert_eq!(done.status, 303, "{}", done.body);
    // Back to the application: now the flow goes on (consent, then the code).
    let loc = s.follow_to_client(&mut b, done).await;
    assert!(loc.contains("code="), "{loc}");
    // The old password no longer works; the new one does.
    let mut b2 = Browser::new();
    let page = b2.get(&authorize).await;
    let old =
        b2.submit(&s.base(), &page, &[("username", "newbie@defaultdirectory.ward.local"), ("password", "Initial-Glacier-Otter-7")]).await;
    assert_eq!(old.status, 401);
    let new = b2.submit(&s.base(), &page, &[("username", "newbie@defaultdirectory.ward.local"), ("password", "Brand-New-Lantern-5")]).await;
    assert_eq!(new.status, 303);
}

/// "My security info" lists recent sign-ins, and "Sign out everywhere" ends every session and
/// every application's refresh token at once.
#[tokio::test]
async fn recent_sign_ins_and_sign_out_everywhere() {
    let s = setup();
    let portal = format!("{}/{}/mysecurityinfo", s.base(), s.tid);
    // Browser A signs in to an application (a refresh token), browser B to the portal.
    let mut a = Browser::new();
    let authorize = s.authorize_url(&s.native, NATIVE_REDIRECT, "openid offline_access", true);
    let code = s.sign_in(&mut a, &authorize, NATIVE_REDIRECT).await;
    let (status, t) = s.redeem_native(&code).await;
    assert_eq!(status, 200, "{t}");
    let refresh = t["refresh_token"].as_str().unwrap().to_string();
    let mut b = Browser::new();
    let page = b.get(&portal).await;
    b.submit(&s.base(), &page, &[("username", &s.upn), ("password", PASSWORD)]).await;
    let page = b.get(&portal).await;
    assert!(page.body.contains("Recent sign-ins"), "{}", page.body);
    assert_eq!(page.body.matches("<tr><td><time").count(), 2, "{}", page.body);
    assert!(page.body.contains(">this browser<") && page.body.contains(">active<"), "{}", page.body);

    // A signs out everywhere from its portal page.
    let page = a.get(&portal).await;
    let (action, _) = page.form();
    assert!(action.ends_with("/mysecurityinfo/remove") || action.ends_with("/signouteverywhere"), "{action}");
    let form_start = page.body.find("signouteverywhere").unwrap();
    let only_that =
        Page { status: 200, location: None, csp: None, body: page.body[page.body[..form_start].rfind("<form").unwrap()..].to_string() };
    let done = a.submit(&s.base(), &only_that, &[]).await;
    assert_eq!(done.status, 303, "{}", done.body);
    // Both browsers are signed out, and the application's refresh token is dead.
    assert!(a.get(&portal).await.body.contains("name=\"username\""));
    assert!(b.get(&portal).await.body.contains("name=\"username\""));
    let (status, e) = s.token(&[("grant_type", "refresh_token"), ("client_id", &s.native), ("refresh_token", &refresh)], None).await;
    assert_eq!((status, e["error"].as_str()), (400, Some("invalid_grant")), "{e}");
}

/// A Temporary Access Pass lets a person without a password sign in, once, and counts as a strong
/// sign-in; the pass is shown only when issued.
#[tokio::test]
async fn temporary_access_pass_signs_in_a_passwordless_user_once() {
    let s = setup();
    let d = s._dir.path();
    let upn = "pat@defaultdirectory.ward.local";
    ok(ward(d).args(["user", "create", "--upn", upn, "--display-name", "Pat Passwordless", "--data-dir", "data"]));
    s.grant_web("UserAuthenticationMethod.ReadWrite.All");
    let admin = s.web_app_token().await;
    let taps = format!("{}/v1.0/users/{upn}/authentication/temporaryAccessPassMethods", s.base());
    let bad = http().post(&taps).bearer_auth(&admin).json(&serde_json::json!({ "lifetimeInMinutes": 5 })).send().await.unwrap();
    assert_eq!(bad.status(), 400, "under Entra's ten minutes");
    let r = http()
        .post(&taps)
        .bearer_auth(&admin)
        .json(&serde_json::json!({ "lifetimeInMinutes": 60, "isUsableOnce": true }))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    let issued: serde_json::Value = r.json().await.unwrap();
    let pass = issued["temporaryAccessPass"].as_str().unwrap().to_string();
    assert_eq!(pass.len(), 16);
    assert_eq!(issued["isUsable"], true);
    let listed: serde_json::Value = http().get(&taps).bearer_auth(&admin).send().await.unwrap().json().await.unwrap();
    assert_eq!(listed["value"][0]["temporaryAccessPass"], serde_json::Value::Null, "shown only when issued");

    // The pass in the password field: signed in, strongly.
    let authorize = s.authorize_url(&s.native, NATIVE_REDIRECT, "openid", true);
    let mut b = Browser::new();
    let page = b.get(&authorize).await;
    let wrong = b.submit(&s.base(), &page, &[("username", upn), ("password", "not-the-pass-000")]).await;
    assert_eq!(wrong.status, 401);
    let signed = b.submit(&s.base(), &page, &[("username", upn), ("password", &pass)]).await;
    assert_eq!(signed.status, 303, "{}", signed.body);
    let loc = s.follow_to_client(&mut b, signed).await;
    let code = code_of(&loc);
    let (status, t) = s.redeem_native(&code).await;
    assert_eq!(status, 200, "{t}");
    let id = s.verify(t["id_token"].as_str().unwrap(), &s.native, "JWT").await;
    assert_eq!(id["amr"], serde_json::json!(["tap", "mfa"]));
    // Used once: gone.
    let mut b2 = Browser::new();
    let page = b2.get(&authorize).await;
    let again = b2.submit(&s.base(), &page, &[("username", upn), ("password", &pass)]).await;
    assert_eq!(again.status, 401, "a one-time pass works once");
    let listed: serde_json::Value = http().get(&taps).bearer_auth(&admin).send().await.unwrap().json().await.unwrap();
    assert_eq!(listed["value"], serde_json::json!([]));
}

#[tokio::test]
async fn username_first_then_the_password_and_no_name_can_be_probed_unless_the_tenant_allows() {
    let s = setup();
    let d = s._dir.path();
    let authorize = s.authorize_url(&s.native, NATIVE_REDIRECT, "openid", true);
    let mut b = Browser::new();
    let first = b.get(&authorize).await;
    assert_eq!(first.status, 200);
    assert!(first.body.contains(">Next</button>") && !first.body.contains("type=\"password\""), "{}", first.body);
    // The name alone: the password page, for a real name and a made-up one alike (nothing looked up).
    let second = b.submit(&s.base(), &first, &[("username", &s.upn)]).await;
    assert_eq!(second.status, 200);
    assert!(second.body.contains(&format!("<strong id=\"signing-in-as\">{}</strong>", s.upn)), "{}", second.body);
    assert!(second.body.contains("type=\"password\""));
    let nobody = b.submit(&s.base(), &first, &[("username", "nobody@defaultdirectory.ward.local")]).await;
    assert_eq!(nobody.status, 200);
    let strip = |body: &str, name: &str| body.replace(name, "NAME").split("csrf_token\" value=\"").next().unwrap().to_string();
    assert_eq!(strip(&second.body, &s.upn), strip(&nobody.body, "nobody@defaultdirectory.ward.local"), "the same page for any name");
    let empty = b.submit(&s.base(), &first, &[("username", " ")]).await;
    assert_eq!(empty.status, 400);
    // A wrong password keeps the name; the right one signs in.
    let wrong = b.submit(&s.base(), &second, &[("password", "not-it")]).await;
    assert_eq!(wrong.status, 401);
    assert!(wrong.body.contains("signing-in-as") && wrong.body.contains("role=\"alert\""), "{}", wrong.body);
    let signed = b.submit(&s.base(), &wrong, &[("password", PASSWORD)]).await;
    assert_eq!(signed.status, 303, "{}", signed.body);
    // An app's login_hint skips the first page; "Use another account" drops the hint.
    let hinted = format!("{authorize}&login_hint={}", s.upn.replace('@', "%40"));
    let page = Browser::new().get(&hinted).await;
    assert!(page.body.contains("signing-in-as"), "{}", page.body);
    let other = between(&page.body, "<a href=\"", "\">Use another account");
    assert!(other.contains("/oauth2/v2.0/authorize?") && !other.contains("login_hint"), "{other}");

    // A tenant that prefers usability: an unknown name is said to be unknown, and a passwordless
    // account is offered its passkey, not a password field.
    ok(ward(d).args(["tenant", "set", "--sign-in-reveals-accounts", "true", "--data-dir", "data"]));
    let mut b = Browser::new();
    let first = b.get(&authorize).await;
    let unknown = b.submit(&s.base(), &first, &[("username", "nobody@defaultdirectory.ward.local")]).await;
    assert_eq!(unknown.status, 401);
    assert!(unknown.body.contains("couldn&#39;t find an account"), "{}", unknown.body);
    let known = b.submit(&s.base(), &first, &[("username", &s.upn)]).await;
    assert_eq!(known.status, 200);
    assert!(known.body.contains("type=\"password\"") && !known.body.contains("passkey-signin"), "password only: {}", known.body);
}

/// The authorize request after a password sign-in reuses the user the sign-in read only while
/// nothing in the tenant has changed: disabled in between (by another process), no code.
#[tokio::test]
async fn a_user_disabled_between_the_password_and_the_authorize_request_gets_no_code() {
    let s = setup();
    let authorize = s.authorize_url(&s.native, NATIVE_REDIRECT, "openid", true);
    async fn password_then_continue(s: &Setup, b: &mut Browser, authorize: &str) -> String {
        let first = b.get(authorize).await;
        let signed = b.submit(&s.base(), &first, &[("username", &s.upn), ("password", PASSWORD)]).await;
        assert_eq!(signed.status, 303, "{}", signed.body);
        format!("{}{}", s.base(), signed.location.unwrap())
    }
    let signed_in = |p: &Page| p.location.as_deref().is_some_and(|l| l.starts_with(NATIVE_REDIRECT)) || p.body.contains("name=\"consent\"");
    let mut b = Browser::new();
    let next = password_then_continue(&s, &mut b, &authorize).await;
    let page = b.get(&next).await;
    assert!(signed_in(&page), "{:?} {}", page.location, page.body);

    let mut b = Browser::new();
    let next = password_then_continue(&s, &mut b, &authorize).await;
    ok(ward(s._dir.path()).args(["user", "update", &s.upn, "--account-enabled", "false", "--data-dir", "data"]));
    let page = b.get(&next).await;
    assert!(!signed_in(&page), "{:?} {}", page.location, page.body);
    assert!(page.body.contains("name=\"username\""), "the sign-in page again: {}", page.body);
}

#[tokio::test]
async fn a_device_sign_in_asks_for_the_authenticator_code_too() {
    let s = setup();
    // Megan adds an authenticator app (its code of this time step).
    let portal = format!("{}/{}/mysecurityinfo", s.base(), s.tid);
    let mut b = Browser::new();
    let page = b.get(&portal).await;
    b.submit(&s.base(), &page, &[("username", &s.upn), ("password", PASSWORD)]).await;
    let page = b.get(&format!("{portal}/authenticator")).await;
    let secret = between(&page.body, "<code id=\"secret\">", "</code>").to_string();
    assert_eq!(b.submit(&s.base(), &page, &[("code", &app_code(&secret, 0))]).await.status, 303);

    // A device asks for a sign-in; on the phone, the password is not enough: the code page follows.
    let start = s.device_start("openid profile").await;
    let verification = start["verification_uri"].as_str().unwrap().replace("localhost", "127.0.0.1");
    let mut phone = Browser::new();
    let page = phone.get(&verification).await;
    let otp = phone.submit(&s.base(), &page, &[("username", &s.upn), ("password", PASSWORD)]).await;
    assert_eq!(otp.status, 200);
    assert!(otp.body.contains("autocomplete=\"one-time-code\""), "{}", otp.body);
    let wrong = phone.submit(&s.base(), &otp, &[("code", "000000")]).await;
    assert_eq!(wrong.status, 401);
    let signed = phone.submit(&s.base(), &otp, &[("code", &app_code(&secret, 1))]).await;
    assert_eq!(signed.status, 303, "{}", signed.body);
    let entry = phone.get(&format!("{}{}", s.base(), signed.location.unwrap())).await;
    assert!(entry.body.contains("<label for=\"user_code\">"), "{}", entry.body);
    let confirm = phone.submit(&s.base(), &entry, &[("user_code", start["user_code"].as_str().unwrap())]).await;
    let done = phone.submit(&s.base(), &confirm, &[("decision", "approve")]).await;
    assert!(done.body.contains("You have signed in on your device"), "{}", done.body);
    let (status, t) = s.device_poll(&start).await;
    assert_eq!(status, 200, "{t}");
    let id = s.verify(t["id_token"].as_str().unwrap(), &s.native, "JWT").await;
    assert_eq!(id["amr"], serde_json::json!(["pwd", "otp", "mfa"]), "{id}");
}

/// The passkey endpoints refuse malformed, oversized, forged and replayed input with a JSON error,
/// and never start a session for it.
#[tokio::test]
async fn passkey_endpoints_refuse_bad_input() {
    let s = setup();
    let portal = format!("{}/{}/mysecurityinfo", s.base(), s.tid);
    let mut b = Browser::new();
    let page = b.get(&portal).await;
    let csrf = between(&page.body, "data-csrf=\"", "\"").to_string();
    let cont = format!("/{}/mysecurityinfo", s.tid);
    let url = |p: &str| format!("{}/{}{p}", s.base(), s.tid);
    let call = async |b: &mut Browser, path: &str, fields: &[(&str, &str)]| {
        let page = b.send(b.client.post(url(path)).form(fields)).await;
        (page.status, serde_json::from_str::<Value>(&page.body).unwrap_or(Value::Null))
    };
    // No CSRF token, or another continuation: refused before any ceremony.
    let (status, e) = call(&mut b, "/login/passkey/options", &[("csrf_token", "x"), ("continue", &cont)]).await;
    assert_eq!(status, 403, "{e}");
    let (status, _) = call(&mut b, "/login/passkey/options", &[("csrf_token", &csrf), ("continue", "https://evil.example/")]).await;
    assert_eq!(status, 400);
    // A real ceremony's state, answered with garbage: refused, and the state is then spent.
    let (status, begun) = call(&mut b, "/login/passkey/options", &[("csrf_token", &csrf), ("continue", &cont)]).await;
    assert_eq!(status, 200, "{begun}");
    let state = begun["state"].as_str().unwrap().to_string();
    let (status, e) =
        call(&mut b, "/login/passkey", &[("csrf_token", &csrf), ("continue", &cont), ("state", &state), ("credential", "{not json")]).await;
    assert_eq!(status, 401, "{e}");
    assert!(e["error"].is_string());
    let (status, e) =
        call(&mut b, "/login/passkey", &[("csrf_token", &csrf), ("continue", &cont), ("state", &state), ("credential", "{}")]).await;
    assert_eq!(status, 400, "a ceremony is answered once: {e}");
    // Oversized, and a forged state.
    let (_, begun) = call(&mut b, "/login/passkey/options", &[("csrf_token", &csrf), ("continue", &cont)]).await;
    let big = format!("{{\"id\":\"{}\"}}", "A".repeat(70 * 1024));
    let state = begun["state"].as_str().unwrap().to_string();
    let (status, e) =
        call(&mut b, "/login/passkey", &[("csrf_token", &csrf), ("continue", &cont), ("state", &state), ("credential", &big)]).await;
    assert_eq!(status, 401, "{e}");
    assert!(e["error"].as_str().unwrap().contains("too large"), "{e}");
    let (status, _) =
        call(&mut b, "/login/passkey", &[("csrf_token", &csrf), ("continue", &cont), ("state", "v1.forged"), ("credential", "{}")]).await;
    assert_eq!(status, 400);
    // A state from another browser is not this browser's.
    let (_, begun) = call(&mut b, "/login/passkey/options", &[("csrf_token", &csrf), ("continue", &cont)]).await;
    let mut other = Browser::new();
    let other_page = other.get(&portal).await;
    let other_csrf = between(&other_page.body, "data-csrf=\"", "\"").to_string();
    let stolen = begun["state"].as_str().unwrap();
    let (status, _) =
        call(&mut other, "/login/passkey", &[("csrf_token", &other_csrf), ("continue", &cont), ("state", stolen), ("credential", "{}")])
            .await;
    assert_eq!(status, 400);
    assert!(!b.cookies.keys().chain(other.cookies.keys()).any(|k| k.contains("ward_session")), "no session from any of it");
    // Registration needs a signed-in person.
    let (status, _) = call(&mut other, "/mysecurityinfo/passkey/options", &[("csrf_token", &other_csrf)]).await;
    assert_eq!(status, 401);
}
