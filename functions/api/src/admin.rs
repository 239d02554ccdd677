//! `/admin/...`: sources, subscriptions, events and delivery records.

use super::response::{empty, json};
use super::App;
use crate::delivery::guard::{check_url_at_create, Policy, SystemLookup};
use crate::delivery::signing::generate_secret;
use crate::delivery::template;
use crate::dispatch::replay::{replay, ReplayError, ReplayRequest};
use crate::domain::ids::{is_valid_slug, subscription_id};
use crate::domain::limits::{MAX_ADMIN_BODY_BYTES, MAX_RECORD_DOC_BYTES};
use crate::domain::subscription::{Format, Method as SubMethod, RetiringSecret};
use crate::domain::time::now;
use crate::domain::SubscriptionError;
use crate::domain::{Source, SourceInput, Subscription, SubscriptionInput};
use crate::error::ApiError;
use crate::ports::versioned::{self, Modified};
use crate::ports::{ConfigStore, Record};
use crate::redact::Secret;
use bytes::Bytes;
use http::{Request, Response, StatusCode};
use serde::de::DeserializeOwned;

/// A configuration record as the admin API shows it: its secrets redacted.
pub(super) trait Shown: Record {
    /// What the record is called in a not-found answer.
    const KIND: &'static str;
    fn shown(&self) -> Self;
}

impl Shown for Source {
    const KIND: &'static str = "source";
    fn shown(&self) -> Self {
        self.redacted()
    }
}

impl Shown for Subscription {
    const KIND: &'static str = "subscription";
    fn shown(&self) -> Self {
        self.redacted()
    }
}

/// Every record, in one page (configuration is small).
pub(super) async fn list<T: Shown>(
    store: &dyn ConfigStore<T>,
) -> Result<Response<Bytes>, ApiError> {
    let items: Vec<T> = store.list().await?.iter().map(T::shown).collect();
    Ok(json(
        StatusCode::OK,
        &serde_json::json!({"items": items, "next_cursor": null}),
    ))
}

pub(super) async fn get<T: Shown>(
    store: &dyn ConfigStore<T>,
    id: &str,
) -> Result<Response<Bytes>, ApiError> {
    Ok(json(StatusCode::OK, &stored(store, id).await?.shown()))
}

/// The stored record `id`, or the not-found answer naming it.
async fn stored<T: Shown>(store: &dyn ConfigStore<T>, id: &str) -> Result<T, ApiError> {
    store.get(id).await?.ok_or_else(|| not_found(T::KIND, id))
}

pub(super) async fn delete<T: Shown>(
    store: &dyn ConfigStore<T>,
    id: &str,
) -> Result<Response<Bytes>, ApiError> {
    store
        .delete(id)
        .await
        .map_err(|e| missing_as(e, T::KIND, id))?;
    Ok(empty(StatusCode::NO_CONTENT))
}

fn not_found(kind: &str, id: &str) -> ApiError {
    ApiError::not_found(format!("no {kind} with id {id:?}"))
}

fn missing_as(err: crate::error::StoreError, kind: &str, id: &str) -> ApiError {
    match err {
        crate::error::StoreError::NotFound => not_found(kind, id),
        other => other.into(),
    }
}

pub(super) fn body<T: DeserializeOwned>(req: &Request<Bytes>) -> Result<T, ApiError> {
    let len = req.body().len();
    if len > MAX_ADMIN_BODY_BYTES {
        return Err(too_large(format!(
            "the request body is {len} bytes; admin requests take at most {MAX_ADMIN_BODY_BYTES}"
        )));
    }
    serde_json::from_slice(req.body())
        .map_err(|e| ApiError::bad_request("invalid_body", format!("invalid JSON body: {e}")))
}

pub(super) async fn create_source(
    app: &App,
    req: &Request<Bytes>,
) -> Result<Response<Bytes>, ApiError> {
    let input: SourceInput = body(req)?;
    let id = input
        .id
        .clone()
        .ok_or_else(|| ApiError::bad_request("invalid_body", "id is required"))?;
    if !is_valid_slug(&id) {
        return Err(ApiError::bad_request(
            "invalid_id",
            "id must be 1-64 characters of letters, digits, '-' or '_'",
        ));
    }
    let provider = input
        .provider
        .ok_or_else(|| ApiError::bad_request("invalid_body", "provider is required"))?;
    let verification = input.verification.clone().ok_or_else(|| {
        ApiError::bad_request(
            "invalid_body",
            "verification is required; use {\"type\": \"none\"} to accept unverified requests",
        )
    })?;
    let t = now();
    let source = Source::blank(id, provider, verification, t);
    let source = apply_source(source, input)?;
    app.ports
        .sources
        .create(&source)
        .await
        .map_err(|e| match e {
            crate::error::StoreError::Conflict => ApiError::conflict(
                "conflict",
                format!("a source with id {:?} exists", source.id),
            ),
            other => other.into(),
        })?;
    Ok(json(StatusCode::CREATED, &source.redacted()))
}

pub(super) async fn update_source(
    app: &App,
    req: &Request<Bytes>,
    id: &str,
) -> Result<Response<Bytes>, ApiError> {
    let input: SourceInput = body(req)?;
    if input.id.as_deref().is_some_and(|new| new != id) {
        return Err(ApiError::bad_request(
            "invalid_body",
            "id cannot be changed",
        ));
    }
    let current = stored(app.ports.sources.as_ref(), id).await?;
    let mut updated = apply_source(current, input)?;
    updated.updated_at = now();
    app.ports
        .sources
        .update(&updated)
        .await
        .map_err(|e| missing_as(e, "source", id))?;
    Ok(json(StatusCode::OK, &updated.redacted()))
}

/// Applies the optional fields of an input to a source, validating them.
fn apply_source(s: Source, input: SourceInput) -> Result<Source, ApiError> {
    let s = input.apply_to(s)?;
    fits_in_a_record("source", &s)?;
    Ok(s)
}

fn too_large(message: String) -> ApiError {
    ApiError::payload_too_large(message)
}

/// Refuses (413) a source or subscription whose stored document would not fit in one
/// DynamoDB item, under every store alike: the store would refuse it, and a record that
/// grows past the limit through updates (template, headers) would be stuck.
fn fits_in_a_record<T: serde::Serialize>(kind: &str, record: &T) -> Result<(), ApiError> {
    let len = serde_json::to_vec(record).map_or(usize::MAX, |v| v.len());
    if len <= MAX_RECORD_DOC_BYTES {
        return Ok(());
    }
    Err(too_large(format!(
        "this {kind} would be {len} bytes stored; a {kind} is at most {MAX_RECORD_DOC_BYTES}"
    )))
}

pub(super) async fn create_subscription(
    app: &App,
    req: &Request<Bytes>,
) -> Result<Response<Bytes>, ApiError> {
    let input: SubscriptionInput = body(req)?;
    let t = now();
    let secret = generate_secret();
    let sub = Subscription {
        ..Subscription::blank(subscription_id(), Secret::new(secret.clone()), t)
    };
    let sub = apply_subscription(sub, input)?;
    check_target(app, &sub).await?;
    app.ports.subscriptions.create(&sub).await?;
    // The secret is shown once, on creation.
    let mut shown = serde_json::to_value(sub.redacted()).map_err(|_| ApiError::internal())?;
    shown["secret"] = serde_json::Value::String(secret);
    Ok(json(StatusCode::CREATED, &shown))
}

/// PATCH: the fields given are applied to the current record under optimistic concurrency,
/// re-applied to a fresh read if another write (dispatch's health record, an auto-disable,
/// another admin call) came first. Fields not given keep their current value: a PATCH that
/// does not name `enabled` leaves a concurrent auto-disable in place; one that sets it wins
/// (an explicit operator act).
pub(super) async fn update_subscription(
    app: &App,
    req: &Request<Bytes>,
    id: &str,
) -> Result<Response<Bytes>, ApiError> {
    let input: SubscriptionInput = body(req)?;
    let current = stored(app.ports.subscriptions.as_ref(), id).await?;
    let re_enabled = input.enabled == Some(true);
    let url_changed = input.url.as_ref().is_some_and(|u| *u != current.url);
    let preview = apply_patch(current, &input)?;
    // The target check resolves names, so it runs once, before the write loop; every URL
    // a write stores was checked by the request that set it.
    if url_changed || re_enabled {
        check_target(app, &preview).await?;
    }
    let t = now();
    let modified = versioned::modify(app.ports.subscriptions.as_ref(), id, |s| {
        *s = apply_patch(s.clone(), &input)?;
        s.updated_at = t;
        Ok::<_, ApiError>(true)
    })
    .await?;
    match modified {
        Modified::Written(updated) | Modified::Unchanged(updated) => {
            Ok(json(StatusCode::OK, &updated.redacted()))
        }
        Modified::Missing => Err(not_found("subscription", id)),
    }
}

/// A PATCH body applied to a subscription; re-enabling also clears the failure run.
fn apply_patch(s: Subscription, input: &SubscriptionInput) -> Result<Subscription, ApiError> {
    let mut updated = apply_subscription(s, input.clone())?;
    if input.enabled == Some(true) {
        updated.disabled_reason = None;
        updated.failing_since = None;
        // A reported run stays reported: its next success still emits delivery.recovered.
        updated.consecutive_failures = 0;
    }
    Ok(updated)
}

/// The input applied to the subscription under the domain's rules, then the template
/// checked with the engine (which the domain crate does not have).
fn apply_subscription(s: Subscription, input: SubscriptionInput) -> Result<Subscription, ApiError> {
    let s = input.apply_to(s)?;
    if let (Format::Template, Some(source)) = (s.format, s.template.as_deref()) {
        check_template(&s, source)?;
    }
    fits_in_a_record("subscription", &s)?;
    Ok(s)
}

/// Compiles the template, renders it over a sample call event, and for JSON bodies checks
/// that the result parses: mistakes surface at create, not at the first delivery.
fn check_template(s: &Subscription, source: &str) -> Result<(), ApiError> {
    let bad = |msg: String| ApiError::bad_request("invalid_template", msg);
    template::check(source).map_err(|e| bad(format!("template error: {e}")))?;
    let sample = template::sample_envelope();
    let out = template::render(source, template::context(&sample, b""))
        .map_err(|e| bad(format!("template fails on a sample call event: {e}")))?;
    let json = s
        .content_type
        .as_deref()
        .unwrap_or(crate::delivery::render::DEFAULT_TEMPLATE_CONTENT_TYPE)
        .to_ascii_lowercase()
        .contains("json");
    if s.method != SubMethod::Get && json {
        if let Err(e) = serde_json::from_str::<serde_json::Value>(&out) {
            return Err(bad(format!(
                "template output for a sample call event is not valid JSON ({e}); quote values with \"{{{{ x }}}}\" or {{{{ x|tojson }}}}, or set content_type for a non-JSON body"
            )));
        }
    }
    Ok(())
}

/// The SSRF check at create/update time, under the deployment's policy.
async fn check_target(app: &App, s: &Subscription) -> Result<(), ApiError> {
    let policy = Policy::from_names(&app.settings.allow_private_targets).map_err(|e| {
        ApiError::internal_because(&format!("invalid SSRF policy in settings: {e}"))
    })?;
    let url = reqwest::Url::parse(&s.url)
        .map_err(|e| ApiError::from(SubscriptionError::UnparsableUrl(e)))?;
    check_url_at_create(&policy, &SystemLookup, &url)
        .await
        .map_err(|e| ApiError::bad_request("target_not_allowed", e.to_string()))
}

pub(super) async fn rotate_secret(app: &App, id: &str) -> Result<Response<Bytes>, ApiError> {
    let secret = generate_secret();
    let t = now();
    let expires_at = t + chrono::Duration::hours(24);
    // Applied to the current record under optimistic concurrency (see update_subscription).
    let modified = versioned::modify(app.ports.subscriptions.as_ref(), id, |sub| {
        sub.previous_secret = Some(RetiringSecret {
            secret: std::mem::replace(&mut sub.secret, Secret::new(secret.clone())),
            expires_at,
        });
        sub.updated_at = t;
        Ok::<_, ApiError>(true)
    })
    .await?;
    let Modified::Written(sub) = modified else {
        return Err(not_found("subscription", id));
    };
    // The new secret is shown once, here.
    let mut shown = serde_json::to_value(sub.redacted()).map_err(|_| ApiError::internal())?;
    shown["secret"] = serde_json::Value::String(secret);
    shown["previous_secret_expires_at"] = serde_json::json!(expires_at);
    Ok(json(StatusCode::OK, &shown))
}

pub(super) async fn replay_route(
    app: &App,
    req: &Request<Bytes>,
) -> Result<Response<Bytes>, ApiError> {
    let input: ReplayRequest = body(req)?;
    let report = replay(&app.ports, input).await.map_err(|e| match e {
        ReplayError::Invalid(m) => ApiError::bad_request("invalid_body", m),
        ReplayError::NotFound { .. } => ApiError::not_found(e.to_string()),
        ReplayError::Disabled(_) => ApiError::conflict("subscription_disabled", e.to_string()),
        ReplayError::Store(err) => err.into(),
    })?;
    Ok(json(StatusCode::ACCEPTED, &report))
}
