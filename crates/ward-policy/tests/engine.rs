//! The evaluator against Entra's documented policies (table-driven), its properties over random
//! policy sets (exclusion never stricter, block wins, report-only never changes the outcome), and
//! the API's reading of policies.

use serde_json::{Value, json};
use ward_policy::device_filter::DeviceAttributes;
use ward_policy::*;

const ADMIN_ROLE: &str = "62e90394-69f5-4237-9190-012177145e10";
const ALICE: &str = "11111111-1111-1111-1111-111111111111";
const BOB: &str = "22222222-2222-2222-2222-222222222222";
const SALES: &str = "33333333-3333-3333-3333-333333333333";
const BREAK_GLASS: &str = "44444444-4444-4444-4444-444444444444";
const APP: &str = "55555555-5555-5555-5555-555555555555";
const OTHER_APP: &str = "66666666-6666-6666-6666-666666666666";
const SP: &str = "77777777-7777-7777-7777-777777777777";
const HQ: &str = "88888888-8888-8888-8888-888888888888";
const EMBARGO: &str = "99999999-9999-9999-9999-999999999999";
const PHISHING_RESISTANT: &str = "00000000-0000-0000-0000-000000000004";

fn locations() -> Vec<NamedLocation> {
    let mut hq = parse_location(&json!({"@odata.type": "#microsoft.graph.ipNamedLocation", "displayName": "HQ", "isTrusted": true,
        "ipRanges": [{"cidrAddress": "203.0.113.0/24"}, {"cidrAddress": "2001:db8::/48"}]}))
    .unwrap();
    hq.id = HQ.into();
    let mut embargo = parse_location(&json!({"@odata.type": "#microsoft.graph.countryNamedLocation", "displayName": "Embargo",
        "countriesAndRegions": ["KP"], "includeUnknownCountriesAndRegions": true}))
    .unwrap();
    embargo.id = EMBARGO.into();
    vec![hq, embargo]
}

fn policy(v: Value) -> Policy {
    let known = [HQ, EMBARGO];
    parse_policy(v, &|id| known.contains(&id)).unwrap_or_else(|e| panic!("{e}"))
}

fn users(include: Value) -> Value {
    json!({"includeUsers": include, "excludeUsers": [BREAK_GLASS]})
}

fn base(state: &str, users: Value, grant: Value) -> Value {
    json!({"displayName": "p", "state": state, "conditions": {"users": users, "applications": {"includeApplications": ["All"]}}, "grantControls": grant})
}

fn grant(op: &str, controls: &[&str]) -> Value {
    json!({"operator": op, "builtInControls": controls})
}

struct Sign {
    user: &'static str,
    groups: Vec<String>,
    roles: Vec<String>,
    guest: bool,
    app: &'static str,
    client: ClientAppType,
    platform: Option<Platform>,
    ip: Option<&'static str>,
    country: Option<&'static str>,
    sign_in_risk: Option<RiskLevel>,
    user_risk: Option<RiskLevel>,
    device: Option<DeviceAttributes>,
    amr: Vec<&'static str>,
    password_changed: bool,
    action: Option<&'static str>,
    complete: bool,
}

fn sign(user: &'static str) -> Sign {
    Sign {
        user,
        groups: vec![],
        roles: vec![],
        guest: false,
        app: APP,
        client: ClientAppType::Browser,
        platform: Some(Platform::Windows),
        ip: Some("198.51.100.7"),
        country: Some("NL"),
        sign_in_risk: None,
        user_risk: None,
        device: None,
        amr: vec!["pwd"],
        password_changed: false,
        action: None,
        complete: true,
    }
}

fn run(set: &PolicySet, s: &Sign) -> Evaluation {
    let apps = [s.app];
    let facts = Facts {
        subject: Subject::User { id: s.user, groups: &s.groups, roles: &s.roles, guest: s.guest },
        applications: &apps,
        user_action: s.action,
        client_app_type: Some(s.client),
        platform: s.platform,
        ip: s.ip.map(|i| i.parse().unwrap()),
        country: s.country,
        sign_in_risk: s.sign_in_risk,
        user_risk: s.user_risk,
        device: match &s.device {
            Some(d) => DeviceFact::Registered(d),
            None if s.complete => DeviceFact::Unregistered,
            None => DeviceFact::Unknown,
        },
        device_code_flow: Some(false),
        amr: &s.amr,
        password_changed: s.password_changed,
        complete: s.complete,
    };
    set.evaluate(&facts)
}

fn one(p: Value) -> PolicySet {
    PolicySet::new(&[policy(p)], locations())
}

fn needs(s: StrengthLevel) -> Decision {
    Decision::Interrupt(vec![Need::Strength(s)])
}

#[test]
fn entra_documented_policies_decide_as_entra_does() {
    // Require MFA for administrators (common policy).
    let admins = one(base("enabled", json!({"includeRoles": [ADMIN_ROLE], "excludeUsers": [BREAK_GLASS]}), grant("OR", &["mfa"])));
    let mut admin = sign(ALICE);
    admin.roles = vec![ADMIN_ROLE.into()];
    assert_eq!(run(&admins, &admin).decision, needs(StrengthLevel::Multifactor));
    admin.amr = vec!["pwd", "otp", "mfa"];
    assert_eq!(run(&admins, &admin).decision, Decision::Allow);
    assert_eq!(run(&admins, &admin).policies[0].result, PolicyResult::Success);
    let member = run(&admins, &sign(BOB));
    assert_eq!((member.decision, member.policies[0].result), (Decision::Allow, PolicyResult::NotApplied));
    assert!(member.policies[0].reasons.contains(Reasons::USERS));
    let mut glass = sign(BREAK_GLASS);
    glass.roles = vec![ADMIN_ROLE.into()];
    assert_eq!(run(&admins, &glass).decision, Decision::Allow, "the emergency account is excluded");

    // Block legacy authentication.
    let mut legacy = base("enabled", users(json!(["All"])), grant("OR", &["block"]));
    legacy["conditions"]["clientAppTypes"] = json!(["exchangeActiveSync", "other"]);
    let legacy = one(legacy);
    let mut old = sign(BOB);
    old.client = ClientAppType::Other;
    assert_eq!(run(&legacy, &old).decision, Decision::Block);
    assert_eq!(run(&legacy, &sign(BOB)).decision, Decision::Allow);
    assert!(run(&legacy, &sign(BOB)).policies[0].reasons.contains(Reasons::CLIENT_APPS));

    // Block access from anywhere but trusted locations.
    let mut outside = base("enabled", users(json!(["All"])), grant("OR", &["block"]));
    outside["conditions"]["locations"] = json!({"includeLocations": ["All"], "excludeLocations": ["AllTrusted"]});
    let outside = one(outside);
    assert_eq!(run(&outside, &sign(BOB)).decision, Decision::Block);
    let mut office = sign(BOB);
    office.ip = Some("203.0.113.9");
    assert_eq!(run(&outside, &office).decision, Decision::Allow);
    office.ip = Some("2001:db8::1");
    assert_eq!(run(&outside, &office).decision, Decision::Allow, "IPv6 of the same location");

    // Block a country, and unknown countries with it.
    let mut country = base("enabled", users(json!(["All"])), grant("OR", &["block"]));
    country["conditions"]["locations"] = json!({"includeLocations": [EMBARGO]});
    let country = one(country);
    let mut from = sign(BOB);
    from.country = Some("KP");
    assert_eq!(run(&country, &from).decision, Decision::Block);
    from.country = None;
    assert_eq!(run(&country, &from).decision, Decision::Block, "includeUnknownCountriesAndRegions");
    assert_eq!(run(&country, &sign(BOB)).decision, Decision::Allow);

    // Require a compliant device; or MFA or a compliant device; or both.
    let compliant = one(base("enabled", users(json!(["All"])), grant("OR", &["compliantDevice"])));
    assert_eq!(run(&compliant, &sign(BOB)).decision, Decision::DeviceRequired(BuiltInControl::CompliantDevice));
    let mut managed = sign(BOB);
    managed.device = Some(DeviceAttributes { is_compliant: Some(true), is_managed: Some(true), ..Default::default() });
    assert_eq!(run(&compliant, &managed).decision, Decision::Allow);
    let either = one(base("enabled", users(json!(["All"])), grant("OR", &["mfa", "compliantDevice"])));
    assert_eq!(run(&either, &managed).decision, Decision::Allow);
    assert_eq!(run(&either, &sign(BOB)).decision, needs(StrengthLevel::Multifactor));
    let both = one(base("enabled", users(json!(["All"])), grant("AND", &["mfa", "compliantDevice"])));
    assert_eq!(run(&both, &sign(BOB)).decision, Decision::DeviceRequired(BuiltInControl::CompliantDevice));
    assert_eq!(run(&both, &managed).decision, needs(StrengthLevel::Multifactor));
    let hybrid = one(base("enabled", users(json!(["All"])), grant("OR", &["domainJoinedDevice"])));
    let mut joined = sign(BOB);
    joined.device = Some(DeviceAttributes { trust_type: Some("ServerAD".into()), ..Default::default() });
    assert_eq!(run(&hybrid, &joined).decision, Decision::Allow);
    assert_eq!(run(&hybrid, &managed).decision, Decision::DeviceRequired(BuiltInControl::DomainJoinedDevice));

    // Sign-in risk medium or high: MFA.
    let mut risky = base("enabled", users(json!(["All"])), grant("OR", &["mfa"]));
    risky["conditions"]["signInRiskLevels"] = json!(["high", "medium"]);
    let risky = one(risky);
    let mut r = sign(BOB);
    r.sign_in_risk = Some(RiskLevel::Low);
    assert_eq!(run(&risky, &r).decision, Decision::Allow);
    r.sign_in_risk = Some(RiskLevel::High);
    assert_eq!(run(&risky, &r).decision, needs(StrengthLevel::Multifactor));
    assert!(run(&risky, &sign(BOB)).policies[0].reasons.contains(Reasons::SIGN_IN_RISK), "unknown risk is none at enforcement");

    // User risk high: MFA and a new password (the remediation policy).
    let mut remediate = base("enabled", users(json!(["All"])), grant("AND", &["mfa", "passwordChange"]));
    remediate["conditions"]["userRiskLevels"] = json!(["high"]);
    let remediate = one(remediate);
    let mut u = sign(BOB);
    u.user_risk = Some(RiskLevel::High);
    assert_eq!(run(&remediate, &u).decision, Decision::Interrupt(vec![Need::Strength(StrengthLevel::Multifactor), Need::PasswordChange]));
    u.amr = vec!["pwd", "otp", "mfa"];
    assert_eq!(run(&remediate, &u).decision, Decision::Interrupt(vec![Need::PasswordChange]));
    u.password_changed = true;
    assert_eq!(run(&remediate, &u).decision, Decision::Allow);

    // Phishing-resistant MFA for one app.
    let mut strong =
        base("enabled", users(json!(["All"])), json!({"operator": "OR", "authenticationStrength": {"id": PHISHING_RESISTANT}}));
    strong["conditions"]["applications"] = json!({"includeApplications": [APP]});
    let strong = one(strong);
    let mut s = sign(BOB);
    s.amr = vec!["pwd", "otp", "mfa"];
    assert_eq!(run(&strong, &s).decision, needs(StrengthLevel::PhishingResistantMfa), "an authenticator code is not enough");
    s.amr = vec!["fido", "hwk", "mfa"];
    assert_eq!(run(&strong, &s).decision, Decision::Allow);
    let mut elsewhere = sign(BOB);
    elsewhere.app = OTHER_APP;
    assert_eq!(run(&strong, &elsewhere).decision, Decision::Allow);
    assert!(run(&strong, &elsewhere).policies[0].reasons.contains(Reasons::APPLICATION));

    // Platforms: all but iOS.
    let mut platforms = base("enabled", users(json!(["All"])), grant("OR", &["block"]));
    platforms["conditions"]["platforms"] = json!({"includePlatforms": ["all"], "excludePlatforms": ["iOS"]});
    let platforms = one(platforms);
    let mut phone = sign(BOB);
    phone.platform = Some(Platform::IOs);
    assert_eq!(run(&platforms, &phone).decision, Decision::Allow);
    phone.platform = None;
    assert_eq!(run(&platforms, &phone).decision, Decision::Block, "an unknown platform is in 'all'");

    // A device filter in exclude mode: privileged workstations are exempt.
    let mut saw = base("enabled", users(json!(["All"])), grant("OR", &["block"]));
    saw["conditions"]["devices"] = json!({"deviceFilter": {"mode": "exclude", "rule": "device.extensionAttribute1 -eq \"SAW\""}});
    let saw = one(saw);
    assert_eq!(run(&saw, &sign(BOB)).decision, Decision::Block, "an unregistered device matches no positive rule");
    let mut workstation = sign(BOB);
    let mut ext: [Option<String>; 15] = Default::default();
    ext[0] = Some("SAW".into());
    workstation.device = Some(DeviceAttributes { is_managed: Some(true), extension_attributes: ext.clone(), ..Default::default() });
    assert_eq!(run(&saw, &workstation).decision, Decision::Allow);
    workstation.device = Some(DeviceAttributes { extension_attributes: ext, ..Default::default() });
    assert_eq!(run(&saw, &workstation).decision, Decision::Block, "extension attributes count only on a managed device");

    // Registering security information only from the office.
    let mut register = base("enabled", users(json!(["All"])), grant("OR", &["block"]));
    register["conditions"]["applications"] = json!({"includeUserActions": ["urn:user:registersecurityinfo"]});
    register["conditions"]["locations"] = json!({"includeLocations": ["All"], "excludeLocations": ["AllTrusted"]});
    let register = one(register);
    let mut action = sign(BOB);
    action.action = Some("urn:user:registersecurityinfo");
    assert_eq!(run(&register, &action).decision, Decision::Block);
    assert_eq!(run(&register, &sign(BOB)).decision, Decision::Allow, "an app sign-in is not the user action");

    // Guests must use MFA; members need not.
    let guests = one(base("enabled", json!({"includeUsers": ["GuestsOrExternalUsers"]}), grant("OR", &["mfa"])));
    let mut guest = sign(ALICE);
    guest.guest = true;
    assert_eq!(run(&guests, &guest).decision, needs(StrengthLevel::Multifactor));
    assert_eq!(run(&guests, &sign(ALICE)).decision, Decision::Allow);

    // Exclusion by group wins over inclusion of all users.
    let sales_exempt = one(base("enabled", json!({"includeUsers": ["All"], "excludeGroups": [SALES]}), grant("OR", &["block"])));
    let mut seller = sign(BOB);
    seller.groups = vec![SALES.into()];
    assert_eq!(run(&sales_exempt, &seller).decision, Decision::Allow);
    assert_eq!(run(&sales_exempt, &sign(BOB)).decision, Decision::Block);
}

#[test]
fn report_only_and_disabled_policies_are_recorded_not_enforced() {
    let set = PolicySet::new(
        &[
            policy(base("enabledForReportingButNotEnforced", users(json!(["All"])), grant("OR", &["block"]))),
            policy(base("enabledForReportingButNotEnforced", users(json!(["All"])), grant("OR", &["mfa"]))),
            policy(base("enabledForReportingButNotEnforced", json!({"includeUsers": [ALICE]}), grant("OR", &["mfa"]))),
            policy(base("disabled", users(json!(["All"])), grant("OR", &["block"]))),
        ],
        locations(),
    );
    let e = run(&set, &sign(BOB));
    assert_eq!(e.decision, Decision::Allow);
    let results: Vec<PolicyResult> = e.policies.iter().map(|p| p.result).collect();
    assert_eq!(
        results,
        [
            PolicyResult::ReportOnlyFailure,
            PolicyResult::ReportOnlyInterrupted,
            PolicyResult::ReportOnlyNotApplied,
            PolicyResult::NotEnabled
        ]
    );
    assert_eq!(
        results.iter().map(|r| r.graph()).collect::<Vec<_>>(),
        ["reportOnlyFailure", "reportOnlyInterrupted", "reportOnlyNotApplied", "notEnabled"]
    );
    assert!(e.policies[3].reasons.contains(Reasons::POLICY_NOT_ENABLED));
    assert_eq!(e.policies[0].reasons.graph(), "notSet");
}

#[test]
fn session_controls_take_the_strictest_of_the_applied_policies() {
    let with_session = |freq: Value, browser: Value| {
        let mut p = base("enabled", users(json!(["All"])), Value::Null);
        p.as_object_mut().unwrap().remove("grantControls");
        p["sessionControls"] = json!({"signInFrequency": freq, "persistentBrowser": browser});
        policy(p)
    };
    let set = PolicySet::new(
        &[
            with_session(json!({"isEnabled": true, "type": "days", "value": 1}), json!({"isEnabled": true, "mode": "always"})),
            with_session(
                json!({"isEnabled": true, "type": "hours", "value": 4, "frequencyInterval": "timeBased"}),
                json!({"isEnabled": true, "mode": "never"}),
            ),
        ],
        locations(),
    );
    let e = run(&set, &sign(BOB));
    assert_eq!(e.decision, Decision::Allow);
    assert_eq!(e.session, SessionEffect { sign_in_frequency_secs: Some(4 * 3600), persistent_browser: Some(false) });
    // "Every time" leaves Entra's five minutes for a sign-in just completed.
    let every = PolicySet::new(&[with_session(json!({"isEnabled": true, "frequencyInterval": "everyTime"}), json!(null))], locations());
    assert_eq!(run(&every, &sign(BOB)).session.sign_in_frequency_secs, Some(300));
}

#[test]
fn what_if_without_a_fact_says_not_enough_information() {
    let mut p = base("enabled", users(json!(["All"])), grant("OR", &["block"]));
    p["conditions"]["locations"] = json!({"includeLocations": [HQ]});
    p["conditions"]["platforms"] = json!({"includePlatforms": ["android"]});
    let set = one(p);
    let mut s = sign(BOB);
    s.complete = false;
    s.ip = None;
    s.platform = Some(Platform::Android);
    let e = run(&set, &s);
    assert!(!e.policies[0].applies);
    assert_eq!(e.policies[0].reasons.graph(), "notEnoughInformation");
    s.platform = Some(Platform::Linux);
    assert_eq!(run(&set, &s).policies[0].reasons.graph(), "devicePlatform", "a known mismatch is the reason");
    s.complete = true;
    assert_eq!(run(&set, &s).policies[0].reasons.graph(), "devicePlatform,location");
}

#[test]
fn workload_identities_are_blocked_by_location() {
    let p = policy(json!({"displayName": "SP outside HQ", "state": "enabled",
        "conditions": {"clientApplications": {"includeServicePrincipals": [SP]}, "applications": {"includeApplications": ["All"]},
                       "locations": {"includeLocations": ["All"], "excludeLocations": [HQ]}},
        "grantControls": {"operator": "OR", "builtInControls": ["block"]}}));
    let set = PolicySet::new(&[p], locations());
    let apps = [APP];
    let facts = |id: &'static str, ip: &str| Facts {
        subject: Subject::ServicePrincipal { id, risk: None },
        applications: &apps,
        user_action: None,
        client_app_type: None,
        platform: None,
        ip: Some(ip.parse().unwrap()),
        country: None,
        sign_in_risk: None,
        user_risk: None,
        device: DeviceFact::Unregistered,
        device_code_flow: Some(false),
        amr: &[],
        password_changed: false,
        complete: true,
    };
    assert_eq!(set.evaluate(&facts(SP, "198.51.100.1")).decision, Decision::Block);
    assert_eq!(set.evaluate(&facts(SP, "203.0.113.50")).decision, Decision::Allow);
    let other = set.evaluate(&facts(BOB, "198.51.100.1"));
    assert_eq!(other.decision, Decision::Allow);
    assert!(other.policies[0].reasons.contains(Reasons::WORKLOAD_IDENTITIES));
    // A user policy never applies to a workload identity, nor the reverse.
    let users_only = one(base("enabled", users(json!(["All"])), grant("OR", &["block"])));
    assert_eq!(users_only.evaluate(&facts(SP, "198.51.100.1")).decision, Decision::Allow);
}

// ---- Properties over random policy sets -------------------------------------------------------

struct Lcg(u64);
impl Lcg {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        self.0 >> 33
    }
    fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[(self.next() as usize) % items.len()]
    }
    fn chance(&mut self, percent: u64) -> bool {
        self.next() % 100 < percent
    }
}

fn random_policy(r: &mut Lcg) -> Value {
    let include = r.pick(&[json!(["All"]), json!([ALICE]), json!([BOB]), json!(["GuestsOrExternalUsers"])]).clone();
    let mut users = json!({"includeUsers": include});
    if r.chance(30) {
        users["includeGroups"] = json!([SALES]);
    }
    if r.chance(20) {
        users["includeRoles"] = json!([ADMIN_ROLE]);
    }
    if r.chance(30) {
        users["excludeUsers"] = json!([r.pick(&[ALICE, BOB, BREAK_GLASS])]);
    }
    let mut p = json!({"displayName": "random", "state": r.pick(&["enabled", "enabled", "enabledForReportingButNotEnforced", "disabled"]),
        "conditions": {"users": users, "applications": {"includeApplications": r.pick(&[json!(["All"]), json!([APP]), json!([OTHER_APP])]).clone()}}});
    if r.chance(30) {
        p["conditions"]["locations"] = r
            .pick(&[
                json!({"includeLocations": ["All"], "excludeLocations": ["AllTrusted"]}),
                json!({"includeLocations": [HQ]}),
                json!({"includeLocations": [EMBARGO]}),
            ])
            .clone();
    }
    if r.chance(25) {
        p["conditions"]["signInRiskLevels"] = json!(["high"]);
    }
    if r.chance(20) {
        p["conditions"]["platforms"] = json!({"includePlatforms": ["all"], "excludePlatforms": ["iOS"]});
    }
    if r.chance(20) {
        p["conditions"]["clientAppTypes"] = json!(["browser"]);
    }
    p["grantControls"] = r
        .pick(&[
            grant("OR", &["block"]),
            grant("OR", &["mfa"]),
            grant("OR", &["compliantDevice"]),
            grant("OR", &["mfa", "compliantDevice"]),
            grant("AND", &["mfa", "compliantDevice"]),
            json!({"operator": "OR", "authenticationStrength": {"id": PHISHING_RESISTANT}}),
        ])
        .clone();
    p
}

fn random_sign(r: &mut Lcg) -> Sign {
    let who: &&'static str = r.pick(&[ALICE, BOB, BREAK_GLASS]);
    let mut s = sign(who.to_owned());
    if r.chance(40) {
        s.groups = vec![SALES.into()];
    }
    if r.chance(20) {
        s.roles = vec![ADMIN_ROLE.into()];
    }
    s.guest = r.chance(15);
    s.app = *r.pick(&[APP, OTHER_APP]);
    s.ip = Some(*r.pick(&["203.0.113.4", "198.51.100.4"]));
    s.country = *r.pick(&[Some("NL"), Some("KP"), None]);
    s.sign_in_risk = *r.pick(&[None, Some(RiskLevel::Low), Some(RiskLevel::High)]);
    s.platform = Some(*r.pick(&[Platform::Windows, Platform::IOs]));
    s.client = *r.pick(&[ClientAppType::Browser, ClientAppType::MobileAppsAndDesktopClients]);
    s.amr = r.pick(&[vec!["pwd"], vec!["pwd", "otp", "mfa"], vec!["fido", "hwk", "mfa"]]).clone();
    if r.chance(30) {
        s.device = Some(DeviceAttributes { is_compliant: Some(true), is_managed: Some(true), ..Default::default() });
    }
    s
}

/// How strict a decision is: allow, something the person can do (fewer or weaker steps are less
/// strict), a device they do not have, a block.
fn strictness(d: &Decision) -> (u8, Vec<Need>) {
    match d {
        Decision::Allow => (0, vec![]),
        Decision::Interrupt(n) => (1, n.clone()),
        Decision::DeviceRequired(_) => (2, vec![]),
        Decision::Block => (3, vec![]),
    }
}

fn no_stricter(after: &Decision, before: &Decision) -> bool {
    let (a, an) = strictness(after);
    let (b, bn) = strictness(before);
    a < b || (a == b && an.iter().all(|n| bn.iter().any(|m| m >= n)))
}

#[test]
fn properties_hold_over_random_policy_sets() {
    let mut r = Lcg(0x5eed_cafe);
    for round in 0..400 {
        let count = 1 + (r.next() % 12) as usize;
        let raw: Vec<Value> = (0..count).map(|_| random_policy(&mut r)).collect();
        let policies: Vec<Policy> = raw.iter().map(|v| policy(v.clone())).collect();
        let set = PolicySet::new(&policies, locations());
        let s = random_sign(&mut r);
        let e = run(&set, &s);

        // Block always wins.
        let blocks = e.policies.iter().any(|o| {
            o.applies
                && policies[o.index].state == PolicyState::Enabled
                && policies[o.index].grant_controls.as_ref().is_some_and(|g| g.built_in_controls.contains(&BuiltInControl::Block))
        });
        assert_eq!(blocks, e.decision == Decision::Block, "round {round}: {raw:?}");

        // Report-only (and disabled) policies never change the outcome: dropping them, or
        // turning every enforced one report-only, leaves an outcome of "allow".
        let enforced: Vec<Policy> = policies.iter().filter(|p| p.state == PolicyState::Enabled).cloned().collect();
        assert_eq!(run(&PolicySet::new(&enforced, locations()), &s).decision, e.decision, "round {round}");
        let all_report_only: Vec<Policy> = policies
            .iter()
            .cloned()
            .map(|mut p| {
                if p.state == PolicyState::Enabled {
                    p.state = PolicyState::EnabledForReportingButNotEnforced
                }
                p
            })
            .collect();
        assert_eq!(run(&PolicySet::new(&all_report_only, locations()), &s).decision, Decision::Allow, "round {round}");

        // Adding an exclusion (this user, or one of their groups) never makes it stricter.
        let k = (r.next() as usize) % raw.len();
        let mut excluded = raw.clone();
        let users = &mut excluded[k]["conditions"]["users"];
        if r.chance(50) {
            users["excludeUsers"] = json!([s.user]);
        } else {
            users["excludeGroups"] = json!([SALES]);
        }
        let looser: Vec<Policy> = excluded.iter().map(|v| policy(v.clone())).collect();
        let after = run(&PolicySet::new(&looser, locations()), &s).decision;
        assert!(no_stricter(&after, &e.decision), "round {round}: {after:?} after an exclusion, {:?} before; {raw:?}", e.decision);
    }
}

// ---- Reading policies ------------------------------------------------------------------------

#[test]
fn a_policy_read_from_graph_goes_back_in_and_comes_out_the_same() {
    let known = |id: &str| id == HQ;
    let sent = json!({
        "id": "0a31b9ab-be62-4f1b-b4a7-523940eb9f54", "templateId": null, "displayName": "Require MFA for admins off-network",
        "createdDateTime": "2025-05-15T14:11:02.0356168Z", "modifiedDateTime": null, "state": "enabledForReportingButNotEnforced",
        "conditions": {
            "userRiskLevels": [], "signInRiskLevels": ["high", "medium"], "servicePrincipalRiskLevels": [], "insiderRiskLevels": null,
            "clientAppTypes": ["all"], "platforms": {"includePlatforms": ["all"], "excludePlatforms": ["iOS"]},
            "locations": {"includeLocations": ["All"], "excludeLocations": ["AllTrusted", HQ]},
            "devices": {"deviceFilter": {"mode": "exclude", "rule": "device.extensionAttribute1 -eq \"SAW\""}},
            "clientApplications": null, "authenticationFlows": null,
            "applications": {"includeApplications": ["All"], "excludeApplications": [], "includeUserActions": [],
                             "includeAuthenticationContextClassReferences": [], "applicationFilter": null},
            "users": {"includeUsers": [], "excludeUsers": [BREAK_GLASS], "includeGroups": [], "excludeGroups": [SALES],
                      "includeRoles": [ADMIN_ROLE], "excludeRoles": [], "includeGuestsOrExternalUsers": null, "excludeGuestsOrExternalUsers": null}
        },
        "grantControls": {"operator": "OR", "builtInControls": ["mfa"], "customAuthenticationFactors": [], "termsOfUse": [],
                          "authenticationStrength@odata.context": "https://graph.microsoft.com/v1.0/$metadata#…", "authenticationStrength": null},
        "sessionControls": {"signInFrequency": {"isEnabled": true, "type": "hours", "value": 4, "authenticationType": "primaryAndSecondaryAuthentication", "frequencyInterval": "timeBased"},
                            "persistentBrowser": {"isEnabled": true, "mode": "never"}, "applicationEnforcedRestrictions": null,
                            "cloudAppSecurity": null, "disableResilienceDefaults": null}
    });
    let p = parse_policy(sent.clone(), &known).unwrap();
    let out = policy_json(&p);
    let again = parse_policy(out.clone(), &known).unwrap();
    assert_eq!(p, again);
    assert_eq!(out["conditions"]["signInRiskLevels"], json!(["high", "medium"]));
    assert_eq!(out["grantControls"]["authenticationStrength"], Value::Null);
    assert_eq!(out["conditions"]["clientApplications"], Value::Null);
    assert_eq!(out["conditions"]["users"]["includeRoles"], json!([ADMIN_ROLE]));
    // Every property Graph returns is there, null or empty as Graph has it.
    for key in [
        "id",
        "templateId",
        "displayName",
        "createdDateTime",
        "modifiedDateTime",
        "state",
        "conditions",
        "grantControls",
        "sessionControls",
    ] {
        assert!(out.get(key).is_some(), "{key}");
    }
    let strength =
        policy(base("enabled", users(json!(["All"])), json!({"operator": "OR", "authenticationStrength": {"id": PHISHING_RESISTANT}})));
    let shown = policy_json(&strength);
    assert_eq!(shown["grantControls"]["authenticationStrength"]["displayName"], "Phishing-resistant MFA");
    assert_eq!(policy(shown.clone()), strength, "the expanded strength goes back in");
}

#[test]
fn bad_policies_are_refused_with_a_reason() {
    let known = |id: &str| id == HQ;
    let ok = base("enabled", users(json!(["All"])), grant("OR", &["mfa"]));
    assert!(parse_policy(ok.clone(), &known).is_ok());
    type Edit = Box<dyn Fn(&mut Value)>;
    let edits: Vec<(&str, Edit)> = vec![
        ("unknown state", Box::new(|p| p["state"] = json!("on"))),
        ("unknown control", Box::new(|p| p["grantControls"]["builtInControls"] = json!(["mfaPlease"]))),
        ("unknown property", Box::new(|p| p["conditions"]["colour"] = json!("red"))),
        ("unknown risk", Box::new(|p| p["conditions"]["signInRiskLevels"] = json!(["extreme"]))),
        ("hidden risk", Box::new(|p| p["conditions"]["userRiskLevels"] = json!(["hidden"]))),
        ("unknown platform", Box::new(|p| p["conditions"]["platforms"] = json!({"includePlatforms": ["beos"]}))),
        ("not an id", Box::new(|p| p["conditions"]["users"]["includeUsers"] = json!(["alice"]))),
        ("missing location", Box::new(|p| p["conditions"]["locations"] = json!({"includeLocations": [EMBARGO]}))),
        ("no applications", Box::new(|p| p["conditions"].as_object_mut().unwrap().retain(|k, _| k != "applications"))),
        ("no one", Box::new(|p| p["conditions"]["users"] = json!({"excludeUsers": [BOB]}))),
        ("users and workloads", Box::new(|p| p["conditions"]["clientApplications"] = json!({"includeServicePrincipals": [SP]}))),
        ("block and more", Box::new(|p| p["grantControls"]["builtInControls"] = json!(["block", "mfa"]))),
        ("app protection", Box::new(|p| p["grantControls"]["builtInControls"] = json!(["approvedApplication"]))),
        ("terms of use", Box::new(|p| p["grantControls"]["termsOfUse"] = json!(["x"]))),
        ("unknown strength", Box::new(|p| p["grantControls"] = json!({"operator": "OR", "authenticationStrength": {"id": BOB}}))),
        ("mfa and strength", Box::new(|p| p["grantControls"]["authenticationStrength"] = json!({"id": PHISHING_RESISTANT}))),
        ("bad operator", Box::new(|p| p["grantControls"]["operator"] = json!("XOR"))),
        ("password change alone", Box::new(|p| p["grantControls"] = grant("AND", &["passwordChange"]))),
        (
            "bad rule",
            Box::new(|p| p["conditions"]["devices"] = json!({"deviceFilter": {"mode": "include", "rule": "device.colour -eq \"red\""}})),
        ),
        (
            "bad frequency",
            Box::new(|p| p["sessionControls"] = json!({"signInFrequency": {"isEnabled": true, "type": "hours", "value": 48}})),
        ),
        (
            "persistent browser for one app",
            Box::new(|p| {
                p["conditions"]["applications"] = json!({"includeApplications": [APP]});
                p["sessionControls"] = json!({"persistentBrowser": {"isEnabled": true, "mode": "never"}});
            }),
        ),
        (
            "report-only user action",
            Box::new(|p| {
                p["state"] = json!("enabledForReportingButNotEnforced");
                p["conditions"]["applications"] = json!({"includeUserActions": ["urn:user:registersecurityinfo"]});
            }),
        ),
        ("two targets", Box::new(|p| p["conditions"]["applications"]["includeUserActions"] = json!(["urn:user:registersecurityinfo"]))),
        ("no such user action", Box::new(|p| p["conditions"]["applications"] = json!({"includeUserActions": ["urn:user:registerdevice"]}))),
        ("Microsoft's apps", Box::new(|p| p["conditions"]["applications"]["includeApplications"] = json!(["Office365"]))),
        (
            "authentication transfer",
            Box::new(|p| p["conditions"]["authenticationFlows"] = json!({"transferMethods": "authenticationTransfer"})),
        ),
        ("risk none", Box::new(|p| p["conditions"]["userRiskLevels"] = json!(["none", "high"]))),
        ("context c0", Box::new(|p| p["conditions"]["applications"] = json!({"includeAuthenticationContextClassReferences": ["c0"]}))),
        ("insider risk", Box::new(|p| p["conditions"]["insiderRiskLevels"] = json!("elevated"))),
        ("empty name", Box::new(|p| p["displayName"] = json!(" "))),
        ("no controls", Box::new(|p| p.as_object_mut().unwrap().retain(|k, _| k != "grantControls"))),
        ("long list", Box::new(|p| p["conditions"]["users"]["excludeUsers"] = json!(vec![BOB; MAX_LIST_LEN + 1]))),
    ];
    for (what, edit) in edits {
        let mut p = ok.clone();
        edit(&mut p);
        assert!(parse_policy(p.clone(), &known).is_err(), "{what} was accepted: {p}");
    }
    assert!(parse_policy(json!([]), &known).is_err());
    // A workload-identity policy can only block.
    let sp = json!({"displayName": "sp", "state": "enabled", "conditions": {"clientApplications": {"includeServicePrincipals": [SP]},
        "applications": {"includeApplications": ["All"]}}, "grantControls": grant("OR", &["mfa"])});
    assert!(parse_policy(sp, &known).is_err());
}

#[test]
fn a_patch_merges_into_the_stored_policy() {
    let mut stored = policy_json(&policy(base("enabled", users(json!(["All"])), grant("OR", &["mfa"]))));
    merge(&mut stored, &json!({"state": "disabled", "conditions": {"signInRiskLevels": ["high"]}}));
    let p = policy(stored);
    assert_eq!(p.state, PolicyState::Disabled);
    assert_eq!(p.conditions.sign_in_risk_levels, [RiskLevel::High]);
    assert_eq!(p.conditions.users.unwrap().include_users, ["All"], "the rest of conditions is kept");
}

#[test]
fn ids_match_whatever_their_letter_case() {
    let mut s = sign(ALICE);
    let mixed = "aBcDeF01-2345-6789-abcd-EF0123456789";
    let p = one(base("enabled", json!({"includeUsers": ["All"], "excludeGroups": [mixed]}), grant("OR", &["block"])));
    assert_eq!(run(&p, &s).decision, Decision::Block);
    s.groups = vec![mixed.to_ascii_lowercase()];
    assert_eq!(run(&p, &s).decision, Decision::Allow, "the group matches in either case");
    s.groups = vec!["not-a-guid".into()];
    assert_eq!(run(&p, &s).decision, Decision::Block, "something that is not an id matches nothing");
}

#[test]
fn an_id_counts_only_in_a_list_of_its_own_kind() {
    // A group's id written among excluded users is not an exclusion of the group's members.
    let p = one(base("enabled", json!({"includeUsers": ["All"], "excludeUsers": [SALES]}), grant("OR", &["block"])));
    let mut s = sign(BOB);
    s.groups = vec![SALES.into()];
    assert_eq!(run(&p, &s).decision, Decision::Block);
    // Nor is a user's id among included roles an inclusion of that user.
    let p = one(base("enabled", json!({"includeRoles": [BOB]}), grant("OR", &["block"])));
    assert_eq!(run(&p, &sign(BOB)).decision, Decision::Allow);
}
