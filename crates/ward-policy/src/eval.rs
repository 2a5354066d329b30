//! The evaluator (§2.7): every policy whose assignments all match applies; block wins; otherwise
//! the union of the applied policies' controls is required, asked for in Entra's order. The same
//! function serves enforcement (report-only policies recorded, never enforced) and what-if.

use crate::device_filter::{self, DeviceAttributes, Rule};
use crate::locations::{IpIndex, LocationKind, NamedLocation};
use crate::model::*;
use std::net::IpAddr;
use ward_core::auth_strength::{self, Strength};

/// What is known about one sign-in or token request. Ids are lower-case, as Ward writes them.
/// `None` means "not known": at enforcement (`complete`) it is read as the empty value (no
/// platform, no location, risk none); in what-if a condition that needs it is
/// `notEnoughInformation`.
#[derive(Clone, Debug)]
pub struct Facts<'a> {
    pub subject: Subject<'a>,
    /// The applications (appIds) the request is for: the client and the resource of its token.
    pub applications: &'a [&'a str],
    /// `urn:user:registersecurityinfo` or `urn:user:registerdevice`, for a user action.
    pub user_action: Option<&'a str>,
    pub client_app_type: Option<ClientAppType>,
    pub platform: Option<Platform>,
    pub ip: Option<IpAddr>,
    /// ISO 3166-1 alpha-2 of `ip`, if known.
    pub country: Option<&'a str>,
    pub sign_in_risk: Option<RiskLevel>,
    pub user_risk: Option<RiskLevel>,
    pub device: DeviceFact<'a>,
    pub device_code_flow: Option<bool>,
    /// Methods the sign-in has used so far (`amr`), and whether it has just changed the password.
    pub amr: &'a [&'a str],
    pub password_changed: bool,
    /// Enforcement (`true`) or what-if with whatever the caller gave (`false`).
    pub complete: bool,
}

#[derive(Clone, Debug)]
pub enum Subject<'a> {
    /// `groups` (transitive) and `roles` (role template ids) sorted ascending.
    User {
        id: &'a str,
        groups: &'a [String],
        roles: &'a [String],
        guest: bool,
    },
    ServicePrincipal {
        id: &'a str,
        risk: Option<RiskLevel>,
    },
}

#[derive(Clone, Copy, Debug)]
pub enum DeviceFact<'a> {
    Unknown,
    Unregistered,
    Registered(&'a DeviceAttributes),
}

/// Why a policy did not apply: Graph's `analysisReasons` flags.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Reasons(u32);

impl Reasons {
    pub const NOT_ENOUGH_INFORMATION: Reasons = Reasons(1);
    pub const USERS: Reasons = Reasons(1 << 2);
    pub const WORKLOAD_IDENTITIES: Reasons = Reasons(1 << 3);
    pub const APPLICATION: Reasons = Reasons(1 << 4);
    pub const USER_ACTIONS: Reasons = Reasons(1 << 5);
    pub const AUTHENTICATION_CONTEXT: Reasons = Reasons(1 << 6);
    pub const DEVICE_PLATFORM: Reasons = Reasons(1 << 7);
    pub const DEVICES: Reasons = Reasons(1 << 8);
    pub const CLIENT_APPS: Reasons = Reasons(1 << 9);
    pub const LOCATION: Reasons = Reasons(1 << 10);
    pub const SIGN_IN_RISK: Reasons = Reasons(1 << 11);
    pub const POLICY_NOT_ENABLED: Reasons = Reasons(1 << 14);
    pub const USER_RISK: Reasons = Reasons(1 << 15);
    pub const AUTHENTICATION_FLOW: Reasons = Reasons(1 << 18);
    const NAMES: [(Reasons, &'static str); 14] = [
        (Self::NOT_ENOUGH_INFORMATION, "notEnoughInformation"),
        (Self::USERS, "users"),
        (Self::WORKLOAD_IDENTITIES, "workloadIdentities"),
        (Self::APPLICATION, "application"),
        (Self::USER_ACTIONS, "userActions"),
        (Self::AUTHENTICATION_CONTEXT, "authenticationContext"),
        (Self::DEVICE_PLATFORM, "devicePlatform"),
        (Self::DEVICES, "devices"),
        (Self::CLIENT_APPS, "clientApps"),
        (Self::LOCATION, "location"),
        (Self::SIGN_IN_RISK, "signInRisk"),
        (Self::POLICY_NOT_ENABLED, "policyNotEnabled"),
        (Self::USER_RISK, "userRisk"),
        (Self::AUTHENTICATION_FLOW, "authenticationFlow"),
    ];
    pub fn contains(self, other: Reasons) -> bool {
        self.0 & other.0 == other.0 && other.0 != 0
    }
    pub fn is_empty(self) -> bool {
        self.0 == 0
    }
    fn add(&mut self, other: Reasons) {
        self.0 |= other.0;
    }
    /// Graph's flags string: `notSet` when empty, else the names joined by commas.
    pub fn graph(self) -> String {
        if self.is_empty() {
            return "notSet".into();
        }
        let names: Vec<&str> = Self::NAMES.iter().filter(|(r, _)| self.contains(*r)).map(|(_, n)| *n).collect();
        names.join(",")
    }
}

/// A policy's result, as the sign-in log's `appliedConditionalAccessPolicies[].result` says it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PolicyResult {
    Success,
    Failure,
    /// Applies and asks for something the person can do now (MFA, a stronger method, a new
    /// password): not yet success or failure.
    Interrupted,
    NotApplied,
    NotEnabled,
    ReportOnlySuccess,
    ReportOnlyFailure,
    ReportOnlyInterrupted,
    ReportOnlyNotApplied,
}

impl PolicyResult {
    pub fn graph(self) -> &'static str {
        match self {
            PolicyResult::Success => "success",
            PolicyResult::Failure | PolicyResult::Interrupted => "failure",
            PolicyResult::NotApplied => "notApplied",
            PolicyResult::NotEnabled => "notEnabled",
            PolicyResult::ReportOnlySuccess => "reportOnlySuccess",
            PolicyResult::ReportOnlyFailure => "reportOnlyFailure",
            PolicyResult::ReportOnlyInterrupted => "reportOnlyInterrupted",
            PolicyResult::ReportOnlyNotApplied => "reportOnlyNotApplied",
        }
    }
}

/// Something the person can do during the sign-in to satisfy the policies.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Need {
    Strength(StrengthLevel),
    PasswordChange,
}

/// The built-in strengths, weakest first.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum StrengthLevel {
    Multifactor,
    PasswordlessMfa,
    PhishingResistantMfa,
}

impl StrengthLevel {
    fn strength(self) -> Strength {
        match self {
            StrengthLevel::Multifactor => Strength::Multifactor,
            StrengthLevel::PasswordlessMfa => Strength::PasswordlessMfa,
            StrengthLevel::PhishingResistantMfa => Strength::PhishingResistantMfa,
        }
    }
    fn from_id(id: &str) -> Option<StrengthLevel> {
        [StrengthLevel::Multifactor, StrengthLevel::PasswordlessMfa, StrengthLevel::PhishingResistantMfa]
            .into_iter()
            .find(|s| s.strength().policy_id() == id)
    }
}

/// The outcome of the enforced policies.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Decision {
    Allow,
    /// A policy blocks: nothing the person can do.
    Block,
    /// A device control that the person cannot satisfy here (compliant or hybrid-joined device).
    DeviceRequired(BuiltInControl),
    /// The person must do these, in this order, and the policies are evaluated again.
    Interrupt(Vec<Need>),
}

/// Session controls of the applied, enforced policies, the strictest of each.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SessionEffect {
    /// Sign in again after this many seconds ("every time": [`EVERY_TIME_SKEW_SECS`]).
    pub sign_in_frequency_secs: Option<u64>,
    /// `Some(false)`: never a persistent browser session; `Some(true)`: always.
    pub persistent_browser: Option<bool>,
}

#[derive(Clone, Debug)]
pub struct PolicyOutcome {
    /// Index into the policies the set was compiled from.
    pub index: usize,
    pub applies: bool,
    pub reasons: Reasons,
    pub result: PolicyResult,
    /// The grant controls of an applied policy not yet satisfied.
    pub unmet: Vec<BuiltInControl>,
}

#[derive(Clone, Debug)]
pub struct Evaluation {
    pub policies: Vec<PolicyOutcome>,
    pub decision: Decision,
    pub session: SessionEffect,
}

/// The policies and named locations of a tenant, prepared once (ids lower-cased and sorted,
/// device rules parsed, the IP index built) and evaluated many times.
pub struct PolicySet {
    policies: Vec<Compiled>,
    /// Every user, group and role id the policies name, with the kind of list it is in →
    /// (policy, included or excluded): a sign-in's ids are looked up once each, each only among
    /// lists of its own kind, not compared with every policy's lists.
    named: std::collections::HashMap<(u8, u128), Vec<(u32, u8)>>,
    summaries: Vec<PolicySummary>,
    locations: Vec<NamedLocation>,
    index: IpIndex,
}

/// What a sign-in log says of a policy: its id and name, and its controls as Entra names them.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PolicySummary {
    pub id: String,
    pub display_name: String,
    pub grant_controls: Vec<String>,
    pub session_controls: Vec<String>,
}

fn summary(p: &Policy) -> PolicySummary {
    let mut grant_controls: Vec<String> = p
        .grant_controls
        .iter()
        .flat_map(|g| g.built_in_controls.iter())
        .map(|c| {
            match c {
                BuiltInControl::Block => "Block",
                BuiltInControl::Mfa => "Mfa",
                BuiltInControl::CompliantDevice => "RequireCompliantDevice",
                BuiltInControl::DomainJoinedDevice => "RequireDomainJoinedDevice",
                BuiltInControl::ApprovedApplication => "RequireApprovedApp",
                BuiltInControl::CompliantApplication => "RequireCompliantApp",
                BuiltInControl::PasswordChange => "PasswordChange",
            }
            .to_string()
        })
        .collect();
    if p.grant_controls.as_ref().is_some_and(|g| g.authentication_strength.is_some()) {
        grant_controls.push("RequireAuthenticationStrength".into());
    }
    let s = p.session_controls.as_ref();
    let mut session_controls = Vec::new();
    if s.and_then(|s| s.sign_in_frequency.as_ref()).is_some_and(|f| f.is_enabled) {
        session_controls.push("SignInFrequency".to_string());
    }
    if s.and_then(|s| s.persistent_browser.as_ref()).is_some_and(|b| b.is_enabled) {
        session_controls.push("PersistentBrowserSessionMode".to_string());
    }
    PolicySummary { id: p.id.clone(), display_name: p.display_name.clone(), grant_controls, session_controls }
}

struct Compiled {
    state: PolicyState,
    users: Option<UserCond>,
    workload: Option<WorkloadCond>,
    apps: AppCond,
    client_app_types: Vec<ClientAppType>,
    platforms: Option<(Vec<Platform>, Vec<Platform>)>,
    locations: Option<LocationCond>,
    device_filter: Option<(FilterMode, Rule)>,
    sign_in_risk: Vec<RiskLevel>,
    user_risk: Vec<RiskLevel>,
    sp_risk: Vec<RiskLevel>,
    device_code_flow: bool,
    grant: Option<(Operator, Vec<BuiltInControl>, Option<StrengthLevel>)>,
    session: SessionEffect,
}

struct UserCond {
    all: bool,
    guests: bool,
    users: Vec<u128>,
    groups: Vec<u128>,
    roles: Vec<u128>,
    exclude_guests: bool,
    exclude_users: Vec<u128>,
    exclude_groups: Vec<u128>,
    exclude_roles: Vec<u128>,
}

struct WorkloadCond {
    all: bool,
    include: Vec<u128>,
    exclude: Vec<u128>,
}

struct AppCond {
    all: bool,
    include: Vec<u128>,
    exclude: Vec<u128>,
    actions: Vec<String>,
    contexts: bool,
}

struct LocationCond {
    all: bool,
    trusted: bool,
    include: Vec<u32>,
    exclude_trusted: bool,
    exclude: Vec<u32>,
}

/// A GUID in its 36-character form (either case) as a number: ids are compared as integers,
/// not as text.
fn guid(s: &str) -> Option<u128> {
    let b = s.as_bytes();
    if b.len() != 36 {
        return None;
    }
    let mut v: u128 = 0;
    for (i, c) in b.iter().enumerate() {
        if matches!(i, 8 | 13 | 18 | 23) {
            if *c != b'-' {
                return None;
            }
            continue;
        }
        let d = (*c as char).to_digit(16)?;
        v = (v << 4) | u128::from(d);
    }
    Some(v)
}

/// The GUIDs of a list (keywords such as `All` left out), sorted.
fn sorted_ids(v: &[String]) -> Vec<u128> {
    let mut out: Vec<u128> = v.iter().filter_map(|s| guid(s)).collect();
    out.sort_unstable();
    out.dedup();
    out
}

fn has(sorted: &[u128], id: Option<u128>) -> bool {
    id.is_some_and(|i| sorted.binary_search(&i).is_ok())
}

/// How a policy names an id (bits of a per-policy mark).
const INCLUDED: u8 = 1;
const EXCLUDED: u8 = 2;
/// The kinds of list an id can be in.
const USER: u8 = 0;
const GROUP: u8 = 1;
const ROLE: u8 = 2;

/// A sign-in's ids, as numbers, once per evaluation.
struct Ids {
    id: Option<u128>,
    groups: Vec<u128>,
    roles: Vec<u128>,
    apps: Vec<Option<u128>>,
}

impl Ids {
    fn of(f: &Facts) -> Ids {
        let (id, groups, roles) = match &f.subject {
            Subject::User { id, groups, roles, .. } => (guid(id), sorted_ids(groups), sorted_ids(roles)),
            Subject::ServicePrincipal { id, .. } => (guid(id), Vec::new(), Vec::new()),
        };
        Ids { id, groups, roles, apps: f.applications.iter().map(|a| guid(a)).collect() }
    }
}

fn guests_selected(g: &Option<GuestsOrExternalUsers>) -> bool {
    // Ward's guests are invited accounts of this tenant: B2B collaboration guests (or internal
    // guests). Other external kinds have no Ward equivalent and so select no one.
    g.as_ref()
        .is_some_and(|g| g.guest_or_external_user_types.split(',').any(|t| matches!(t.trim(), "internalGuest" | "b2bCollaborationGuest")))
}

impl PolicySet {
    /// Prepares `policies` (already checked by [`crate::parse_policy`]) over `locations`.
    pub fn new(policies: &[Policy], locations: Vec<NamedLocation>) -> PolicySet {
        let by_id: std::collections::HashMap<String, u32> =
            locations.iter().enumerate().map(|(i, l)| (l.id.to_ascii_lowercase(), i as u32)).collect();
        let location_index = |id: &String| by_id.get(&id.to_ascii_lowercase()).copied();
        let compiled: Vec<Compiled> = policies
            .iter()
            .map(|p| {
                let c = &p.conditions;
                let users = c.users.as_ref().map(|u| UserCond {
                    all: u.include_users.iter().any(|v| v == "All"),
                    guests: u.include_users.iter().any(|v| v == "GuestsOrExternalUsers")
                        || guests_selected(&u.include_guests_or_external_users),
                    users: sorted_ids(&u.include_users),
                    groups: sorted_ids(&u.include_groups),
                    roles: sorted_ids(&u.include_roles),
                    exclude_guests: u.exclude_users.iter().any(|v| v == "GuestsOrExternalUsers")
                        || guests_selected(&u.exclude_guests_or_external_users),
                    exclude_users: sorted_ids(&u.exclude_users),
                    exclude_groups: sorted_ids(&u.exclude_groups),
                    exclude_roles: sorted_ids(&u.exclude_roles),
                });
                let workload = c.client_applications.as_ref().map(|w| WorkloadCond {
                    all: w.include_service_principals.iter().any(|v| v == "ServicePrincipalsInMyTenant"),
                    include: sorted_ids(&w.include_service_principals),
                    exclude: sorted_ids(&w.exclude_service_principals),
                });
                let a = c.applications.clone().unwrap_or_default();
                let apps = AppCond {
                    all: a.include_applications.iter().any(|v| v == "All"),
                    include: sorted_ids(&a.include_applications),
                    exclude: sorted_ids(&a.exclude_applications),
                    actions: a.include_user_actions.clone(),
                    contexts: !a.include_authentication_context_class_references.is_empty(),
                };
                let locations = c.locations.as_ref().map(|l| LocationCond {
                    all: l.include_locations.iter().any(|v| v == "All"),
                    trusted: l.include_locations.iter().any(|v| v == "AllTrusted"),
                    include: l.include_locations.iter().filter_map(location_index).collect(),
                    exclude_trusted: l.exclude_locations.iter().any(|v| v == "AllTrusted"),
                    exclude: l.exclude_locations.iter().filter_map(location_index).collect(),
                });
                let device_filter = c
                    .devices
                    .as_ref()
                    .and_then(|d| d.device_filter.as_ref())
                    .and_then(|f| device_filter::parse(&f.rule).ok().map(|r| (f.mode, r)));
                let grant = p.grant_controls.as_ref().map(|g| {
                    let mut controls = g.built_in_controls.clone();
                    controls.sort();
                    (g.operator, controls, g.authentication_strength.as_ref().and_then(|s| StrengthLevel::from_id(&s.id)))
                });
                let session = p.session_controls.as_ref().map(session_effect).unwrap_or_default();
                Compiled {
                    state: p.state,
                    users,
                    workload,
                    apps,
                    client_app_types: c.client_app_types.clone(),
                    platforms: c.platforms.as_ref().map(|pl| (pl.include_platforms.clone(), pl.exclude_platforms.clone())),
                    locations,
                    device_filter,
                    sign_in_risk: c.sign_in_risk_levels.clone(),
                    user_risk: c.user_risk_levels.clone(),
                    sp_risk: c.service_principal_risk_levels.clone(),
                    device_code_flow: c.authentication_flows.as_ref().is_some_and(|f| f.transfer_methods.contains("deviceCodeFlow")),
                    grant,
                    session,
                }
            })
            .collect();
        let index = IpIndex::new(&locations);
        let mut named: std::collections::HashMap<(u8, u128), Vec<(u32, u8)>> = std::collections::HashMap::new();
        for (i, p) in compiled.iter().enumerate() {
            let Some(u) = &p.users else { continue };
            for (list, kind, how) in [
                (&u.users, USER, INCLUDED),
                (&u.groups, GROUP, INCLUDED),
                (&u.roles, ROLE, INCLUDED),
                (&u.exclude_users, USER, EXCLUDED),
                (&u.exclude_groups, GROUP, EXCLUDED),
                (&u.exclude_roles, ROLE, EXCLUDED),
            ] {
                for id in list {
                    named.entry((kind, *id)).or_default().push((i as u32, how));
                }
            }
        }
        PolicySet { policies: compiled, named, summaries: policies.iter().map(summary).collect(), locations, index }
    }

    pub fn len(&self) -> usize {
        self.policies.len()
    }

    /// The policy an outcome's `index` names, as a sign-in log shows it.
    pub fn summary(&self, index: usize) -> Option<&PolicySummary> {
        self.summaries.get(index)
    }

    /// Does any policy name groups (so a user's transitive groups must be read to evaluate)?
    pub fn needs_groups(&self) -> bool {
        self.policies.iter().any(|p| p.users.as_ref().is_some_and(|u| !u.groups.is_empty() || !u.exclude_groups.is_empty()))
    }

    /// Does any policy name directory roles?
    pub fn needs_roles(&self) -> bool {
        self.policies.iter().any(|p| p.users.as_ref().is_some_and(|u| !u.roles.is_empty() || !u.exclude_roles.is_empty()))
    }

    /// Does any enabled or report-only policy look at the user's risk (so it must be read)?
    pub fn needs_user_risk(&self) -> bool {
        self.policies.iter().any(|p| p.state != PolicyState::Disabled && !p.user_risk.is_empty())
    }

    /// Is any policy enabled or report-only (else evaluating can only say "allow")?
    pub fn is_active(&self) -> bool {
        self.policies.iter().any(|p| p.state != PolicyState::Disabled)
    }

    pub fn is_empty(&self) -> bool {
        self.policies.is_empty()
    }

    /// Evaluates every policy against `facts`.
    pub fn evaluate(&self, facts: &Facts) -> Evaluation {
        let here = self.locations_of(facts);
        let ids = Ids::of(facts);
        // Which policies name this user, one of their groups or roles, and how.
        let mut marks = vec![0u8; self.policies.len()];
        if matches!(facts.subject, Subject::User { .. }) {
            let keys =
                ids.id.iter().map(|i| (USER, *i)).chain(ids.groups.iter().map(|g| (GROUP, *g))).chain(ids.roles.iter().map(|r| (ROLE, *r)));
            for key in keys {
                for (p, how) in self.named.get(&key).map(Vec::as_slice).unwrap_or(&[]) {
                    marks[*p as usize] |= how;
                }
            }
        }
        let met = auth_strength::met(facts.amr);
        let mut outcomes = Vec::with_capacity(self.policies.len());
        let mut blocked = false;
        let mut device_required: Option<BuiltInControl> = None;
        let mut needs: Vec<Need> = Vec::new();
        let mut session = SessionEffect::default();
        for (index, p) in self.policies.iter().enumerate() {
            let mut reasons = self.assignments(p, facts, &ids, marks[index], here.as_deref());
            if p.state == PolicyState::Disabled {
                reasons.add(Reasons::POLICY_NOT_ENABLED);
            }
            let applies = reasons.is_empty();
            let enforced = p.state == PolicyState::Enabled;
            let (result, unmet) = if !applies {
                let r = match p.state {
                    PolicyState::Disabled => PolicyResult::NotEnabled,
                    PolicyState::Enabled => PolicyResult::NotApplied,
                    PolicyState::EnabledForReportingButNotEnforced => PolicyResult::ReportOnlyNotApplied,
                };
                (r, Vec::new())
            } else {
                let (state, unmet, need) = controls(p, facts, &met);
                if enforced {
                    match state {
                        Met::Blocked => blocked = true,
                        Met::Unsatisfiable(c) => device_required = device_required.or(Some(c)),
                        Met::Needs => needs.extend(need),
                        Met::Yes => {}
                    }
                    merge_session(&mut session, &p.session);
                }
                let r = match (state, enforced) {
                    (Met::Yes, true) => PolicyResult::Success,
                    (Met::Blocked | Met::Unsatisfiable(_), true) => PolicyResult::Failure,
                    (Met::Needs, true) => PolicyResult::Interrupted,
                    (Met::Yes, false) => PolicyResult::ReportOnlySuccess,
                    (Met::Blocked | Met::Unsatisfiable(_), false) => PolicyResult::ReportOnlyFailure,
                    (Met::Needs, false) => PolicyResult::ReportOnlyInterrupted,
                };
                (r, unmet)
            };
            outcomes.push(PolicyOutcome { index, applies, reasons, result, unmet });
        }
        let decision = if blocked {
            Decision::Block
        } else if let Some(c) = device_required {
            Decision::DeviceRequired(c)
        } else if !needs.is_empty() {
            // One step for the strongest method asked for, then a new password.
            let strongest = needs.iter().filter_map(|n| if let Need::Strength(s) = n { Some(*s) } else { None }).max();
            let mut steps: Vec<Need> = strongest.map(Need::Strength).into_iter().collect();
            if needs.contains(&Need::PasswordChange) {
                steps.push(Need::PasswordChange);
            }
            Decision::Interrupt(steps)
        } else {
            Decision::Allow
        };
        Evaluation { policies: outcomes, decision, session }
    }

    /// Indices of the named locations the request comes from; `None` when its address is unknown.
    fn locations_of(&self, facts: &Facts) -> Option<Vec<u32>> {
        let ip = facts.ip?;
        let mut here: Vec<u32> = self.index.locations_of(ip);
        for (i, l) in self.locations.iter().enumerate() {
            if let LocationKind::Country { countries, include_unknown } = &l.kind {
                let inside = match facts.country {
                    Some(c) => countries.iter().any(|x| x.eq_ignore_ascii_case(c)),
                    None => *include_unknown,
                };
                if inside {
                    here.push(i as u32);
                }
            }
        }
        here.sort_unstable();
        Some(here)
    }

    /// The assignment conditions that keep `p` from applying (empty: it applies).
    fn assignments(&self, p: &Compiled, f: &Facts, ids: &Ids, mark: u8, here: Option<&[u32]>) -> Reasons {
        let mut r = Reasons::default();
        let mut unknown = false;
        // Who.
        match (&f.subject, &p.users, &p.workload) {
            (Subject::User { guest, .. }, Some(u), _) => {
                // `mark`: whether the user, a group or a role of theirs is in the lists.
                let included = u.all || (u.guests && *guest) || mark & INCLUDED != 0;
                let excluded = (u.exclude_guests && *guest) || mark & EXCLUDED != 0;
                if !included || excluded {
                    r.add(Reasons::USERS);
                }
            }
            (Subject::ServicePrincipal { risk, .. }, _, Some(w)) => {
                if !(w.all || has(&w.include, ids.id)) || has(&w.exclude, ids.id) {
                    r.add(Reasons::WORKLOAD_IDENTITIES);
                }
                if !p.sp_risk.is_empty() {
                    match risk.or(f.complete.then_some(RiskLevel::None)) {
                        Some(level) if p.sp_risk.contains(&level) => {}
                        Some(_) => r.add(Reasons::WORKLOAD_IDENTITIES),
                        None => unknown = true,
                    }
                }
            }
            (Subject::User { .. }, None, _) => r.add(Reasons::WORKLOAD_IDENTITIES),
            (Subject::ServicePrincipal { .. }, _, None) => r.add(Reasons::USERS),
        }
        // What.
        if !p.apps.actions.is_empty() {
            if !f.user_action.is_some_and(|a| p.apps.actions.iter().any(|x| x == a)) {
                r.add(Reasons::USER_ACTIONS);
            }
        } else if p.apps.contexts {
            // Ward's authorize requests name no authentication context yet.
            r.add(Reasons::AUTHENTICATION_CONTEXT);
        } else {
            let counts = |app: &Option<u128>| (p.apps.all || has(&p.apps.include, *app)) && !has(&p.apps.exclude, *app);
            if f.user_action.is_some() || !ids.apps.iter().any(counts) {
                r.add(Reasons::APPLICATION);
            }
        }
        // How and from where.
        if !p.client_app_types.is_empty() && !p.client_app_types.contains(&ClientAppType::All) {
            match f.client_app_type {
                Some(t) if p.client_app_types.contains(&t) => {}
                Some(_) => r.add(Reasons::CLIENT_APPS),
                None if f.complete => r.add(Reasons::CLIENT_APPS),
                None => unknown = true,
            }
        }
        if let Some((include, exclude)) = &p.platforms {
            match f.platform {
                Some(pl) => {
                    if !(include.contains(&Platform::All) || include.contains(&pl)) || exclude.contains(&pl) {
                        r.add(Reasons::DEVICE_PLATFORM);
                    }
                }
                None if f.complete => {
                    if !include.contains(&Platform::All) {
                        r.add(Reasons::DEVICE_PLATFORM);
                    }
                }
                None => unknown = true,
            }
        }
        if let Some(l) = &p.locations {
            match here {
                Some(here) => {
                    let trusted = here.iter().any(|i| self.locations[*i as usize].is_trusted());
                    // `here` is ascending: one binary search per location the policy names.
                    let at = |i: &u32| here.binary_search(i).is_ok();
                    let included = l.all || (l.trusted && trusted) || l.include.iter().any(at);
                    let excluded = (l.exclude_trusted && trusted) || l.exclude.iter().any(at);
                    if !included || excluded {
                        r.add(Reasons::LOCATION);
                    }
                }
                // An unknown address is in no named location.
                None if f.complete => {
                    if !l.all {
                        r.add(Reasons::LOCATION);
                    }
                }
                None => unknown = true,
            }
        }
        if let Some((mode, rule)) = &p.device_filter {
            let device = match f.device {
                DeviceFact::Registered(d) => Some(Some(d)),
                DeviceFact::Unregistered => Some(None),
                DeviceFact::Unknown if f.complete => Some(None),
                DeviceFact::Unknown => None,
            };
            match device {
                Some(d) => {
                    if rule.matches(d) != (*mode == FilterMode::Include) {
                        r.add(Reasons::DEVICES);
                    }
                }
                None => unknown = true,
            }
        }
        for (levels, fact, reason) in
            [(&p.sign_in_risk, f.sign_in_risk, Reasons::SIGN_IN_RISK), (&p.user_risk, f.user_risk, Reasons::USER_RISK)]
        {
            if levels.is_empty() {
                continue;
            }
            match fact.or(f.complete.then_some(RiskLevel::None)) {
                Some(level) if levels.contains(&level) => {}
                Some(_) => r.add(reason),
                None => unknown = true,
            }
        }
        if p.device_code_flow {
            match f.device_code_flow.or(f.complete.then_some(false)) {
                Some(true) => {}
                Some(false) => r.add(Reasons::AUTHENTICATION_FLOW),
                None => unknown = true,
            }
        }
        if unknown && r.is_empty() {
            r.add(Reasons::NOT_ENOUGH_INFORMATION);
        }
        r
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Met {
    Yes,
    Blocked,
    Unsatisfiable(BuiltInControl),
    Needs,
}

/// Whether an applied policy's grant controls are met by the sign-in so far.
fn controls(p: &Compiled, f: &Facts, met: &[Strength]) -> (Met, Vec<BuiltInControl>, Vec<Need>) {
    let Some((operator, list, strength)) = &p.grant else { return (Met::Yes, Vec::new(), Vec::new()) };
    if list.contains(&BuiltInControl::Block) {
        return (Met::Blocked, vec![BuiltInControl::Block], Vec::new());
    }
    let device = match f.device {
        DeviceFact::Registered(d) => Some(d),
        _ => None,
    };
    // Each control: satisfied, or what the person could do about it now (None: nothing).
    let mut items: Vec<(BuiltInControl, bool, Option<Need>)> = list
        .iter()
        .map(|c| match c {
            BuiltInControl::Mfa => (*c, met.contains(&Strength::Multifactor), Some(Need::Strength(StrengthLevel::Multifactor))),
            BuiltInControl::CompliantDevice => (*c, device.is_some_and(|d| d.is_compliant == Some(true)), None),
            BuiltInControl::DomainJoinedDevice => (*c, device.is_some_and(|d| d.trust_type.as_deref() == Some("ServerAD")), None),
            BuiltInControl::PasswordChange => (*c, f.password_changed, Some(Need::PasswordChange)),
            _ => (*c, false, None),
        })
        .collect();
    if let Some(s) = strength {
        // Reported among the unmet controls as `mfa`, Graph's nearest name for it.
        items.insert(0, (BuiltInControl::Mfa, met.contains(&s.strength()), Some(Need::Strength(*s))));
    }
    let unmet: Vec<&(BuiltInControl, bool, Option<Need>)> = items.iter().filter(|(_, ok, _)| !ok).collect();
    let unmet_controls: Vec<BuiltInControl> = unmet.iter().map(|(c, _, _)| *c).collect();
    let state = match operator {
        _ if unmet.is_empty() => (Met::Yes, Vec::new()),
        Operator::Or if unmet.len() < items.len() => (Met::Yes, Vec::new()),
        Operator::And => match unmet.iter().find(|(_, _, need)| need.is_none()) {
            Some((c, _, _)) => (Met::Unsatisfiable(*c), Vec::new()),
            None => (Met::Needs, unmet.iter().filter_map(|(_, _, n)| *n).collect()),
        },
        // OR: the first thing the person can do, in Entra's order.
        Operator::Or => match unmet.iter().find_map(|(_, _, need)| *need) {
            Some(n) => (Met::Needs, vec![n]),
            None => (Met::Unsatisfiable(unmet[0].0), Vec::new()),
        },
    };
    let unmet_controls = if state.0 == Met::Yes { Vec::new() } else { unmet_controls };
    (state.0, unmet_controls, state.1)
}

/// What "every time" allows between a sign-in and its use.
pub const EVERY_TIME_SKEW_SECS: u64 = 300;

fn session_effect(s: &SessionControls) -> SessionEffect {
    let sign_in_frequency_secs =
        s.sign_in_frequency.as_ref().filter(|f| f.is_enabled).map(|f| match (f.frequency_interval, f.kind, f.value) {
            // Entra allows five minutes of clock skew for "every time": a sign-in just completed
            // (its step-up included) counts.
            (Some(FrequencyInterval::EveryTime), _, _) => EVERY_TIME_SKEW_SECS,
            (_, Some(FrequencyUnit::Days), Some(v)) => u64::from(v) * 86_400,
            (_, _, Some(v)) => u64::from(v) * 3_600,
            _ => 0,
        });
    let persistent_browser =
        s.persistent_browser.as_ref().filter(|b| b.is_enabled).and_then(|b| b.mode).map(|m| m == PersistentBrowserMode::Always);
    SessionEffect { sign_in_frequency_secs, persistent_browser }
}

fn merge_session(into: &mut SessionEffect, from: &SessionEffect) {
    if let Some(f) = from.sign_in_frequency_secs {
        into.sign_in_frequency_secs = Some(into.sign_in_frequency_secs.map_or(f, |g| g.min(f)));
    }
    if let Some(p) = from.persistent_browser {
        // "never" wins over "always".
        into.persistent_browser = Some(into.persistent_browser.unwrap_or(true) && p);
    }
}
