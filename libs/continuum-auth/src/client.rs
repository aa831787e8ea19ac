//! Calling a peer service: every outgoing request carries a short-lived service token that names the end
//! user on whose behalf the call is made — their organization and user id, or for background work the
//! organization (and user) recorded when the work was accepted — and the W3C trace context of the caller.
//! The receiving service decides access for that organization exactly as for the user calling it
//! directly. Callers attach [`OnBehalfOf`] to the request (see [`on_behalf_of`]); the [`ServiceAuth`]
//! interceptor on the channel mints the token. There is no "system" organization: work that acts for
//! nobody in particular does not exist.

use std::sync::Arc;
use std::time::{Duration, Instant};

use tonic::metadata::{Ascii, MetadataValue};
use tonic::{Request, Status};

use crate::recent::Recent;
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

/// How long a service token lives.
const SERVICE_TOKEN_TTL: Duration = Duration::from_secs(120);
/// How long a minted service token is reused for the same end user: half its life, so the callee always
/// gets one with at least a minute left.
const REUSED_FOR: Duration = Duration::from_secs(60);
/// How many minted tokens (one per organization and user) are kept at most.
const MINTED_MAX: usize = 4096;

/// Client interceptor adding a service token to every call. The token minted for one end user is reused
/// for [`REUSED_FOR`] ([`crate::recent`]): the callee then verifies it once, not once per call.
#[derive(Clone, Debug)]
pub struct ServiceAuth {
    service: &'static str,
    minter: Minter,
    minted: Arc<Minted>,
}

/// Service tokens minted lately, per organization and user, as `authorization` values.
type Minted = Recent<(String, Option<String>), MetadataValue<Ascii>>;

impl ServiceAuth {
    /// An interceptor for calls made by `service`.
    pub fn new(service: &'static str, minter: Minter) -> Self {
        Self { service, minter, minted: Arc::new(Recent::new(MINTED_MAX)) }
    }

    /// The `authorization` value for a call made for `who`: reused while young enough, minted otherwise.
    fn authorization(&self, who: OnBehalfOf) -> Result<MetadataValue<Ascii>, Status> {
        let now = Instant::now();
        let key = (who.organization_id, who.user_id);
        if let Some(value) = self.minted.get(&key, now) {
            return Ok(value);
        }
        let token = self
            .minter
            .service_token(self.service, &key.0, key.1.as_deref(), SERVICE_TOKEN_TTL)
            .map_err(|_| Status::internal("minting a service token failed"))?;
        let value = MetadataValue::try_from(format!("Bearer {token}"))
            .map_err(|_| Status::internal("service token is not a header value"))?;
        self.minted.put(key, value.clone(), now + REUSED_FOR, now);
        Ok(value)
    }
}

impl tonic::service::Interceptor for ServiceAuth {
    fn call(&mut self, mut req: Request<()>) -> Result<Request<()>, Status> {
        let who = req.extensions().get::<OnBehalfOf>().cloned().ok_or_else(|| {
            Status::internal("outgoing call without an organization (on_behalf_of missing)")
        })?;
        let value = self.authorization(who)?;
        req.metadata_mut().insert("authorization", value);
        // The callee's span joins the caller's trace (W3C trace context).
        continuum_telemetry::inject(req.metadata_mut());
        Ok(req)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use tonic::service::Interceptor;

    use super::*;
    use crate::token::{AuthSettings, Verifier};

    fn bearer_of(auth: &mut ServiceAuth, org: &str, user: Option<&str>) -> String {
        let req = auth.call(on_behalf_of((), org, user)).unwrap();
        let value = req.metadata().get("authorization").unwrap().to_str().unwrap();
        value.strip_prefix("Bearer ").unwrap().to_owned()
    }

    #[test]
    fn a_service_token_is_reused_for_the_same_end_user_and_names_each_user_apart() {
        let settings = AuthSettings::dev("dev-secret-for-tests-only-0123456789");
        let mut auth = ServiceAuth::new("intake", Minter::from_settings(&settings).unwrap());
        let verifier = Verifier::from_settings(&settings).unwrap();
        let first = bearer_of(&mut auth, "org-1", Some("u1"));
        // Once a second has passed a fresh mint would differ (its iat and exp): the same token means reuse.
        std::thread::sleep(Duration::from_millis(1100));
        assert_eq!(bearer_of(&mut auth.clone(), "org-1", Some("u1")), first, "reused");
        let other = bearer_of(&mut auth, "org-1", Some("u2"));
        let background = bearer_of(&mut auth, "org-2", None);
        assert_ne!(other, first);
        let callers: Vec<_> =
            [&first, &other, &background].map(|t| verifier.verify(t).unwrap()).into();
        assert_eq!(
            callers
                .iter()
                .map(|c| (c.organization_id.as_str(), c.acting_for.as_deref()))
                .collect::<Vec<_>>(),
            [("org-1", Some("u1")), ("org-1", Some("u2")), ("org-2", None)]
        );
        assert!(callers.iter().all(|c| c.user_id == "service:intake" && c.is_service()));
    }

    #[test]
    fn a_call_without_an_organization_is_refused() {
        let settings = AuthSettings::dev("dev-secret-for-tests-only-0123456789");
        let mut auth = ServiceAuth::new("intake", Minter::from_settings(&settings).unwrap());
        assert_eq!(auth.call(Request::new(())).unwrap_err().code(), tonic::Code::Internal);
    }
}
