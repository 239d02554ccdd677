//! The HTTP surface, as functions from `http::Request` to `http::Response`: mounted by the
//! ingest and admin Lambdas and by `switchboard serve` alike.

// The engine's modules under the paths these handlers were written against.
/// Sources read through a cache of bounded staleness (an engine decorator, re-exported
/// here where the ingest wiring looks for it).
pub use switchboard_engine::source_cache;
pub(crate) use switchboard_engine::{
    config, delivery, dispatch, domain, error, metrics, ports, providers, redact, state,
};

mod admin;
mod admin_ops;
mod console;
pub mod dead_letters;
mod ingest;
mod observe;
#[cfg(feature = "openapi")]
pub mod openapi;
pub mod public_url;
pub mod response;
pub mod router;
pub mod signatures;
pub mod timeline;
mod verify;

use crate::config::Settings;
use crate::redact::{constant_time_eq, Secret};
use crate::state::Ports;
use bytes::Bytes;
use http::{Method, Request, Response};
use response::IntoResponse;
use router::{Family, Handler, PathParams, Resolved};
use std::net::IpAddr;

pub use crate::error::ApiError;

/// A route's answer in the making, behind a pointer (see [`App::handle_families`]).
type HandlerFuture<'a> = std::pin::Pin<
    Box<dyn std::future::Future<Output = Result<Response<Bytes>, ApiError>> + Send + 'a>,
>;

/// The console page (`GET /`), for `switchboard console` to serve locally.
pub fn console_page() -> Response<Bytes> {
    console::page()
}

/// The caller's address, attached as a request extension by the server or Lambda glue
/// (API Gateway's `sourceIp`); used by source IP allow-lists.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClientIp(pub IpAddr);

/// The trace id of the Lambda invocation (`lambda_runtime::Context::xray_trace_id`),
/// attached by the Lambda glue: the trace an ingest request without a trace header of its
/// own is queued with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RuntimeTrace(pub crate::domain::TraceHeader);

/// How admin routes are protected.
#[derive(Debug, Clone)]
pub enum AdminAuth {
    /// `Authorization: Bearer <token>` (`serve`).
    Bearer(Secret),
    /// API Gateway checked the caller's IAM signature before invoking us (deployed stack).
    Iam,
}

/// Which route families this instance answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Surface {
    Ingest,
    Admin,
    All,
}

pub struct App {
    pub ports: Ports,
    pub settings: Settings,
    pub admin_auth: AdminAuth,
    pub surface: Surface,
}

impl App {
    /// Answers the route families `self.surface` names.
    pub async fn handle(&self, req: Request<Bytes>) -> Response<Bytes> {
        match self.surface {
            Surface::Ingest => self.handle_families::<true, false>(req).await,
            Surface::Admin => self.handle_families::<false, true>(req).await,
            Surface::All => self.handle_families::<true, true>(req).await,
        }
    }

    /// Answers only the families fixed at compile time. The Lambdas call this with their one
    /// family, so the other family's handlers (and the OpenAPI document, the console, the
    /// provider parsers) are unreachable in their binaries and left out of their packages.
    pub async fn handle_families<const INGEST: bool, const ADMIN: bool>(
        &self,
        req: Request<Bytes>,
    ) -> Response<Bytes> {
        let path = router::normalize(req.uri().path());
        let serves = |family| match family {
            Family::Ingest => INGEST,
            Family::Admin => ADMIN,
        };
        // Everything under /admin, routed or not, needs the admin credentials first.
        let admin_path = path == "/admin" || path.starts_with("/admin/");
        if admin_path && ADMIN && !self.admin_authorized(&req) {
            return ApiError::unauthorized().into_response();
        }
        match router::resolve(req.method(), &path) {
            Resolved::Found { handler, params } if serves(handler.family()) => {
                // Each family's handlers run behind a boxed future: awaited in place, a
                // family's future would be a state of this one, and its code would be linked
                // into a binary that never enters that state (the other family's Lambda).
                let answer: HandlerFuture<'_> = match handler.family() {
                    Family::Ingest if INGEST => Box::pin(self.dispatch_ingest(&params, &req)),
                    Family::Admin if ADMIN => Box::pin(self.dispatch_admin(handler, &params, &req)),
                    _ => Box::pin(std::future::ready(Err(ApiError::not_found(format!(
                        "no route for {}",
                        req.uri().path()
                    ))))),
                };
                answer.await.into_response()
            }
            // The console is public; a preflight to it gets an empty answer.
            Resolved::MethodNotAllowed { family, .. }
                if family == Family::Admin && !admin_path && req.method() == Method::OPTIONS =>
            {
                response::empty(http::StatusCode::NO_CONTENT)
            }
            Resolved::MethodNotAllowed { family, allow } if serves(family) => {
                let message = match family {
                    Family::Ingest => "webhooks are accepted by POST, PUT or GET".to_owned(),
                    Family::Admin => format!("{} is not allowed here", req.method()),
                };
                ApiError::method_not_allowed(message, allow).into_response()
            }
            _ if admin_path && ADMIN => {
                ApiError::not_found(format!("no admin route for {}", req.uri().path()))
                    .into_response()
            }
            _ if req.method() == Method::OPTIONS => response::empty(http::StatusCode::NO_CONTENT),
            _ => ApiError::not_found(format!("no route for {}", req.uri().path())).into_response(),
        }
    }

    /// The one ingest route: `/hooks/{source}[/{token}]`.
    async fn dispatch_ingest(
        &self,
        params: &PathParams<'_>,
        req: &Request<Bytes>,
    ) -> Result<Response<Bytes>, ApiError> {
        let source = params.get("source").unwrap_or_default();
        ingest::accept(self, req, source, params.get("token")).await
    }

    /// Runs the admin handler a route names; the arms are the handlers' signatures.
    async fn dispatch_admin(
        &self,
        handler: Handler,
        params: &PathParams<'_>,
        req: &Request<Bytes>,
    ) -> Result<Response<Bytes>, ApiError> {
        let id = params.get("id").unwrap_or_default();
        match handler {
            // An ingest route: `handle_families` sends it to `dispatch_ingest`.
            Handler::Hook => Err(ApiError::not_found(format!(
                "no route for {}",
                req.uri().path()
            ))),
            Handler::Console => Ok(console::page()),
            Handler::OpenApi => Ok(admin_ops::openapi()),
            Handler::Metrics => observe::metrics(self, req).await,
            Handler::ListSources => admin::list(self.ports.sources.as_ref()).await,
            Handler::CreateSource => admin::create_source(self, req).await,
            Handler::GetSource => admin::get(self.ports.sources.as_ref(), id).await,
            Handler::UpdateSource => admin::update_source(self, req, id).await,
            Handler::DeleteSource => admin::delete(self.ports.sources.as_ref(), id).await,
            Handler::ListSubscriptions => admin::list(self.ports.subscriptions.as_ref()).await,
            Handler::CreateSubscription => admin::create_subscription(self, req).await,
            Handler::GetSubscription => admin::get(self.ports.subscriptions.as_ref(), id).await,
            Handler::UpdateSubscription => admin::update_subscription(self, req, id).await,
            Handler::DeleteSubscription => {
                admin::delete(self.ports.subscriptions.as_ref(), id).await
            }
            Handler::RotateSecret => admin::rotate_secret(self, id).await,
            Handler::ListEvents => admin_ops::list_events(self, req).await,
            Handler::GetEvent => admin_ops::get_event(self, id).await,
            Handler::ListDeliveries => admin_ops::list_deliveries(self, req).await,
            Handler::CallTimeline => observe::call_timeline(self, id).await,
            Handler::Replay => admin::replay_route(self, req).await,
            Handler::ListDeadLetters => dead_letters::list(self, req).await,
            Handler::RedriveDeadLetters => dead_letters::redrive(self, req).await,
        }
    }

    pub(crate) fn admin_authorized(&self, req: &Request<Bytes>) -> bool {
        match &self.admin_auth {
            AdminAuth::Iam => true,
            AdminAuth::Bearer(token) => req
                .headers()
                .get(http::header::AUTHORIZATION)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.strip_prefix("Bearer "))
                .is_some_and(|given| {
                    constant_time_eq(given.trim().as_bytes(), token.expose().as_bytes())
                }),
        }
    }
}
