//! Who is calling, and what they may do.
//!
//! - [`token`]: bearer JWTs. User tokens are verified against an asymmetric key set (JWKS file or URL) or, for
//!   local development only, a symmetric secret ([`jwks`] fetches a key set from a URL); service tokens (service-to-service calls) are signed with
//!   the service secret and carry the organization they act for and the original user.
//! - [`registry`]: the organizations the deployment serves; a token naming any other is refused.
//! - [`policy`]: the table of which role may call which RPC (mirrored in `docs/security.md`).
//! - [`layer`]: the one tower layer every server runs: authenticates, checks the organization and the
//!   policy, applies the per-organization rate limit, and hands the [`Caller`] to handlers through request
//!   extensions.
//! - [`client`]: the interceptor peers use to call each other with a service token that carries the end
//!   user (organization and user id) on whose behalf the call is made.
//! - [`phi`]: a wrapper for personal health information whose `Debug`/`Display` print a redaction.
//! - [`crypto`]: AES-GCM field encryption with key ids and rotation.
//!
//! The rule every service keeps (docs/security.md, "Care relationships"): access is decided for the
//! organization in [`Caller::organization_id`] — for a peer service, the organization of the end user it
//! acts for, never the service itself. The `service` role opens a few service-only operations (naming a
//! capacity hold, delivering a capacity event, asking intake about a care relationship); it never widens
//! whose records a call may reach.

pub mod client;
pub mod crypto;
pub mod jwks;
pub mod layer;
pub mod phi;
pub mod policy;
mod rate;
mod recent;
pub mod registry;
pub mod token;

use serde::{Deserialize, Serialize};

pub use client::{OnBehalfOf, ServiceAuth, on_behalf_of};
pub use layer::AuthLayer;
pub use phi::Phi;
pub use registry::Registry;
pub use token::{AuthSettings, Claims, Minter, Verifier};

/// A role a caller holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// Enters intakes for a clinic.
    IntakeClerk,
    /// A clinician: reads and re-screens their organization's clients, records session feedback.
    Clinician,
    /// A care coordinator: manages referrals and waitlists of their organization.
    Coordinator,
    /// Maintains their organization's directory entries and capacity.
    ProviderAdmin,
    /// Operations: health, metrics and the audit log; never clinical records.
    Ops,
    /// Another Continuum service acting for a user of the organization named in its token.
    Service,
}

impl Role {
    /// Every role.
    pub const ALL: [Role; 6] = [
        Role::IntakeClerk,
        Role::Clinician,
        Role::Coordinator,
        Role::ProviderAdmin,
        Role::Ops,
        Role::Service,
    ];

    /// Stable code (as in tokens).
    pub fn code(self) -> &'static str {
        match self {
            Role::IntakeClerk => "intake_clerk",
            Role::Clinician => "clinician",
            Role::Coordinator => "coordinator",
            Role::ProviderAdmin => "provider_admin",
            Role::Ops => "ops",
            Role::Service => "service",
        }
    }

    /// From a stable code.
    pub fn from_code(code: &str) -> Option<Role> {
        Role::ALL.into_iter().find(|r| r.code() == code)
    }
}

/// The authenticated caller of one request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Caller {
    /// User id (`sub`), or `service:<name>` for a peer service.
    pub user_id: String,
    /// The organization the caller belongs to, or whose user a peer service acts for; always lowercase.
    /// Every access decision is made for this organization.
    pub organization_id: String,
    /// Roles held.
    pub roles: Vec<Role>,
    /// For service calls: the user who started the work, when there was one.
    pub acting_for: Option<String>,
}

impl Caller {
    /// Whether the caller holds `role`.
    pub fn has(&self, role: Role) -> bool {
        self.roles.contains(&role)
    }

    /// Whether this is a peer service acting for a user of [`Caller::organization_id`]. It opens
    /// service-only operations; it never widens whose records the call reaches.
    pub fn is_service(&self) -> bool {
        self.has(Role::Service)
    }

    /// Whether this is the peer service `name` itself: a token verified with the service secret whose
    /// `svc` claim is `name` (a user token naming itself `service:<name>` holds no `service` role).
    pub fn is_peer(&self, name: &str) -> bool {
        self.is_service() && self.user_id.strip_prefix("service:") == Some(name)
    }

    /// Whether the caller belongs to (or, as a peer service, acts for) `organization_id`. The same answer
    /// for people and services: there is no organization a service may reach that its user could not.
    pub fn belongs_to(&self, organization_id: &str) -> bool {
        self.organization_id.eq_ignore_ascii_case(organization_id)
    }

    /// The user to record in audit rows and events.
    pub fn audit_user(&self) -> &str {
        self.acting_for.as_deref().unwrap_or(&self.user_id)
    }
}

/// The caller the auth layer attached to `req`; `UNAUTHENTICATED` when there is none (a server built
/// without the layer, which production never is).
pub fn caller<T>(req: &tonic::Request<T>) -> Result<Caller, tonic::Status> {
    req.extensions()
        .get::<Caller>()
        .cloned()
        .ok_or_else(|| tonic::Status::unauthenticated("missing credentials"))
}
