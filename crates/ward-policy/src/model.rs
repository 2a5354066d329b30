//! `conditionalAccessPolicy` as Graph writes and reads it (entra-apis.md §2.1–§2.4). Input is
//! read strictly: unknown properties and enum values are refused, OData annotations and the
//! read-only properties a GET returns are ignored, so what a client read can be sent back.

use serde::{Deserialize, Deserializer, Serialize};

/// `null` read as an empty list: Graph returns both, and clients send back what they read.
fn list<'de, D: Deserializer<'de>, T: Deserialize<'de>>(d: D) -> Result<Vec<T>, D::Error> {
    Ok(Option::<Vec<T>>::deserialize(d)?.unwrap_or_default())
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Policy {
    #[serde(default)]
    pub id: String,
    #[serde(default)]
    pub template_id: Option<String>,
    pub display_name: String,
    #[serde(default)]
    pub description: Option<String>,
    #[serde(default)]
    pub created_date_time: Option<String>,
    #[serde(default)]
    pub modified_date_time: Option<String>,
    pub state: PolicyState,
    pub conditions: Conditions,
    #[serde(default)]
    pub grant_controls: Option<GrantControls>,
    #[serde(default)]
    pub session_controls: Option<SessionControls>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum PolicyState {
    Enabled,
    Disabled,
    EnabledForReportingButNotEnforced,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Conditions {
    #[serde(default, deserialize_with = "list")]
    pub user_risk_levels: Vec<RiskLevel>,
    #[serde(default, deserialize_with = "list")]
    pub sign_in_risk_levels: Vec<RiskLevel>,
    #[serde(default, deserialize_with = "list")]
    pub service_principal_risk_levels: Vec<RiskLevel>,
    /// Ward has no insider-risk signal: only `null` is accepted.
    #[serde(default)]
    pub insider_risk_levels: Option<String>,
    #[serde(default, deserialize_with = "list")]
    pub client_app_types: Vec<ClientAppType>,
    #[serde(default)]
    pub platforms: Option<Platforms>,
    #[serde(default)]
    pub locations: Option<Locations>,
    #[serde(default)]
    pub devices: Option<Devices>,
    #[serde(default)]
    pub client_applications: Option<ClientApplications>,
    #[serde(default)]
    pub authentication_flows: Option<AuthenticationFlows>,
    #[serde(default)]
    pub applications: Option<Applications>,
    #[serde(default)]
    pub users: Option<Users>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum RiskLevel {
    None,
    Low,
    Medium,
    High,
    Hidden,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum ClientAppType {
    All,
    Browser,
    MobileAppsAndDesktopClients,
    ExchangeActiveSync,
    EasSupported,
    Other,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Platform {
    #[serde(rename = "android")]
    Android,
    #[serde(rename = "iOS")]
    IOs,
    #[serde(rename = "windows")]
    Windows,
    #[serde(rename = "windowsPhone")]
    WindowsPhone,
    #[serde(rename = "macOS")]
    MacOs,
    #[serde(rename = "linux")]
    Linux,
    #[serde(rename = "all")]
    All,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Platforms {
    #[serde(default, deserialize_with = "list")]
    pub include_platforms: Vec<Platform>,
    #[serde(default, deserialize_with = "list")]
    pub exclude_platforms: Vec<Platform>,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Locations {
    #[serde(default, deserialize_with = "list")]
    pub include_locations: Vec<String>,
    #[serde(default, deserialize_with = "list")]
    pub exclude_locations: Vec<String>,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Devices {
    #[serde(default)]
    pub device_filter: Option<Filter>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Filter {
    pub mode: FilterMode,
    pub rule: String,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum FilterMode {
    Include,
    Exclude,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ClientApplications {
    #[serde(default, deserialize_with = "list")]
    pub include_service_principals: Vec<String>,
    #[serde(default, deserialize_with = "list")]
    pub exclude_service_principals: Vec<String>,
    /// Custom security attributes: not in Ward, only `null` is accepted.
    #[serde(default)]
    pub service_principal_filter: Option<Filter>,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct AuthenticationFlows {
    /// Graph's flags string: `deviceCodeFlow`, `authenticationTransfer`, comma-separated.
    pub transfer_methods: String,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Applications {
    #[serde(default, deserialize_with = "list")]
    pub include_applications: Vec<String>,
    #[serde(default, deserialize_with = "list")]
    pub exclude_applications: Vec<String>,
    #[serde(default, deserialize_with = "list")]
    pub include_user_actions: Vec<String>,
    #[serde(default, deserialize_with = "list")]
    pub include_authentication_context_class_references: Vec<String>,
    /// Custom security attributes: not in Ward, only `null` is accepted.
    #[serde(default)]
    pub application_filter: Option<Filter>,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Users {
    #[serde(default, deserialize_with = "list")]
    pub include_users: Vec<String>,
    #[serde(default, deserialize_with = "list")]
    pub exclude_users: Vec<String>,
    #[serde(default, deserialize_with = "list")]
    pub include_groups: Vec<String>,
    #[serde(default, deserialize_with = "list")]
    pub exclude_groups: Vec<String>,
    #[serde(default, deserialize_with = "list")]
    pub include_roles: Vec<String>,
    #[serde(default, deserialize_with = "list")]
    pub exclude_roles: Vec<String>,
    #[serde(default)]
    pub include_guests_or_external_users: Option<GuestsOrExternalUsers>,
    #[serde(default)]
    pub exclude_guests_or_external_users: Option<GuestsOrExternalUsers>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct GuestsOrExternalUsers {
    /// Graph's flags string, e.g. `internalGuest,b2bCollaborationGuest`.
    pub guest_or_external_user_types: String,
    #[serde(default)]
    pub external_tenants: Option<ExternalTenants>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ExternalTenants {
    #[serde(rename = "@odata.type", default, skip_deserializing)]
    pub odata_type: String,
    pub membership_kind: String,
    #[serde(default, deserialize_with = "list", skip_serializing_if = "Vec::is_empty")]
    pub members: Vec<String>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct GrantControls {
    pub operator: Operator,
    #[serde(default, deserialize_with = "list")]
    pub built_in_controls: Vec<BuiltInControl>,
    /// Not in Ward: only an empty list is accepted.
    #[serde(default, deserialize_with = "list")]
    pub custom_authentication_factors: Vec<String>,
    /// Not in Ward: only an empty list is accepted.
    #[serde(default, deserialize_with = "list")]
    pub terms_of_use: Vec<String>,
    #[serde(default)]
    pub authentication_strength: Option<StrengthRef>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Operator {
    #[serde(rename = "AND")]
    And,
    #[serde(rename = "OR")]
    Or,
}

/// In the order Entra asks for unmet controls (§2.7).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum BuiltInControl {
    Block,
    Mfa,
    CompliantDevice,
    DomainJoinedDevice,
    /// App protection: Ward has none, so refused at write.
    ApprovedApplication,
    /// App protection: Ward has none, so refused at write.
    CompliantApplication,
    PasswordChange,
}

/// A reference to an authentication strength. On output the built-in strength's description is
/// filled in; on input only `id` counts (a whole object read from a GET is accepted).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct StrengthRef {
    pub id: String,
    #[serde(default, skip_deserializing, skip_serializing_if = "Option::is_none")]
    pub display_name: Option<String>,
    #[serde(default, skip_deserializing, skip_serializing_if = "Option::is_none")]
    pub policy_type: Option<String>,
    #[serde(default, skip_deserializing, skip_serializing_if = "Option::is_none")]
    pub requirements_satisfied: Option<String>,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SessionControls {
    #[serde(default)]
    pub application_enforced_restrictions: Option<Enabled>,
    #[serde(default)]
    pub cloud_app_security: Option<serde_json::Value>,
    #[serde(default)]
    pub persistent_browser: Option<PersistentBrowser>,
    #[serde(default)]
    pub sign_in_frequency: Option<SignInFrequency>,
    #[serde(default)]
    pub disable_resilience_defaults: Option<bool>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Enabled {
    pub is_enabled: bool,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PersistentBrowser {
    pub is_enabled: bool,
    #[serde(default)]
    pub mode: Option<PersistentBrowserMode>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum PersistentBrowserMode {
    Always,
    Never,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SignInFrequency {
    pub is_enabled: bool,
    #[serde(default, rename = "type")]
    pub kind: Option<FrequencyUnit>,
    #[serde(default)]
    pub value: Option<u32>,
    #[serde(default)]
    pub authentication_type: Option<FrequencyAuthenticationType>,
    #[serde(default)]
    pub frequency_interval: Option<FrequencyInterval>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum FrequencyUnit {
    Days,
    Hours,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum FrequencyAuthenticationType {
    PrimaryAndSecondaryAuthentication,
    SecondaryAuthentication,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum FrequencyInterval {
    TimeBased,
    EveryTime,
}

/// Built-in authentication strengths (Entra's ids), with what each requires of a sign-in's `amr`.
pub const STRENGTHS: [(&str, &str); 3] = [
    ("00000000-0000-0000-0000-000000000002", "Multifactor authentication"),
    ("00000000-0000-0000-0000-000000000003", "Passwordless MFA"),
    ("00000000-0000-0000-0000-000000000004", "Phishing-resistant MFA"),
];
