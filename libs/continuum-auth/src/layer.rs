//! The one auth layer every Continuum server runs, in front of every RPC: it authenticates the bearer
//! token, refuses organizations the registry does not list, checks the method against the role policy,
//! applies the per-organization rate limit, and puts the [`Caller`] in the request extensions for the
//! handler. Health checking and reflection stay open
//! (probes, API discovery); every other RPC of the policy needs a token. A path that is not a method of
//! any Continuum server (a made-up service, an unknown method) answers UNIMPLEMENTED before anything else,
//! as gRPC says it should, token or not.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use continuum_cache::SharedCache;
use tonic::Status;

use crate::rate::RateLimit;
use crate::registry::Registry;
use crate::token::{TokenError, Verifier};
use crate::{Caller, policy};

/// Shared state of the layer.
#[derive(Clone)]
pub struct AuthLayer {
    state: Arc<State>,
}

struct State {
    verifier: Arc<Verifier>,
    registry: Arc<Registry>,
    rate: RateLimit,
}

impl std::fmt::Debug for AuthLayer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AuthLayer")
            .field("per_minute", &self.state.rate.per_minute())
            .finish_non_exhaustive()
    }
}

impl AuthLayer {
    /// A layer verifying with `verifier`, accepting the organizations of `registry`, and counting
    /// requests in `cache` (shared across replicas when it is Redis).
    pub fn new(
        verifier: impl Into<Arc<Verifier>>,
        registry: impl Into<Arc<Registry>>,
        cache: SharedCache,
        per_minute: u64,
    ) -> Self {
        Self {
            state: Arc::new(State {
                verifier: verifier.into(),
                registry: registry.into(),
                rate: RateLimit::new(cache, per_minute),
            }),
        }
    }
}

fn bearer(headers: &http::HeaderMap) -> Result<&str, TokenError> {
    let value = headers.get(http::header::AUTHORIZATION).ok_or(TokenError::Missing)?;
    let value = value.to_str().map_err(|_| TokenError::Malformed)?;
    let token = value
        .strip_prefix("Bearer ")
        .or_else(|| value.strip_prefix("bearer "))
        .ok_or(TokenError::Malformed)?;
    if token.is_empty() { Err(TokenError::Missing) } else { Ok(token.trim()) }
}

impl State {
    /// `Ok(None)` for public paths, `Ok(Some(caller))` when allowed, `Err(status)` otherwise.
    async fn check(&self, path: &str, headers: &http::HeaderMap) -> Result<Option<Caller>, Status> {
        if !policy::is_known(path) {
            return Err(Status::unimplemented("no such method"));
        }
        if policy::is_public(path) {
            return Ok(None);
        }
        let caller = bearer(headers).and_then(|t| self.verifier.verify(t)).map_err(|e| {
            tracing::info!(rpc = path, reason = %e, "unauthenticated call refused");
            Status::unauthenticated(e.to_string())
        })?;
        if !self.registry.knows(&caller.organization_id) {
            // Validly signed, but not for an organization this deployment serves.
            tracing::info!(rpc = path, "call for an unknown organization refused");
            return Err(Status::unauthenticated("the token's organization is not served here"));
        }
        let Some(allowed) = policy::allowed(path) else {
            // Public methods returned above; every other known path is in the table.
            return Err(Status::unimplemented("no such method"));
        };
        if !caller.roles.iter().any(|r| allowed.contains(r)) {
            tracing::info!(rpc = path, organization_id = %caller.organization_id, "call refused by role policy");
            return Err(Status::permission_denied("your role may not call this method"));
        }
        if !caller.is_service() && self.rate.per_minute() > 0 {
            match self.rate.admit(&caller.organization_id).await {
                Ok(false) => {
                    tracing::warn!(organization_id = %caller.organization_id, "rate limit exceeded");
                    return Err(Status::resource_exhausted(
                        "request rate limit for your organization exceeded; retry in a minute",
                    ));
                }
                Ok(true) => {}
                // A cache outage must not take the service down: the limit fails open and says so.
                // While the cache's circuit is open its breaker has said so once; no line per call.
                Err(e) if e.is::<continuum_cache::breaker::Unavailable>() => {
                    tracing::debug!(
                        "rate limit unavailable (cache circuit open); allowing the call"
                    )
                }
                Err(e) => tracing::warn!(error = %e, "rate limit unavailable; allowing the call"),
            }
        }
        Ok(Some(caller))
    }
}

impl<S> tower::Layer<S> for AuthLayer {
    type Service = AuthService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        AuthService { inner, state: self.state.clone() }
    }
}

/// The service produced by [`AuthLayer`].
#[derive(Clone)]
pub struct AuthService<S> {
    inner: S,
    state: Arc<State>,
}

impl<S> std::fmt::Debug for AuthService<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AuthService").finish_non_exhaustive()
    }
}

impl<S, ReqBody, ResBody> tower::Service<http::Request<ReqBody>> for AuthService<S>
where
    S: tower::Service<http::Request<ReqBody>, Response = http::Response<ResBody>>
        + Clone
        + Send
        + 'static,
    S::Future: Send + 'static,
    ReqBody: Send + 'static,
    ResBody: Default + Send + 'static,
{
    type Response = http::Response<ResBody>;
    type Error = S::Error;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, Self::Error>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut req: http::Request<ReqBody>) -> Self::Future {
        // The clone that was driven to readiness serves this call; a fresh clone stays for the next.
        let clone = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, clone);
        let state = self.state.clone();
        Box::pin(async move {
            let path = req.uri().path().to_owned();
            match state.check(&path, req.headers()).await {
                Ok(Some(caller)) => {
                    req.extensions_mut().insert(caller);
                    inner.call(req).await
                }
                Ok(None) => inner.call(req).await,
                Err(status) => Ok(status.into_http()),
            }
        })
    }
}
