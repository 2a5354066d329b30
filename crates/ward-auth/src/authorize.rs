//! The authorization endpoint (RFC 6749 §4.1, OpenID Connect Core §3.1.2) for the code flow with
//! PKCE. Validation follows RFC 6749 §4.1.2.1: while the client or redirect URI is in doubt,
//! errors are shown to the person and never sent anywhere; after, they go to the redirect URI.

use crate::crypto::{handle_hash, random_handle, valid_pkce_value};
use crate::decision::{Subject, decide};
use crate::error::OAuthError;
use crate::token::{ACCESS_TOKEN_LIFETIME, TokenService};
use serde_json::json;
use std::sync::Arc;
use time::Duration;
use uuid::Uuid;
use ward_core::app::{Application, ServicePrincipal};
use ward_core::permissions::{GRAPH_APP_ID, OAuth2PermissionGrant, OIDC_SCOPES, Resource, Scope, graph_scope};
use ward_core::store::{StoredGrant, StoredHandle, StoredSession};
use ward_core::tenant::Tenant;
use ward_core::user::User;

/// RFC 6749 §4.1.2 recommends ten minutes at most; Entra's codes live about as long.
pub const CODE_LIFETIME: Duration = Duration::minutes(10);
const MAX_PARAM: usize = 2048;

/// What cannot be sent back to the client.
#[derive(Debug)]
pub struct PageError {
    pub status: u16,
    pub title: &'static str,
    pub message: String,
}

/// An error response sent to the (validated) redirect URI.
#[derive(Debug)]
pub struct ErrorRedirect {
    pub redirect_uri: String,
    pub state: Option<String>,
    pub error: OAuthError,
}

impl ErrorRedirect {
    pub fn location(&self) -> String {
        let mut params = vec![("error", self.error.error.to_string()), ("error_description", self.error.description.clone())];
        if let Some(s) = &self.state {
            params.push(("state", s.clone()));
        }
        with_query(&self.redirect_uri, &params)
    }
}

#[derive(Debug)]
pub enum AuthorizeFailure {
    Page(PageError),
    Redirect(ErrorRedirect),
}

/// Appends parameters to a URI's query, keeping what is there.
pub fn with_query(uri: &str, params: &[(&str, String)]) -> String {
    let encoded = serde_urlencoded::to_string(params).unwrap_or_default();
    let sep = if uri.contains('?') { '&' } else { '?' };
    format!("{uri}{sep}{encoded}")
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Prompt {
    Default,
    None,
    Login,
    Consent,
    SelectAccount,
}

/// An authorization request that passed validation.
#[derive(Debug)]
pub struct ValidAuthorize {
    pub tenant: Arc<Tenant>,
    /// The tenant's change-feed position when this request resolved it: what was read from the
    /// directory at this position may be reused while the position holds.
    pub head: i64,
    pub app: Application,
    pub service_principal: ServicePrincipal,
    pub redirect_uri: String,
    pub public: bool,
    pub state: Option<String>,
    pub nonce: Option<String>,
    pub code_challenge: Option<String>,
    /// OpenID Connect scopes asked for (`openid`, `profile`, `email`, `offline_access`).
    pub oidc: Vec<Scope>,
    /// The one resource the access token is for (Ward's API unless another is named).
    pub resource: Resource,
    /// Delegated permissions of Ward's API asked for by name.
    pub api: Vec<Scope>,
    /// `<resource>/.default`: whatever the client was granted before.
    pub api_default: bool,
    pub prompt: Prompt,
    pub max_age: Option<i64>,
    pub login_hint: Option<String>,
}

/// What the person must do next, or where the browser goes.
#[derive(Debug)]
pub enum AuthorizeOutcome {
    SignIn,
    /// Consent the person may give (`ask`), and any that only an administrator can (`admin`).
    /// `for_organization`: the person administers applications and may consent for everyone.
    Consent {
        ask: Vec<Scope>,
        admin: Vec<Scope>,
        for_organization: bool,
    },
    Redirect(String),
    /// As `Redirect`, and a policy's persistent-browser control changed whether the browser keeps
    /// the session: the session cookie is to be set again, kept across restarts or not.
    RedirectPersisting {
        location: String,
        persistent: bool,
        max_age: i64,
    },
    /// Conditional access asks for more of the signed-in person first: a stronger sign-in or a
    /// new password (the first of the steps), then the request again.
    StepUp(ward_policy::Need),
    /// Conditional access does not allow this sign-in (a block, or a device the person does not
    /// sign in from): the page to show and its `AADSTS` code.
    Denied {
        code: u32,
        message: &'static str,
    },
}

/// Global Administrator, Application Administrator, Cloud Application Administrator.
const APP_CONSENT_ROLES: [&str; 3] =
    [ward_core::roles::GLOBAL_ADMINISTRATOR, "9b895d92-2cd3-44c7-9d02-a6ac2d5ea5c3", "158c047a-c907-4556-b7ef-446551a6b5f7"];

pub(crate) struct ConsentPolicy {
    pub(crate) admin: bool,
    users_may: bool,
}

impl ConsentPolicy {
    pub(crate) fn allows(&self, s: &Scope) -> bool {
        self.admin || (self.users_may && !s.admin_only)
    }
}

/// What a `scope` parameter asks for: OpenID Connect scopes, and delegated permissions of one
/// resource, named bare (`User.Read`: Ward's API), with the resource in front
/// (`https://graph.microsoft.com/User.Read`, `api://{appId}/access_as_user`), or `<resource>/.default`.
pub struct RequestedScopes {
    pub oidc: Vec<Scope>,
    pub resource: Resource,
    pub api: Vec<Scope>,
    pub default: bool,
}

fn bad_scope(token: &str) -> OAuthError {
    OAuthError::invalid_scope(
        70011,
        format!(
            "The provided value for the input parameter 'scope' is not valid. The scope {} is not valid.",
            ward_core::validate::clip(token)
        ),
    )
}

impl TokenService {
    /// Resolves a `scope` parameter against the tenant's resources. One resource per request, as
    /// Entra has it.
    pub(crate) async fn resolve_scopes(&self, resolved: &crate::token::ResolvedTenant, scope: &str) -> Result<RequestedScopes, OAuthError> {
        let tenant = &*resolved.tenant;
        let unavailable = |e: ward_core::DirectoryError| {
            tracing::error!(error = %e, "resolving a resource failed");
            OAuthError::temporarily_unavailable()
        };
        let cached = self
            .at_head
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .graph
            .get(&tenant.id)
            .filter(|(h, _)| *h == resolved.head)
            .map(|(_, r)| r.clone());
        let graph = match cached {
            Some(r) => r,
            None => {
                let (graph, _) = self
                    .directory
                    .resource(tenant.id, GRAPH_APP_ID)
                    .await
                    .map_err(unavailable)?
                    .ok_or_else(OAuthError::temporarily_unavailable)?;
                let mut cache = self.at_head.lock().unwrap_or_else(|e| e.into_inner());
                if cache.graph.len() >= crate::token::HeadCache::MAX {
                    cache.graph.clear();
                }
                cache.graph.insert(tenant.id, (resolved.head, graph.clone()));
                graph
            }
        };
        let mut oidc: Vec<Scope> = Vec::new();
        let mut named: Option<Resource> = None;
        let mut wanted: Vec<(String, String)> = Vec::new();
        let mut default = false;
        for token in scope.split_whitespace() {
            if token.len() > 512 {
                return Err(bad_scope(token));
            }
            if let Some(p) = graph_scope(token).filter(|p| OIDC_SCOPES.contains(&p.value)) {
                if !oidc.iter().any(|s| s.value == p.value) {
                    oidc.push(Scope::of(p, graph.service_principal));
                }
                continue;
            }
            let (reference, name) = match token.rsplit_once('/') {
                Some((r, n)) if !r.is_empty() => (r.to_string(), n.to_string()),
                _ => (ward_core::permissions::GRAPH_RESOURCE_URI.to_string(), token.to_string()),
            };
            let resource = match &named {
                Some(r) if r.app_id.to_string() == reference || r.audience.eq_ignore_ascii_case(&reference) => r.clone(),
                _ => {
                    let found = if reference.eq_ignore_ascii_case(ward_core::permissions::GRAPH_RESOURCE_URI)
                        || reference.eq_ignore_ascii_case(GRAPH_APP_ID)
                    {
                        Some(graph.clone())
                    } else {
                        self.directory.resource(tenant.id, &reference).await.map_err(unavailable)?.map(|(r, _)| r)
                    };
                    found.ok_or_else(|| {
                        OAuthError::invalid_scope(
                            500011,
                            format!("The resource principal named {} was not found in the tenant.", ward_core::validate::clip(&reference)),
                        )
                    })?
                }
            };
            if let Some(previous) = &named
                && previous.app_id != resource.app_id
            {
                return Err(OAuthError::invalid_scope(28000, "Provide scopes for one resource at a time (and the OpenID Connect scopes)."));
            }
            named = Some(resource);
            wanted.push((token.to_string(), name));
        }
        let resource = named.unwrap_or(graph);
        let mut api: Vec<Scope> = Vec::new();
        for (token, name) in wanted {
            if name == ".default" {
                default = true;
                continue;
            }
            let s = resource.scope(&name).cloned().ok_or_else(|| bad_scope(&token))?;
            if !api.contains(&s) {
                api.push(s);
            }
        }
        if oidc.is_empty() && api.is_empty() && !default {
            return Err(bad_scope(scope));
        }
        Ok(RequestedScopes { oidc, resource, api, default })
    }
}

fn page(status: u16, title: &'static str, message: impl Into<String>) -> AuthorizeFailure {
    AuthorizeFailure::Page(PageError { status, title, message: message.into() })
}

impl TokenService {
    /// Validates an authorization request's parameters.
    pub async fn validate_authorize(&self, tenant_key: &str, params: &[(String, String)]) -> Result<ValidAuthorize, AuthorizeFailure> {
        let resolved = self
            .tenant(tenant_key)
            .await
            .map_err(|e| page(if e.status == 503 { 503 } else { 400 }, "We can't sign you in", e.description))?;
        if params.len() > 64 {
            return Err(page(400, "We can't sign you in", "The request has too many parameters."));
        }
        let mut seen = std::collections::HashSet::with_capacity(params.len());
        for (k, v) in params {
            if !seen.insert(k.as_str()) {
                return Err(page(
                    400,
                    "We can't sign you in",
                    format!("The parameter '{}' is included more than once.", ward_core::validate::clip(k)),
                ));
            }
            if v.len() > MAX_PARAM {
                return Err(page(400, "We can't sign you in", format!("The parameter '{}' is too long.", ward_core::validate::clip(k))));
            }
        }
        let get = |k: &str| params.iter().find(|(name, _)| name == k).map(|(_, v)| v.as_str());
        let client_id = get("client_id")
            .ok_or_else(|| page(400, "We can't sign you in", "AADSTS900144: The request must contain the parameter 'client_id'."))?;
        let unknown = || {
            page(
                400,
                "We can't sign you in",
                format!(
                    "AADSTS700016: Application with identifier '{}' was not found in the directory.",
                    ward_core::validate::clip(client_id)
                ),
            )
        };
        let client_uuid = Uuid::parse_str(client_id).map_err(|_| unknown())?;
        let facts = self.client_facts(&resolved, client_uuid).await.map_err(|e| page(503, "We can't sign you in", e.description))?;
        let record = facts.record.as_ref().ok_or_else(unknown)?;
        let sp = record.service_principal.clone().ok_or_else(unknown)?;
        let redirect_uri = get("redirect_uri")
            .ok_or_else(|| page(400, "We can't sign you in", "AADSTS900144: The request must contain the parameter 'redirect_uri'."))?;
        let platform = record.app.redirect_platform(redirect_uri).ok_or_else(|| {
            page(
                400,
                "We can't sign you in",
                format!(
                    "AADSTS50011: The redirect URI '{}' specified in the request does not match the redirect URIs configured for the application '{}'.",
                    ward_core::validate::clip(redirect_uri),
                    client_uuid
                ),
            )
        })?;
        // From here on the redirect URI is the client's own: errors go back to it.
        let state = get("state").map(str::to_string);
        let back = |error: OAuthError| {
            AuthorizeFailure::Redirect(ErrorRedirect { redirect_uri: redirect_uri.to_string(), state: state.clone(), error })
        };
        match get("response_type") {
            Some("code") => {}
            Some(other) => {
                return Err(back(OAuthError {
                    status: 400,
                    error: "unsupported_response_type",
                    description: format!(
                        "AADSTS700054: response_type '{}' is not supported; use 'code'.",
                        ward_core::validate::clip(other)
                    ),
                }));
            }
            None => return Err(back(OAuthError::invalid_request(900144, "The request must contain the parameter 'response_type'."))),
        }
        if let Some(mode) = get("response_mode")
            && mode != "query"
        {
            return Err(back(OAuthError::invalid_request(900144, "Only response_mode=query is supported.")));
        }
        let scope =
            get("scope").ok_or_else(|| back(OAuthError::invalid_request(900144, "The request must contain the parameter 'scope'.")))?;
        let RequestedScopes { oidc, resource, api, default: api_default } = self.resolve_scopes(&resolved, scope).await.map_err(back)?;
        let code_challenge = match (get("code_challenge"), get("code_challenge_method")) {
            (None, None) => None,
            (Some(c), Some("S256")) if valid_pkce_value(c) => Some(c.to_string()),
            (Some(_), Some("S256")) => {
                return Err(back(OAuthError::invalid_request(50123, "The code_challenge is not a valid S256 challenge.")));
            }
            (_, Some("plain")) | (Some(_), None) => {
                return Err(back(OAuthError::invalid_request(
                    50124,
                    "The 'plain' PKCE method is not allowed; use code_challenge_method=S256.",
                )));
            }
            (None, Some(_)) => return Err(back(OAuthError::invalid_request(50125, "code_challenge_method without code_challenge."))),
            (Some(_), Some(m)) => {
                return Err(back(OAuthError::invalid_request(
                    50124,
                    format!("PKCE method '{}' is not supported; use S256.", ward_core::validate::clip(m)),
                )));
            }
        };
        if platform.is_public() && code_challenge.is_none() {
            return Err(back(OAuthError::invalid_request(9002325, "Proof Key for Code Exchange (S256) is required for public clients.")));
        }
        let prompt = match get("prompt") {
            None => Prompt::Default,
            Some("none") => Prompt::None,
            Some("login") => Prompt::Login,
            Some("consent") => Prompt::Consent,
            Some("select_account") => Prompt::SelectAccount,
            Some(other) => {
                return Err(back(OAuthError::invalid_request(
                    90023,
                    format!("Unsupported prompt value '{}'.", ward_core::validate::clip(other)),
                )));
            }
        };
        let max_age = match get("max_age") {
            None => None,
            Some(v) => Some(
                v.parse::<i64>()
                    .ok()
                    .filter(|n| *n >= 0)
                    .ok_or_else(|| back(OAuthError::invalid_request(90023, "max_age must be a non-negative integer.")))?,
            ),
        };
        Ok(ValidAuthorize {
            tenant: resolved.tenant.clone(),
            head: resolved.head,
            app: record.app.clone(),
            service_principal: sp,
            redirect_uri: redirect_uri.to_string(),
            public: platform.is_public(),
            state,
            nonce: get("nonce").map(str::to_string),
            code_challenge,
            oidc,
            resource,
            api,
            api_default,
            prompt,
            max_age,
            login_hint: get("login_hint").map(str::to_string),
        })
    }

    /// The permissions a request comes to, given what the client holds for this user: `.default`
    /// means what was granted on the resource before (for Ward's API, at least `User.Read`).
    fn requested(&self, req: &ValidAuthorize, consented: &[OAuth2PermissionGrant]) -> Vec<Scope> {
        let mut all: Vec<Scope> = req.oidc.iter().chain(req.api.iter()).cloned().collect();
        if req.api_default {
            // The client's static list (requiredResourceAccess) for this resource, and what it was
            // granted before.
            let required = req
                .app
                .required_resource_access
                .iter()
                .filter(|r| r.resource_app_id == req.resource.app_id)
                .flat_map(|r| r.resource_access.iter())
                .filter(|a| a.access_type == "Scope")
                .filter_map(|a| req.resource.scopes.iter().find(|s| s.id == a.id).cloned());
            let mut extra: Vec<Scope> = required
                .chain(
                    consented
                        .iter()
                        .filter(|g| g.resource_id == req.resource.service_principal)
                        .flat_map(|g| g.scopes())
                        .filter_map(|v| req.resource.scope(v).cloned()),
                )
                .collect();
            if extra.is_empty()
                && req.resource.is_graph()
                && let Some(user_read) = req.resource.scope("User.Read")
            {
                extra.push(user_read.clone());
            }
            for s in extra {
                if !all.contains(&s) {
                    all.push(s);
                }
            }
        }
        all
    }

    /// Decides what happens to a validated request for the person signed in (if anyone).
    pub async fn authorize(
        &self,
        req: &ValidAuthorize,
        session: Option<&(StoredSession, User)>,
    ) -> Result<AuthorizeOutcome, AuthorizeFailure> {
        let back = |error: OAuthError| {
            AuthorizeFailure::Redirect(ErrorRedirect { redirect_uri: req.redirect_uri.clone(), state: req.state.clone(), error })
        };
        let now = self.directory.now();
        let session = session.filter(|(s, _)| req.max_age.is_none_or(|age| (now - s.auth_time).whole_seconds() <= age));
        let Some((session, user)) = session else {
            if req.prompt == Prompt::None {
                return Err(back(OAuthError::login_required(50058, "A silent sign-in request was sent but no user is signed in.")));
            }
            return Ok(AuthorizeOutcome::SignIn);
        };
        if req.prompt == Prompt::Login || req.prompt == Prompt::SelectAccount {
            return Ok(AuthorizeOutcome::SignIn);
        }
        // Conditional access first: nobody is asked to consent to what they may not use.
        let access = self
            .access_for_user(
                &req.tenant,
                req.head,
                user,
                &req.service_principal,
                req.public,
                Some(req.resource.app_id),
                (&session.amr, &session.sign_in_risk, &session.sign_in_request),
                crate::access::Flow::Interactive,
            )
            .await
            .map_err(|e| page(e.status, "We can't sign you in", e.description))?;
        let log = |error: Option<(u32, &str)>, interrupted: bool| {
            self.log_sign_in(crate::access::SignInEvent {
                tenant: req.tenant.id,
                user: Some(user),
                attempted_name: None,
                service_principal: None,
                app: Some((req.app.app_id, req.app.display_name.as_str())),
                resource: Some((req.resource.app_id.to_string(), req.resource.display_name.as_str())),
                interactive: true,
                public: req.public,
                error,
                interrupted,
                access: Some(&access),
            })
        };
        // Session controls: a sign-in older than the policies' sign-in frequency is asked again.
        if access.decision == ward_policy::Decision::Allow
            && !access.emergency
            && let Some(limit) = access.evaluation.as_ref().and_then(|e| e.session.sign_in_frequency_secs)
            && (now - session.auth_time).whole_seconds() > i64::try_from(limit).unwrap_or(i64::MAX)
        {
            if req.prompt == Prompt::None {
                return Err(back(OAuthError::login_required(50078, "The sign-in is older than the sign-in frequency a policy sets.")));
            }
            return Ok(AuthorizeOutcome::SignIn);
        }
        match &access.decision {
            ward_policy::Decision::Allow => {}
            ward_policy::Decision::Interrupt(_) => log(Some((50076, "Conditional access requires more verification.")), true),
            ward_policy::Decision::Block => log(Some((53003, "Access has been blocked by Conditional Access policies.")), false),
            ward_policy::Decision::DeviceRequired(_) => log(Some((53000, "Device is not in required device state.")), false),
        }
        match &access.decision {
            ward_policy::Decision::Allow => {}
            ward_policy::Decision::Interrupt(needs) if req.prompt == Prompt::None || needs.is_empty() => {
                return Err(back(access.token_error(&req.resource.display_name).unwrap_or_else(OAuthError::temporarily_unavailable)));
            }
            ward_policy::Decision::Interrupt(needs) => return Ok(AuthorizeOutcome::StepUp(needs[0])),
            // Silently, no page can be shown: the app hears why.
            ward_policy::Decision::Block | ward_policy::Decision::DeviceRequired(_) if req.prompt == Prompt::None => {
                let (code, message) = match access.decision {
                    ward_policy::Decision::Block => (53003, "Access has been blocked by Conditional Access policies."),
                    _ => (53000, "Device is not in required device state."),
                };
                return Err(back(OAuthError::access_denied(code, message)));
            }
            ward_policy::Decision::Block => {
                return Ok(AuthorizeOutcome::Denied {
                    code: 53003,
                    message: "Your organization's conditional access policies block this sign-in.",
                });
            }
            ward_policy::Decision::DeviceRequired(ward_policy::BuiltInControl::DomainJoinedDevice) => {
                return Ok(AuthorizeOutcome::Denied {
                    code: 53001,
                    message: "This application can only be used from a device joined to your organization's domain.",
                });
            }
            ward_policy::Decision::DeviceRequired(_) => {
                return Ok(AuthorizeOutcome::Denied {
                    code: 53000,
                    message: "This application can only be used from a device your organization manages and finds compliant.",
                });
            }
        }
        let consented = self.consents_at_head(req, user).await.map_err(|e| {
            tracing::error!(error = %e, "reading consent failed");
            page(503, "We can't sign you in", "Ward cannot sign you in right now. Try again shortly.")
        })?;
        let requested = self.requested(req, &consented);
        let subject = Subject::User {
            user,
            service_principal: &req.service_principal,
            consented: &consented,
            requested: &requested,
            authenticated_at: session.auth_time,
        };
        match decide(subject) {
            Ok(_) if req.prompt == Prompt::Consent => {
                let may = self.may_consent(req, user).await.map_err(back)?;
                let (ask, admin): (Vec<_>, Vec<_>) = requested.into_iter().partition(|s| may.allows(s) || s.consented(&consented));
                Ok(AuthorizeOutcome::Consent { ask, admin, for_organization: may.admin })
            }
            Ok(grant) => {
                let code = self.issue_code(req, session, user, &grant.scopes).await.map_err(back)?;
                log(None, false);
                let mut params = vec![("code", code)];
                if let Some(s) = &req.state {
                    params.push(("state", s.clone()));
                }
                let location = with_query(&req.redirect_uri, &params);
                // Persistent browser session: "never" or "always", whatever the person chose.
                let wanted = if access.emergency { None } else { access.evaluation.as_ref().and_then(|e| e.session.persistent_browser) };
                match wanted {
                    Some(persistent) if persistent != session.persistent => {
                        let idle = if persistent { crate::signin::PERSISTENT_IDLE } else { crate::signin::SESSION_IDLE };
                        self.directory.store().set_session_persistence(session.id, persistent, now + idle).await.map_err(|e| {
                            tracing::error!(error = %e, "changing a session's persistence failed");
                            back(OAuthError::temporarily_unavailable())
                        })?;
                        Ok(AuthorizeOutcome::RedirectPersisting {
                            location,
                            persistent,
                            max_age: (session.expires_at - now).whole_seconds(),
                        })
                    }
                    _ => Ok(AuthorizeOutcome::Redirect(location)),
                }
            }
            Err(e) if e.error == "consent_required" => {
                if req.prompt == Prompt::None {
                    return Err(back(e));
                }
                let missing: Vec<Scope> = requested.into_iter().filter(|s| !s.consented(&consented)).collect();
                let may = self.may_consent(req, user).await.map_err(back)?;
                let (ask, admin) = missing.into_iter().partition(|p| may.allows(p));
                Ok(AuthorizeOutcome::Consent { ask, admin, for_organization: may.admin })
            }
            Err(e) if e.error == "unauthorized_client" => Err(back(e)),
            Err(e) => Err(back(OAuthError::access_denied(50105, e.description.trim_start_matches(|c: char| c != ' ').trim()))),
        }
    }

    /// What this person may consent to on their own behalf: nothing unless the tenant lets users
    /// consent (`usersCanConsentToApps`, off by default), and then only low-risk permissions;
    /// administrators of applications may consent to anything, for themselves. Consent for every
    /// user is an administrator's act (`ward app consent`).
    async fn may_consent(&self, req: &ValidAuthorize, user: &User) -> Result<ConsentPolicy, OAuthError> {
        self.consent_policy(&req.tenant, user).await
    }

    pub(crate) async fn consent_policy(&self, tenant: &Tenant, user: &User) -> Result<ConsentPolicy, OAuthError> {
        let roles = self.directory.roles_of(tenant.id, user.id).await.map_err(|e| {
            tracing::error!(error = %e, "reading roles failed");
            OAuthError::temporarily_unavailable()
        })?;
        let admin = roles.iter().any(|r| APP_CONSENT_ROLES.contains(&r.as_str()));
        Ok(ConsentPolicy { admin, users_may: tenant.settings.users_can_consent_to_apps })
    }

    /// The client's delegated grants for `user` on the request's resources, read once per feed
    /// position (a consent given or withdrawn moves it). The position is the tenant's now, not
    /// when the request was validated: usually no query at all (nothing committed since).
    async fn consents_at_head(&self, req: &ValidAuthorize, user: &User) -> Result<Vec<OAuth2PermissionGrant>, ward_core::DirectoryError> {
        let now_at = self
            .tenant(&req.tenant.id.to_string())
            .await
            .map_err(|e| ward_core::DirectoryError::StorageUnavailable(e.description.to_string()))?
            .head;
        let key = (req.tenant.id, req.service_principal.id, user.id, self.consent_resources(req));
        if let Some((head, grants)) = self.at_head.lock().unwrap_or_else(|e| e.into_inner()).consents.get(&key)
            && *head == now_at
        {
            return Ok(grants.clone());
        }
        let grants = self.directory.delegated_grants(key.0, key.1, key.2, &key.3).await?;
        let mut cache = self.at_head.lock().unwrap_or_else(|e| e.into_inner());
        if cache.consents.len() >= crate::token::HeadCache::MAX {
            cache.consents.clear();
        }
        cache.consents.insert(key, (now_at, grants.clone()));
        Ok(grants)
    }

    /// The resources whose consent a request depends on: Ward's API (for the OpenID Connect
    /// scopes) and the one it names.
    fn consent_resources(&self, req: &ValidAuthorize) -> Vec<ward_core::ObjectId> {
        let mut out: Vec<ward_core::ObjectId> = req.oidc.iter().map(|s| s.resource).collect();
        out.push(req.resource.service_principal);
        out.sort();
        out.dedup();
        out
    }

    /// Records the signed-in person's consent to what the request asks, within what they may grant.
    /// With `for_organization` (an administrator's choice), for every user of the tenant.
    pub async fn consent(&self, req: &ValidAuthorize, user: &User, ask: &[Scope], for_organization: bool) -> Result<(), AuthorizeFailure> {
        let may = self.may_consent(req, user).await.map_err(|e| page(e.status, "We can't record your consent", e.description))?;
        let principal = if for_organization && may.admin { None } else { Some(user.id) };
        self.record_consent(&req.tenant, req.service_principal.id, &req.resource, principal, ask.iter().filter(|s| may.allows(s)))
            .await
            .map_err(|e| page(503, "We can't record your consent", e.description))
    }

    /// Records consent (a user's, or with `principal` None everyone's), one grant per resource
    /// the scopes belong to.
    pub(crate) async fn record_consent<'a>(
        &self,
        tenant: &Tenant,
        client: ward_core::ObjectId,
        resource: &Resource,
        principal: Option<ward_core::ObjectId>,
        scopes: impl Iterator<Item = &'a Scope>,
    ) -> Result<(), OAuthError> {
        let (mine, graph): (Vec<&Scope>, Vec<&Scope>) =
            scopes.partition(|s| s.resource == resource.service_principal && !resource.is_graph());
        for (reference, group) in [(resource.app_id.to_string(), mine), (GRAPH_APP_ID.to_string(), graph)] {
            if group.is_empty() {
                continue;
            }
            let values: Vec<&str> = group.iter().map(|s| s.value.as_str()).collect();
            self.directory.grant_delegated(tenant.id, client, &reference, principal, &values).await.map_err(|e| {
                tracing::error!(error = %e, "recording consent failed");
                OAuthError::temporarily_unavailable()
            })?;
        }
        Ok(())
    }

    async fn issue_code(
        &self,
        req: &ValidAuthorize,
        session: &StoredSession,
        user: &User,
        scopes: &[String],
    ) -> Result<String, OAuthError> {
        let now = self.directory.now();
        let code = random_handle().map_err(|_| OAuthError::temporarily_unavailable())?;
        let grant = StoredGrant {
            id: Uuid::new_v4(),
            tenant_id: req.tenant.id,
            session_id: Some(session.id),
            client_id: req.app.app_id,
            user_id: user.id,
            created_at: now,
            expires_at: now + CODE_LIFETIME + ACCESS_TOKEN_LIFETIME,
            revoked_at: None,
        };
        let handle = StoredHandle {
            hash: handle_hash(&code),
            tenant_id: req.tenant.id,
            kind: "code".into(),
            grant_id: grant.id,
            expires_at: now + CODE_LIFETIME,
            used_at: None,
            doc: json!({
                "client_id": req.app.app_id,
                "redirect_uri": req.redirect_uri,
                "public": req.public,
                "scopes": scopes,
                "resource": req.resource.app_id,
                "nonce": req.nonce,
                "code_challenge": req.code_challenge,
                "auth_time": session.auth_time.unix_timestamp(),
                "auth_time_us": crate::grants::user::micros(session.auth_time),
                "amr": session.amr,
            }),
        };
        self.directory.store().create_grant(&grant, &handle).await.map_err(|e| {
            tracing::error!(error = %e, "storing the authorization code failed");
            OAuthError::temporarily_unavailable()
        })?;
        Ok(code)
    }
}
