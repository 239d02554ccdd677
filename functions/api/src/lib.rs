//! The HTTP surface, as functions from `http::Request` to `http::Response`: mounted by the
//! ingest and admin Lambdas and by `switchboard serve` alike.

// The engine's modules under the paths these handlers were written against.
/// Sources read through a cache of bounded staleness (an engine decorator, re-exported
/// here where the ingest wiring looks for it).
pub use switchboard_engine::source_cache;
pub(crate) use switchboard_engine::{
    config, delivery, dispatch, domain, error, ports, providers, redact, state,
};

mod admin;
mod admin_ops;
mod console;
mod ingest;
pub mod openapi;
pub mod public_url;
pub mod response;
pub mod signatures;
mod verify;

use crate::config::Settings;
use crate::redact::{constant_time_eq, Secret};
use crate::state::Ports;
use bytes::Bytes;
use http::{Method, Request, Response};
use response::error_response;
use std::net::IpAddr;

pub use crate::error::ApiError;

/// The caller's address, attached as a request extension by the server or Lambda glue
/// (API Gateway's `sourceIp`); used by source IP allow-lists.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClientIp(pub IpAddr);

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
    pub async fn handle(&self, req: Request<Bytes>) -> Response<Bytes> {
        let path = req.uri().path().to_owned();
        let segments: Vec<&str> = path.trim_matches('/').split('/').collect();
        let ingest = self.surface != Surface::Admin;
        let admin = self.surface != Surface::Ingest;
        match segments.as_slice() {
            ["hooks", source] if ingest => ingest::handle(self, &req, source, None).await,
            ["hooks", source, token] if ingest => {
                ingest::handle(self, &req, source, Some(token)).await
            }
            ["admin", rest @ ..] if admin => {
                if !self.admin_authorized(&req) {
                    return error_response(&ApiError::unauthorized());
                }
                openapi::with_allow(admin::handle(self, &req, rest).await, &path)
            }
            [""] if admin && req.method() == Method::GET => console::page(),
            [""] if admin && req.method() != Method::OPTIONS => openapi::with_allow(
                error_response(&ApiError::new(
                    http::StatusCode::METHOD_NOT_ALLOWED,
                    "method_not_allowed",
                    format!("{} is not allowed here", req.method()),
                )),
                &path,
            ),
            _ if req.method() == Method::OPTIONS => response::empty(http::StatusCode::NO_CONTENT),
            _ => error_response(&ApiError::not_found(format!("no route for {path}"))),
        }
    }

    fn admin_authorized(&self, req: &Request<Bytes>) -> bool {
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
