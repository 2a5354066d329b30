//! Ward against clients that other people wrote: Microsoft's msal and Graph SDK (msgraph-sdk),
//! authlib, python-fido2 and scim2-client with scim2-models (Python), openid-client and jose
//! (Node). Each test starts a real `ward serve` over
//! HTTPS with a certificate from a throwaway CA, then runs one script from `interop/` with its
//! inputs in the environment (WARD_URL, WARD_TENANT, WARD_CLIENT_ID, WARD_CLIENT_SECRET,
//! WARD_CA_FILE) and expects exit status 0; on failure the script's output, one line per checked
//! property, and the server's log are shown.
//!
//! The clients are installed, at the versions pinned in `interop/`, by `interop/install` (which
//! `./scripts/test` runs): a venv at `WARD_INTEROP_VENV` (default /var/tmp/ward-interop-venv) and
//! `interop/node/node_modules`. Without them these tests say so loudly and pass, unless `CI=true`
//! or `WARD_TEST_REQUIRE_INTEROP` is set: then they fail.
//!
//! The authorization-code scripts also
//! take WARD_CONF_CLIENT_ID, WARD_CONF_CLIENT_SECRET, WARD_REDIRECT_URI, WARD_USERNAME,
//! WARD_PASSWORD and WARD_SCOPE, from `Ward::sign_in_inputs`.

mod common;
use common::*;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// False (after a loud message) when the clients are not installed and may be skipped.
fn installed(what: &str, marker: &Path) -> bool {
    if marker.exists() {
        return true;
    }
    let msg = format!(
        "the {what} interop clients are not installed ({} is missing): run `interop/install` \
         (./scripts/test does) to install the versions pinned in interop/",
        marker.display()
    );
    let required = std::env::var("CI").is_ok_and(|v| v == "true") || std::env::var_os("WARD_TEST_REQUIRE_INTEROP").is_some();
    assert!(!required, "{msg}");
    eprintln!("\n**********\nSKIPPED: {msg}\n**********\n");
    false
}

/// A Ward over HTTPS on 127.0.0.1 (public URL https://localhost:PORT) with a fresh tenant.
struct Ward {
    server: Server,
    init: serde_json::Value,
    dir: tempfile::TempDir, // last: removed after the server has stopped
}

impl Ward {
    fn start() -> Ward {
        Self::start_with(|_| {})
    }

    /// As [`Ward::start`], with `prepare` run on the working directory first (a `ward.toml`, files
    /// it names).
    fn start_with(prepare: impl FnOnce(&Path)) -> Ward {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        prepare(d);
        // A CA of our own, and a server certificate it signed for localhost and 127.0.0.1.
        let mut ca_params = rcgen::CertificateParams::new(Vec::new()).unwrap();
        ca_params.distinguished_name.push(rcgen::DnType::CommonName, "Ward interop test CA");
        ca_params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        ca_params.key_usages = vec![rcgen::KeyUsagePurpose::KeyCertSign, rcgen::KeyUsagePurpose::CrlSign];
        let ca = rcgen::CertifiedIssuer::self_signed(ca_params, rcgen::KeyPair::generate().unwrap()).unwrap();
        let key = rcgen::KeyPair::generate().unwrap();
        let mut params = rcgen::CertificateParams::new(vec!["localhost".into(), "127.0.0.1".into()]).unwrap();
        params.distinguished_name.push(rcgen::DnType::CommonName, "localhost");
        params.extended_key_usages = vec![rcgen::ExtendedKeyUsagePurpose::ServerAuth];
        let cert = params.signed_by(&key, &ca).unwrap();
        std::fs::write(d.join("ca.pem"), ca.pem()).unwrap();
        std::fs::write(d.join("cert.pem"), cert.pem()).unwrap();
        std::fs::write(d.join("key.pem"), key.serialize_pem()).unwrap();
        let init = init(d, &[]);
        let server = Server::start(d, &["--data-dir", "data", "--tls-cert", "cert.pem", "--tls-key", "key.pem"]);
        Ward { server, init, dir }
    }

    fn base_url(&self) -> String {
        format!("https://localhost:{}", self.server.addr.port())
    }

    fn field(&self, name: &str) -> &str {
        self.init[name].as_str().unwrap_or_else(|| panic!("`ward init --json` has no {name}: {}", self.init))
    }

    /// Runs `program script` from `interop/<lang>` and expects exit status 0 within two minutes.
    fn run(&self, program: &Path, lang: &str, script: &str, extra: &[(&str, &str)]) {
        let ca = self.dir.path().join("ca.pem");
        let mut cmd = Command::new(program);
        cmd.arg(script)
            .current_dir(repo().join("interop").join(lang))
            .env("WARD_URL", self.base_url())
            .env("WARD_TENANT", self.field("tenant_id"))
            .env("WARD_CLIENT_ID", self.field("client_id"))
            .env("WARD_CLIENT_SECRET", self.field("client_secret"))
            .env("WARD_CA_FILE", &ca)
            // The machine's CA settings must not stand in for the test CA: every client is made to
            // trust exactly this one (Node reads NODE_EXTRA_CA_CERTS at start-up).
            .env("NODE_EXTRA_CA_CERTS", &ca)
            .env("REQUESTS_CA_BUNDLE", &ca)
            .env("SSL_CERT_FILE", &ca)
            .env("PYTHONDONTWRITEBYTECODE", "1")
            .env("PYTHONUNBUFFERED", "1")
            .env("NO_COLOR", "1")
            .envs(extra.iter().copied())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = cmd.spawn().unwrap_or_else(|e| panic!("cannot start {}: {e}", program.display()));
        let (out, err) = (drain(child.stdout.take().unwrap()), drain(child.stderr.take().unwrap()));
        let deadline = Instant::now() + Duration::from_secs(120);
        let status = loop {
            if let Some(status) = child.try_wait().unwrap() {
                break Some(status);
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                let _ = child.wait();
                break None;
            }
            std::thread::sleep(Duration::from_millis(50));
        };
        let (out, err) = (out.join().unwrap(), err.join().unwrap());
        println!("{lang}/{script}:\n{out}{err}");
        match status {
            Some(s) if s.success() => {}
            Some(s) => panic!(
                "{lang}/{script} failed ({s}) against {}\n--- stdout\n{out}--- stderr\n{err}--- ward log\n{}",
                self.base_url(),
                self.server.log()
            ),
            None => panic!("{lang}/{script} did not finish within 120 s\n--- stdout\n{out}--- stderr\n{err}"),
        }
    }
}

/// Reads a child's pipe to the end on a thread of its own.
fn drain(mut pipe: impl Read + Send + 'static) -> std::thread::JoinHandle<String> {
    std::thread::spawn(move || {
        let mut text = String::new();
        let _ = pipe.read_to_string(&mut text);
        text
    })
}

/// The venv's python, if the Python clients are installed.
fn python() -> Option<PathBuf> {
    let venv = std::env::var_os("WARD_INTEROP_VENV").map(PathBuf::from).unwrap_or_else(|| "/var/tmp/ward-interop-venv".into());
    let python = venv.join("bin/python");
    installed("Python", &python).then_some(python)
}

/// `node`, if the Node clients are installed (ESM resolves them from interop/node/node_modules).
fn node() -> Option<PathBuf> {
    installed("Node", &repo().join("interop/node/node_modules/openid-client/package.json")).then(|| "node".into())
}

#[test]
fn authlib_client_credentials() {
    let Some(python) = python() else { return };
    Ward::start().run(&python, "python", "authlib_client_credentials.py", &[]);
}

#[test]
fn msal_client_credentials() {
    let Some(python) = python() else { return };
    Ward::start().run(&python, "python", "msal_client_credentials.py", &[]);
}

/// The Graph SDK for Python against `/v1.0`, with the app-only token of `ward init`'s automation app.
#[test]
fn msgraph_sdk_directory() {
    let Some(python) = python() else { return };
    Ward::start().run(&python, "python", "msgraph_directory.py", &[]);
}

/// python-fido2 as a software authenticator against Ward's WebAuthn endpoints: a passkey
/// registered and used without a username, then crafted ceremonies that must be refused (wrong
/// origin or rpIdHash, wrong type, missing user verification, a counter going back, a replayed
/// or swapped challenge, tampered data, a blocked AAGUID set through Graph). Identity Protection:
/// a passkey registered in a Temporary Access Pass's session (MFA) by a person confirmed
/// compromised remediates, where the tenant lets it.
#[test]
fn fido2_passkey_ceremonies() {
    let Some(python) = python() else { return };
    let w = Ward::start();
    let d = w.dir.path();
    let upn = format!("pia@{}", w.field("admin_upn").split('@').nth(1).unwrap());
    std::fs::write(d.join("pia.pw"), "Passkeys-Are-Nicer-42\n").unwrap();
    ok(ward(d).args(["user", "create", "--upn", &upn, "--display-name", "Pia Passkey", "--password-file", "pia.pw", "--data-dir", "data"]));
    // A newcomer without a password, onboarded with a Temporary Access Pass issued through Graph.
    let newcomer = upn.replace("pia@", "nell@");
    ok(ward(d).args(["user", "create", "--upn", &newcomer, "--display-name", "Nell Newcomer", "--data-dir", "data"]));
    // Identity Protection: the newcomer starts confirmed compromised (by the script, through
    // Graph, with the automation app `ward init` made); a passkey registered in a session that
    // proved MFA remediates, as this tenant decides.
    ok(ward(d).args(["tenant", "set", "--passkey-registration-remediates-risk", "true", "--data-dir", "data"]));
    w.run(
        &python,
        "python",
        "fido2_ceremonies.py",
        &[("WARD_USERNAME", &upn), ("WARD_PASSWORD", "Passkeys-Are-Nicer-42"), ("WARD_TAP_USERNAME", &newcomer)],
    );
}

/// Attestation enforced: an administrator's FIDO metadata file (JSON payload) names a test
/// authenticator model and its attestation root; the tenant turns `isAttestationEnforced` on; then
/// a key with a packed attestation from that root registers (and shows as attested in Graph),
/// while "none" attestation, a self-signed attestation and a root's key of another model are refused.
#[test]
fn fido2_attestation_enforced_against_the_metadata_file() {
    let Some(python) = python() else { return };
    let aaguid = "5c7b7e9a-1f3d-4c2b-8a6e-0d9f8b7a6c5e";
    let aaguid_bytes: Vec<u8> = (0..16).map(|i| u8::from_str_radix(&aaguid.replace('-', "")[i * 2..i * 2 + 2], 16).unwrap()).collect();
    // The model's root, and an attestation certificate it signed as FIDO's packed format asks:
    // C, O, OU "Authenticator Attestation", CN; not a CA; the AAGUID extension (not critical).
    let mut root_params = rcgen::CertificateParams::new(Vec::new()).unwrap();
    root_params.distinguished_name.push(rcgen::DnType::CommonName, "Ward Test Authenticators Root");
    root_params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    root_params.key_usages = vec![rcgen::KeyUsagePurpose::KeyCertSign, rcgen::KeyUsagePurpose::CrlSign];
    let root = rcgen::CertifiedIssuer::self_signed(root_params, rcgen::KeyPair::generate().unwrap()).unwrap();
    let leaf_key = rcgen::KeyPair::generate().unwrap();
    let mut leaf = rcgen::CertificateParams::new(Vec::new()).unwrap();
    for (t, v) in [
        (rcgen::DnType::CountryName, "SE"),
        (rcgen::DnType::OrganizationName, "Ward Test Keys"),
        (rcgen::DnType::OrganizationalUnitName, "Authenticator Attestation"),
        (rcgen::DnType::CommonName, "Ward Test Key Attestation"),
    ] {
        leaf.distinguished_name.push(t, v);
    }
    leaf.is_ca = rcgen::IsCa::ExplicitNoCa;
    let octets = [vec![0x04, 0x10], aaguid_bytes].concat();
    leaf.custom_extensions = vec![rcgen::CustomExtension::from_oid_content(&[1, 3, 6, 1, 4, 1, 45724, 1, 1, 4], octets)];
    let leaf_cert = leaf.signed_by(&leaf_key, &root).unwrap();
    use base64::Engine;
    let der = |c: &[u8]| base64::engine::general_purpose::STANDARD.encode(c);
    let metadata = serde_json::json!({ "entries": [{
        "aaguid": aaguid,
        "metadataStatement": { "description": "Ward Test Key", "attestationRootCertificates": [der(root.der())] },
        "statusReports": [{ "status": "FIDO_CERTIFIED_L1", "effectiveDate": "2026-01-01" }],
    }] });
    let w = Ward::start_with(|d| {
        std::fs::write(d.join("fido-metadata.json"), metadata.to_string()).unwrap();
        std::fs::write(d.join("ward.toml"), "fido_metadata_file = \"fido-metadata.json\"\n").unwrap();
    });
    let d = w.dir.path();
    let upn = format!("ada@{}", w.field("admin_upn").split('@').nth(1).unwrap());
    std::fs::write(d.join("ada.pw"), "Attested-Keys-Only-42\n").unwrap();
    ok(ward(d).args([
        "user",
        "create",
        "--upn",
        &upn,
        "--display-name",
        "Ada Attested",
        "--password-file",
        "ada.pw",
        "--data-dir",
        "data",
    ]));
    let (cert_pem, key_pem) = (leaf_cert.pem(), leaf_key.serialize_pem());
    w.run(
        &python,
        "python",
        "fido2_attestation.py",
        &[
            ("WARD_USERNAME", &upn),
            ("WARD_PASSWORD", "Attested-Keys-Only-42"),
            ("WARD_ATTESTATION_AAGUID", aaguid),
            ("WARD_ATTESTATION_CERT", &cert_pem),
            ("WARD_ATTESTATION_KEY", &key_pem),
        ],
    );
}

/// scim2-client (Python) provisions through `/scim/v2/{tenant}` with a SCIM token, and scim2-models
/// validates every answer against RFC 7643/7644: discovery, users and groups created, found by
/// filter, paged, read, replaced, patched, searched, bulk-made and deleted, and Ward's SCIM errors.
#[test]
fn scim2_client_provisioning() {
    let Some(python) = python() else { return };
    let w = Ward::start();
    // The server reads SCIM tokens from the data directory, so one made by the CLI now is good.
    let token = json(&ok(ward(w.dir.path()).args(["scim", "token", "create", "--name", "scim2-client", "--json", "--data-dir", "data"])));
    let secret = token["secret"].as_str().unwrap_or_else(|| panic!("`ward scim token create --json` has no secret: {token}"));
    w.run(&python, "python", "scim2_provisioning.py", &[("WARD_SCIM_TOKEN", secret)]);
}

#[test]
fn openid_client_client_credentials() {
    let Some(node) = node() else { return };
    Ward::start().run(&node, "node", "client_credentials.mjs", &[]);
}

impl Ward {
    /// A public client, a confidential client with a secret (both registered for one loopback
    /// redirect URI) and the administrator's credentials: the inputs of the authorization-code scripts.
    fn sign_in_inputs(&self) -> Vec<(&'static str, String)> {
        let d = self.dir.path();
        let redirect = "http://127.0.0.1:8400/callback";
        let create = |platform: &str, name: &str| {
            let app = json(&ok(ward(d).args(["app", "create", "--name", name, platform, redirect, "--json", "--data-dir", "data"])));
            app["appId"].as_str().unwrap().to_string()
        };
        let public = create("--public-redirect-uri", "Interop native app");
        let confidential = create("--redirect-uri", "Interop web app");
        let secret = json(&ok(ward(d).args(["app", "add-secret", &confidential, "--json", "--data-dir", "data"])));
        vec![
            ("WARD_CLIENT_ID", public),
            ("WARD_CONF_CLIENT_ID", confidential),
            ("WARD_CONF_CLIENT_SECRET", secret["secretText"].as_str().unwrap().to_string()),
            ("WARD_REDIRECT_URI", redirect.to_string()),
            ("WARD_USERNAME", self.field("admin_upn").to_string()),
            ("WARD_PASSWORD", self.field("admin_password").to_string()),
            ("WARD_SCOPE", "openid profile email offline_access User.Read".to_string()),
        ]
    }
}

#[test]
fn authlib_authorization_code() {
    let Some(python) = python() else { return };
    let ward = Ward::start();
    let inputs = ward.sign_in_inputs();
    let inputs: Vec<(&str, &str)> = inputs.iter().map(|(k, v)| (*k, v.as_str())).collect();
    ward.run(&python, "python", "authlib_authorization_code.py", &inputs);
}

#[test]
fn openid_client_authorization_code() {
    let Some(node) = node() else { return };
    let ward = Ward::start();
    let inputs = ward.sign_in_inputs();
    let inputs: Vec<(&str, &str)> = inputs.iter().map(|(k, v)| (*k, v.as_str())).collect();
    ward.run(&node, "node", "authorization_code.mjs", &inputs);
}
