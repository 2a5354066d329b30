//! The attribute definitions of RFC 7643: common attributes (§3.1), User (§4.1, §8.7.1), Enterprise User (§4.3,
//! §8.7.2) and Group (§4.2, §8.7.1), as `static` data.

use super::AttributeType::{Binary, Boolean, DateTime};
use super::Mutability::{Immutable, ReadOnly, WriteOnly};
use super::{Attribute, ResourceSchema, Returned, Schema, SchemaExtension, Storage, Uniqueness};
use crate::{ENTERPRISE_USER_URN, GROUP_URN, MICROSOFT_GROUP_URN, USER_URN};

/// §3.1 common attributes, resolvable on every resource type but not listed in any Schema resource. `schemas` is
/// not an attribute in the RFC; it is here so filters such as `schemas eq "urn:…"` (RFC 7644 §3.4.2.2) resolve,
/// and read-only so PATCH cannot list unknown schemas (writes and PATCH maintain it themselves).
pub static COMMON_ATTRIBUTES: [Attribute; 4] = [
    Attribute::reference("schemas", &["uri"], "The URIs of the schemas the resource conforms to.")
        .multi_valued()
        .mutability(ReadOnly)
        .returned(Returned::Always),
    Attribute::string("id", "Unique identifier for the resource, assigned by the service provider.")
        .case_exact()
        .mutability(ReadOnly)
        .returned(Returned::Always)
        .uniqueness(Uniqueness::Server),
    Attribute::string("externalId", "An identifier for the resource as defined by the provisioning client.").case_exact(),
    Attribute::complex("meta", &META, "Resource metadata assigned by the service provider.").mutability(ReadOnly),
];

static META: [Attribute; 5] = [
    Attribute::string("resourceType", "The name of the resource type of the resource.").case_exact().mutability(ReadOnly),
    Attribute::new("created", DateTime, "The time the resource was added to the service provider.").mutability(ReadOnly),
    Attribute::new("lastModified", DateTime, "The most recent time the resource was updated.").mutability(ReadOnly),
    Attribute::reference("location", &["uri"], "The URI of the resource being returned.").case_exact().mutability(ReadOnly),
    Attribute::string("version", "The version (entity tag) of the resource being returned.").case_exact().mutability(ReadOnly),
];

pub static USER_SCHEMA: Schema = Schema { id: USER_URN, name: "User", description: "User Account", attributes: &USER_ATTRIBUTES };

pub static ENTERPRISE_USER_SCHEMA: Schema =
    Schema { id: ENTERPRISE_USER_URN, name: "EnterpriseUser", description: "Enterprise User", attributes: &ENTERPRISE_ATTRIBUTES };

pub static GROUP_SCHEMA: Schema = Schema { id: GROUP_URN, name: "Group", description: "Group", attributes: &GROUP_ATTRIBUTES };

/// `/Users`: core User plus the optional Enterprise User extension.
pub static USER: ResourceSchema = ResourceSchema {
    name: "User",
    endpoint: "/Users",
    description: "User Account",
    core: &USER_SCHEMA,
    extensions: &[SchemaExtension { schema: &ENTERPRISE_USER_SCHEMA, required: false }],
    tolerated_schemas: &[],
};

/// `/Groups`. Entra sends its own group URN in `schemas` (entra-apis.md §4.2); it defines no attributes.
pub static GROUP: ResourceSchema = ResourceSchema {
    name: "Group",
    endpoint: "/Groups",
    description: "Group",
    core: &GROUP_SCHEMA,
    extensions: &[],
    tolerated_schemas: &[MICROSOFT_GROUP_URN],
};

const PRIMARY: Attribute = Attribute::new("primary", Boolean, "Whether this is the preferred value; at most one value may be primary.");
const DISPLAY: Attribute = Attribute::string("display", "A human-readable name, primarily used for display purposes.");

static USER_ATTRIBUTES: [Attribute; 21] = [
    Attribute::string("userName", "Unique identifier for the User, typically used to sign in. REQUIRED.")
        .required()
        .uniqueness(Uniqueness::Server),
    Attribute::complex("name", &NAME, "The components of the user's real name."),
    Attribute::string("displayName", "The name of the User, suitable for display to end-users."),
    Attribute::string("nickName", "The casual way to address the user in real life."),
    Attribute::reference("profileUrl", &["external"], "A fully qualified URL pointing to a page representing the User's online profile."),
    Attribute::string("title", "The user's title, such as \"Vice President\"."),
    Attribute::string("userType", "Identifies the relationship between the organization and the user, e.g. \"Employee\"."),
    Attribute::string("preferredLanguage", "The User's preferred written or spoken language, e.g. \"en-US\"."),
    Attribute::string("locale", "The User's default location for localizing items, e.g. \"en-US\"."),
    Attribute::string("timezone", "The User's time zone in the IANA Time Zone database format, e.g. \"America/Los_Angeles\"."),
    Attribute::new("active", Boolean, "The User's administrative status."),
    Attribute::string("password", "The User's cleartext password, used to set or replace it. Never returned.")
        .mutability(WriteOnly)
        .returned(Returned::Never),
    Attribute::complex("emails", &EMAILS, "Email addresses for the user.").multi_valued(),
    Attribute::complex("phoneNumbers", &PHONE_NUMBERS, "Phone numbers for the User.").multi_valued(),
    Attribute::complex("ims", &IMS, "Instant messaging addresses for the User.").multi_valued(),
    Attribute::complex("photos", &PHOTOS, "URLs of photos of the User.").multi_valued(),
    Attribute::complex("addresses", &ADDRESSES, "A physical mailing address for this User.").multi_valued(),
    Attribute::complex(
        "groups",
        &USER_GROUPS,
        "The groups the user belongs to, direct or indirect. Read-only: change membership on the Group.",
    )
    .multi_valued()
    .mutability(ReadOnly),
    Attribute::complex("entitlements", &ENTITLEMENTS, "A list of entitlements for the User.").multi_valued(),
    Attribute::complex("roles", &ROLES, "A list of roles for the User.").multi_valued(),
    Attribute::complex("x509Certificates", &CERTIFICATES, "A list of certificates issued to the User.").multi_valued(),
];

static NAME: [Attribute; 6] = [
    Attribute::string("formatted", "The full name, including all middle names, titles and suffixes, formatted for display."),
    Attribute::string("familyName", "The family name of the User (last name in most Western languages)."),
    Attribute::string("givenName", "The given name of the User (first name in most Western languages)."),
    Attribute::string("middleName", "The middle name(s) of the User."),
    Attribute::string("honorificPrefix", "The honorific prefix(es) of the User, e.g. \"Ms.\"."),
    Attribute::string("honorificSuffix", "The honorific suffix(es) of the User, e.g. \"III\"."),
];

static EMAILS: [Attribute; 4] = [
    Attribute::string("value", "Email address for the user, canonicalized per RFC 5321."),
    DISPLAY,
    Attribute::string("type", "A label indicating the email's function, e.g. \"work\" or \"home\".")
        .canonical_values(&["work", "home", "other"]),
    PRIMARY,
];

static PHONE_NUMBERS: [Attribute; 4] = [
    Attribute::string("value", "Phone number of the User."),
    DISPLAY,
    Attribute::string("type", "A label indicating the phone number's function, e.g. \"work\" or \"mobile\".")
        .canonical_values(&["work", "home", "mobile", "fax", "pager", "other"]),
    PRIMARY,
];

static IMS: [Attribute; 4] = [
    Attribute::string("value", "Instant messaging address for the User."),
    DISPLAY,
    Attribute::string("type", "A label indicating the IM service, e.g. \"xmpp\".")
        .canonical_values(&["aim", "gtalk", "icq", "xmpp", "msn", "skype", "qq", "yahoo"]),
    PRIMARY,
];

static PHOTOS: [Attribute; 4] = [
    Attribute::reference("value", &["external"], "URL of a photo of the User."),
    DISPLAY,
    Attribute::string("type", "A label indicating the photo's function, \"photo\" or \"thumbnail\".")
        .canonical_values(&["photo", "thumbnail"]),
    PRIMARY,
];

static ADDRESSES: [Attribute; 8] = [
    Attribute::string("formatted", "The full mailing address, formatted for display or use with a mailing label."),
    Attribute::string("streetAddress", "The full street address component."),
    Attribute::string("locality", "The city or locality component."),
    Attribute::string("region", "The state or region component."),
    Attribute::string("postalCode", "The zip code or postal code component."),
    Attribute::string("country", "The country name component, in ISO 3166-1 alpha-2 code format."),
    Attribute::string("type", "A label indicating the address's function, e.g. \"work\" or \"home\".")
        .canonical_values(&["work", "home", "other"]),
    PRIMARY,
];

static USER_GROUPS: [Attribute; 4] = [
    Attribute::string("value", "The identifier of the User's group.").mutability(ReadOnly),
    Attribute::reference("$ref", &["User", "Group"], "The URI of the corresponding Group resource.").mutability(ReadOnly),
    Attribute::string("display", "A human-readable name, primarily used for display purposes.").mutability(ReadOnly),
    Attribute::string("type", "Whether the membership is direct or indirect (through another group).")
        .canonical_values(&["direct", "indirect"])
        .mutability(ReadOnly),
];

static ENTITLEMENTS: [Attribute; 4] = [
    Attribute::string("value", "The value of an entitlement."),
    DISPLAY,
    Attribute::string("type", "A label indicating the entitlement's function."),
    PRIMARY,
];

static ROLES: [Attribute; 4] = [
    Attribute::string("value", "The value of a role."),
    DISPLAY,
    Attribute::string("type", "A label indicating the role's function."),
    PRIMARY,
];

static CERTIFICATES: [Attribute; 4] = [
    Attribute::new("value", Binary, "The value of an X.509 certificate (base64 DER)."),
    DISPLAY,
    Attribute::string("type", "A label indicating the certificate's function."),
    PRIMARY,
];

static ENTERPRISE_ATTRIBUTES: [Attribute; 6] = [
    Attribute::string("employeeNumber", "Numeric or alphanumeric identifier assigned to a person by the organization."),
    Attribute::string("costCenter", "Identifies the name of a cost center."),
    Attribute::string("organization", "Identifies the name of an organization."),
    Attribute::string("division", "Identifies the name of a division."),
    Attribute::string("department", "Identifies the name of a department."),
    Attribute::complex("manager", &MANAGER, "The User's manager."),
];

static MANAGER: [Attribute; 3] = [
    Attribute::string("value", "The id of the SCIM resource representing the User's manager."),
    Attribute::reference("$ref", &["User"], "The URI of the SCIM resource representing the User's manager."),
    Attribute::string("displayName", "The displayName of the User's manager.").mutability(ReadOnly),
];

/// RFC 7643 §8.7.1 lists Group `displayName` with `"required": false` while its description says REQUIRED; Entra
/// needs it and matches groups by it, so Ward requires it and keeps it unique per tenant.
static GROUP_ATTRIBUTES: [Attribute; 2] = [
    Attribute::string("displayName", "A human-readable name for the Group. REQUIRED.").required().uniqueness(Uniqueness::Server),
    Attribute::complex("members", &MEMBERS, "A list of members of the Group.").multi_valued().storage(Storage::ExternalMembers),
];

static MEMBERS: [Attribute; 4] = [
    Attribute::string("value", "Identifier of the member of this Group.").mutability(Immutable),
    Attribute::reference("$ref", &["User", "Group"], "The URI of the member resource.").mutability(Immutable),
    Attribute::string("display", "A human-readable name of the member.").mutability(ReadOnly),
    Attribute::string("type", "The type of the member, \"User\" or \"Group\".").canonical_values(&["User", "Group"]).mutability(Immutable),
];
