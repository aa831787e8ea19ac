//! Calling a peer service: every outgoing request carries a short-lived service token that names the end
//! user on whose behalf the call is made — their organization and user id, or for background work the
//! organization (and user) recorded when the work was accepted — and the W3C trace context of the caller.
//! The receiving service decides access for that organization exactly as for the user calling it
//! directly. Callers attach [`OnBehalfOf`] to the request (see [`on_behalf_of`]); the [`ServiceAuth`]
//! interceptor on the channel mints the token. There is no "system" organization: work that acts for
//! nobody in particular does not exist.

use std::time::Duration;

use tonic::metadata::MetadataValue;
use tonic::{Request, Status};

use crate::token::Minter;

/// Whom an outgoing request is for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OnBehalfOf {
    /// Organization the work is for.
    pub organization_id: String,
    /// The user who started it, if any (background work has none).
    pub user_id: Option<String>,
}

impl OnBehalfOf {
    /// The end user behind `caller`: their organization and user id (for a peer service, the user it acts
    /// for), so a call made while serving `caller` is decided downstream exactly as for them.
    pub fn caller(caller: &crate::Caller) -> Self {
        Self {
            organization_id: caller.organization_id.clone(),
            user_id: Some(caller.audit_user().to_owned()),
        }
    }

    /// Background work for `organization_id` and the user recorded when the work was accepted, if any.
    pub fn recorded(organization_id: &str, user_id: Option<&str>) -> Self {
        Self {
            organization_id: organization_id.to_owned(),
            user_id: user_id.filter(|u| !u.is_empty()).map(str::to_owned),
        }
    }

    /// Wraps `message` in a request made for this end user.
    pub fn request<T>(&self, message: T) -> Request<T> {
        on_behalf_of(message, &self.organization_id, self.user_id.as_deref())
    }
}

/// Wraps `message` in a request marked as made for `organization_id` (and `user_id`).
pub fn on_behalf_of<T>(message: T, organization_id: &str, user_id: Option<&str>) -> Request<T> {
    let mut req = Request::new(message);
    req.extensions_mut().insert(OnBehalfOf {
        organization_id: organization_id.to_owned(),
        user_id: user_id.map(str::to_owned),
    });
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
        let who = req.extensions().get::<OnBehalfOf>().cloned().ok_or_else(|| {
            Status::internal("outgoing call without an organization (on_behalf_of missing)")
        })?;
        let token = self
            .minter
            .service_token(
                self.service,
                &who.organization_id,
                who.user_id.as_deref(),
                Duration::from_secs(120),
            )
            .map_err(|_| Status::internal("minting a service token failed"))?;
        let value = MetadataValue::try_from(format!("Bearer {token}"))
            .map_err(|_| Status::internal("service token is not a header value"))?;
        req.metadata_mut().insert("authorization", value);
        // The callee's span joins the caller's trace (W3C trace context).
        continuum_telemetry::inject(req.metadata_mut());
        Ok(req)
    }
}
