//! Calling a peer service: every outgoing request carries a short-lived service token that names the
//! organization the work is for and the user who started it, and the W3C trace context of the caller. Callers attach [`OnBehalfOf`] to the
//! request (see [`on_behalf_of`]); the [`ServiceAuth`] interceptor on the channel mints the token.

use std::time::Duration;

use tonic::metadata::MetadataValue;
use tonic::{Request, Status};

use crate::token::Minter;

/// The organization named in service tokens for background work that acts for no single tenant (for
/// example giving a provider's slot back). Receivers trust the `service` role, not this value.
pub const SYSTEM_ORGANIZATION: &str = "continuum-system";

/// Whom an outgoing request is for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OnBehalfOf {
    /// Organization the work is for.
    pub organization_id: String,
    /// The user who started it, if any (background work has none).
    pub user_id: Option<String>,
}

/// Wraps `message` in a request marked as made for `organization_id` (and `user_id`).
pub fn on_behalf_of<T>(message: T, organization_id: &str, user_id: Option<&str>) -> Request<T> {
    let mut req = Request::new(message);
    req.extensions_mut().insert(OnBehalfOf { organization_id: organization_id.to_owned(), user_id: user_id.map(str::to_owned) });
    req
}

/// Client interceptor adding a service token to every call.
#[derive(Clone, Debug)]
pub struct ServiceAuth {
    service: &'static str,
    minter: Minter,
}

impl ServiceAuth {
    /// An interceptor for calls made by `service`.
    pub fn new(service: &'static str, minter: Minter) -> Self {
        Self { service, minter }
    }
}

impl tonic::service::Interceptor for ServiceAuth {
    fn call(&mut self, mut req: Request<()>) -> Result<Request<()>, Status> {
        let who = req
            .extensions()
            .get::<OnBehalfOf>()
            .cloned()
            .ok_or_else(|| Status::internal("outgoing call without an organization (on_behalf_of missing)"))?;
        let token = self
            .minter
            .service_token(self.service, &who.organization_id, who.user_id.as_deref(), Duration::from_secs(120))
            .map_err(|_| Status::internal("minting a service token failed"))?;
        let value = MetadataValue::try_from(format!("Bearer {token}")).map_err(|_| Status::internal("service token is not a header value"))?;
        req.metadata_mut().insert("authorization", value);
        // The callee's span joins the caller's trace (W3C trace context).
        continuum_telemetry::inject(req.metadata_mut());
        Ok(req)
    }
}
