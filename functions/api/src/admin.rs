//! `/admin/...`: sources, subscriptions, events and delivery records.

use super::response::{empty, error_response, json};
use super::App;
use crate::delivery::guard::{check_url_at_create, Policy, SystemLookup};
use crate::delivery::signing::generate_secret;
use crate::delivery::{filter::Filter, template};
use crate::dispatch::replay::{replay, ReplayError, ReplayRequest};
use crate::domain::ids::{is_valid_slug, subscription_id};
use crate::domain::limits::{MAX_ADMIN_BODY_BYTES, MAX_RECORD_DOC_BYTES};
use crate::domain::subscription::{Format, Method as SubMethod, RetiringSecret};
use crate::domain::time::now;
use crate::domain::{Source, SourceInput, Subscription, SubscriptionInput};
use crate::error::ApiError;
use crate::ports::versioned::{self, Modified};
use crate::redact::Secret;
use bytes::Bytes;
use http::{Method, Request, Response, StatusCode};
use serde::de::DeserializeOwned;

pub(super) async fn handle(app: &App, req: &Request<Bytes>, path: &[&str]) -> Response<Bytes> {
    match route(app, req, path).await {
        Ok(r) => r,
        Err(e) => error_response(&e),
    }
}

async fn route(
    app: &App,
    req: &Request<Bytes>,
    path: &[&str],
) -> Result<Response<Bytes>, ApiError> {
    let method = req.method().clone();
    match (method, path) {
        (Method::POST, ["sources"]) => create_source(app, req).await,
        (Method::GET, ["sources"]) => {
            let items: Vec<Source> = app
                .ports
                .sources
                .list()
                .await?
                .iter()
                .map(Source::redacted)
                .collect();
            Ok(json(
                StatusCode::OK,
                &serde_json::json!({"items": items, "next_cursor": null}),
            ))
        }
        (Method::GET, ["sources", id]) => {
            let s = app
                .ports
                .sources
                .get(id)
                .await?
                .ok_or_else(|| not_found("source", id))?;
            Ok(json(StatusCode::OK, &s.redacted()))
        }
        (Method::PATCH, ["sources", id]) => update_source(app, req, id).await,
        (Method::DELETE, ["sources", id]) => {
            app.ports
                .sources
                .delete(id)
                .await
                .map_err(|e| missing_as(e, "source", id))?;
            Ok(empty(StatusCode::NO_CONTENT))
        }
        (Method::POST, ["subscriptions"]) => create_subscription(app, req).await,
        (Method::GET, ["subscriptions"]) => {
            let items: Vec<Subscription> = app
                .ports
                .subscriptions
                .list()
                .await?
                .iter()
                .map(Subscription::redacted)
                .collect();
            Ok(json(
                StatusCode::OK,
                &serde_json::json!({"items": items, "next_cursor": null}),
            ))
        }
        (Method::GET, ["subscriptions", id]) => {
            let s = app
                .ports
                .subscriptions
                .get(id)
                .await?
                .ok_or_else(|| not_found("subscription", id))?;
            Ok(json(StatusCode::OK, &s.redacted()))
        }
        (Method::PATCH, ["subscriptions", id]) => update_subscription(app, req, id).await,
        (Method::POST, ["subscriptions", id, "rotate-secret"]) => rotate_secret(app, id).await,
        (Method::POST, ["replay"]) => replay_route(app, req).await,
        (Method::DELETE, ["subscriptions", id]) => {
            app.ports
                .subscriptions
                .delete(id)
                .await
                .map_err(|e| missing_as(e, "subscription", id))?;
            Ok(empty(StatusCode::NO_CONTENT))
        }
        (Method::GET, ["events", id]) => {
            let e = app
                .ports
                .events
                .get(id)
                .await?
                .ok_or_else(|| not_found("event", id))?;
            Ok(json(StatusCode::OK, &e))
        }
        (Method::GET, ["events"]) => super::admin_ops::list_events(app, req).await,
        (Method::GET, ["deliveries"]) => super::admin_ops::list_deliveries(app, req).await,
        (Method::GET, ["openapi.json"]) => Ok(super::admin_ops::openapi()),
        (
            _,
            ["sources" | "subscriptions" | "deliveries" | "events" | "replay" | "openapi.json", ..],
        ) => Err(ApiError::new(
            StatusCode::METHOD_NOT_ALLOWED,
            "method_not_allowed",
            format!("{} is not allowed here", req.method()),
        )),
        _ => Err(ApiError::not_found(format!(
            "no admin route for {}",
            req.uri().path()
        ))),
    }
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

fn body<T: DeserializeOwned>(req: &Request<Bytes>) -> Result<T, ApiError> {
    let len = req.body().len();
    if len > MAX_ADMIN_BODY_BYTES {
        return Err(too_large(format!(
            "the request body is {len} bytes; admin requests take at most {MAX_ADMIN_BODY_BYTES}"
        )));
    }
    serde_json::from_slice(req.body())
        .map_err(|e| ApiError::bad_request("invalid_body", format!("invalid JSON body: {e}")))
}

async fn create_source(app: &App, req: &Request<Bytes>) -> Result<Response<Bytes>, ApiError> {
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
    let source = Source {
        id,
        provider,
        verification,
        timezone: None,
        body_limit_bytes: None,
        ip_allow: Vec::new(),
        mapping: None,
        description: None,
        created_at: t,
        updated_at: t,
    };
    let source = apply_source(source, input)?;
    app.ports
        .sources
        .create(&source)
        .await
        .map_err(|e| match e {
            crate::error::StoreError::Conflict => ApiError::new(
                StatusCode::CONFLICT,
                "conflict",
                format!("a source with id {:?} exists", source.id),
            ),
            other => other.into(),
        })?;
    Ok(json(StatusCode::CREATED, &source.redacted()))
}

async fn update_source(
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
    let current = app
        .ports
        .sources
        .get(id)
        .await?
        .ok_or_else(|| not_found("source", id))?;
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
fn apply_source(mut s: Source, input: SourceInput) -> Result<Source, ApiError> {
    if let Some(p) = input.provider {
        s.provider = p;
    }
    if let Some(v) = input.verification {
        s.verification = v;
    }
    if let Some(tz) = input.timezone {
        s.timezone = Some(tz);
    }
    if let Some(limit) = input.body_limit_bytes {
        if limit == 0 || limit > 6 * 1024 * 1024 {
            return Err(ApiError::bad_request(
                "invalid_body_limit",
                "body_limit_bytes must be between 1 and 6291456 (Lambda's payload limit)",
            ));
        }
        s.body_limit_bytes = Some(limit);
    }
    if let Some(rules) = input.ip_allow {
        s.ip_allow = rules;
    }
    if let Some(m) = input.mapping {
        s.mapping = Some(m);
    }
    if let Some(d) = input.description {
        s.description = Some(d);
    }
    s.validate()
        .map_err(|reason| ApiError::bad_request("invalid_source", reason))?;
    fits_in_a_record("source", &s)?;
    Ok(s)
}

fn too_large(message: String) -> ApiError {
    ApiError::new(StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large", message)
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

async fn create_subscription(app: &App, req: &Request<Bytes>) -> Result<Response<Bytes>, ApiError> {
    let input: SubscriptionInput = body(req)?;
    let t = now();
    let secret = generate_secret();
    let sub = Subscription {
        id: subscription_id(),
        url: String::new(),
        method: Default::default(),
        enabled: true,
        event_types: Vec::new(),
        source: None,
        filter: None,
        format: Format::Envelope,
        template: None,
        content_type: None,
        headers: Default::default(),
        timeout_ms: None,
        retry_schedule_secs: None,
        description: None,
        secret: Secret::new(secret.clone()),
        previous_secret: None,
        disabled_reason: None,
        failing_since: None,
        created_at: t,
        updated_at: t,
        version: 1,
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
async fn update_subscription(
    app: &App,
    req: &Request<Bytes>,
    id: &str,
) -> Result<Response<Bytes>, ApiError> {
    let input: SubscriptionInput = body(req)?;
    let current = app
        .ports
        .subscriptions
        .get(id)
        .await?
        .ok_or_else(|| not_found("subscription", id))?;
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
    }
    Ok(updated)
}

fn apply_subscription(
    mut s: Subscription,
    input: SubscriptionInput,
) -> Result<Subscription, ApiError> {
    if let Some(url) = input.url {
        s.url = url;
    }
    if let Some(m) = input.method {
        s.method = m;
    }
    if let Some(e) = input.enabled {
        s.enabled = e;
    }
    if let Some(types) = input.event_types {
        s.event_types = types;
    }
    if let Some(src) = input.source {
        s.source = Some(src);
    }
    if let Some(f) = input.filter {
        s.filter = Some(f);
    }
    if let Some(f) = input.format {
        s.format = f;
    }
    if let Some(t) = input.template {
        s.template = Some(t);
    }
    if let Some(ct) = input.content_type {
        s.content_type = Some(ct);
    }
    if let Some(h) = input.headers {
        s.headers = h;
    }
    if let Some(t) = input.timeout_ms {
        s.timeout_ms = Some(t);
    }
    if let Some(r) = input.retry_schedule_secs {
        s.retry_schedule_secs = Some(r);
    }
    if let Some(d) = input.description {
        s.description = Some(d);
    }
    validate_subscription(&s)?;
    fits_in_a_record("subscription", &s)?;
    Ok(s)
}

fn validate_subscription(s: &Subscription) -> Result<(), ApiError> {
    let url = reqwest::Url::parse(&s.url).map_err(|e| {
        ApiError::bad_request("invalid_url", format!("url is not a valid URL: {e}"))
    })?;
    if !matches!(url.scheme(), "http" | "https") || url.host().is_none() {
        return Err(ApiError::bad_request(
            "invalid_url",
            "url must be an http or https URL with a host",
        ));
    }
    if url.fragment().is_some() {
        return Err(ApiError::bad_request(
            "invalid_url",
            "url must not have a #fragment",
        ));
    }
    if s.event_types.is_empty() || s.event_types.len() > 50 {
        return Err(ApiError::bad_request(
            "invalid_event_types",
            "event_types must list 1 to 50 types, e.g. [\"call.*\"] or [\"*\"]",
        ));
    }
    for t in &s.event_types {
        let body = t.strip_suffix(".*").unwrap_or(t);
        let valid = t == "*"
            || (!body.is_empty()
                && body.len() <= 100
                && body.split('.').all(|seg| {
                    !seg.is_empty()
                        && seg.bytes().all(|b| {
                            b.is_ascii_alphanumeric() || b == b'_' || b == b'-' || b == b':'
                        })
                }));
        if !valid {
            return Err(ApiError::bad_request(
                "invalid_event_types",
                format!("event type {t:?} is not valid: use an exact type (call.ended), a prefix wildcard (call.*) or *"),
            ));
        }
    }
    match s.format {
        Format::Template => {
            let source = s.template.as_deref().ok_or_else(|| {
                ApiError::bad_request(
                    "invalid_template",
                    "format template needs a template (the body, or the query string for GET)",
                )
            })?;
            check_template(s, source)?;
        }
        Format::Envelope if s.method == SubMethod::Get => {
            return Err(ApiError::bad_request(
                "invalid_format",
                "a GET subscription carries no body: use format raw (the provider's query string) or template (a query string you write)",
            ));
        }
        Format::Raw | Format::Envelope => {
            if s.template.is_some() {
                return Err(ApiError::bad_request(
                    "invalid_template",
                    "template is only used with format template",
                ));
            }
        }
    }
    if let Some(ct) = &s.content_type {
        if s.format != Format::Template || s.method == SubMethod::Get {
            return Err(ApiError::bad_request(
                "invalid_content_type",
                "content_type applies only to template bodies (POST or PUT)",
            ));
        }
        if ct.len() > 200 || http::HeaderValue::from_str(ct).is_err() || !ct.contains('/') {
            return Err(ApiError::bad_request(
                "invalid_content_type",
                "content_type must be a media type such as application/json",
            ));
        }
    }
    if let Some(f) = &s.filter {
        Filter::parse(f).map_err(|e| ApiError::bad_request("invalid_filter", e.to_string()))?;
    }
    if s.headers.len() > 20 {
        return Err(ApiError::bad_request(
            "invalid_headers",
            "headers takes at most 20 entries",
        ));
    }
    for (name, value) in &s.headers {
        let lower = name.to_ascii_lowercase();
        if http::HeaderName::from_bytes(name.as_bytes()).is_err()
            || http::HeaderValue::from_str(value).is_err()
            || value.len() > 4096
        {
            return Err(ApiError::bad_request(
                "invalid_headers",
                format!("header {name:?} is not a valid HTTP header name and value"),
            ));
        }
        if lower.starts_with("webhook-")
            || matches!(
                lower.as_str(),
                "host" | "content-length" | "transfer-encoding" | "connection" | "content-type"
            )
        {
            return Err(ApiError::bad_request(
                "invalid_headers",
                format!("header {name:?} is set by Switchboard and cannot be overridden"),
            ));
        }
    }
    if let Some(t) = s.timeout_ms {
        if !(100..=60_000).contains(&t) {
            return Err(ApiError::bad_request(
                "invalid_timeout",
                "timeout_ms must be between 100 and 60000",
            ));
        }
    }
    if let Some(r) = &s.retry_schedule_secs {
        if r.len() > 20 || r.iter().any(|d| *d > 86_400) {
            return Err(ApiError::bad_request(
                "invalid_retry_schedule",
                "retry_schedule_secs takes at most 20 delays of at most 86400 seconds",
            ));
        }
    }
    if let Some(src) = &s.source {
        if !is_valid_slug(src) {
            return Err(ApiError::bad_request(
                "invalid_source",
                "source must be a source id",
            ));
        }
    }
    if s.description.as_ref().is_some_and(|d| d.len() > 1000) {
        return Err(ApiError::bad_request(
            "invalid_description",
            "description takes at most 1000 characters",
        ));
    }
    Ok(())
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
        tracing::error!(error = %e, "invalid SSRF policy in settings");
        ApiError::internal()
    })?;
    let url = reqwest::Url::parse(&s.url).map_err(|e| {
        ApiError::bad_request("invalid_url", format!("url is not a valid URL: {e}"))
    })?;
    check_url_at_create(&policy, &SystemLookup, &url)
        .await
        .map_err(|e| ApiError::bad_request("target_not_allowed", e.to_string()))
}

async fn rotate_secret(app: &App, id: &str) -> Result<Response<Bytes>, ApiError> {
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

async fn replay_route(app: &App, req: &Request<Bytes>) -> Result<Response<Bytes>, ApiError> {
    let input: ReplayRequest = body(req)?;
    let report = replay(&app.ports, input).await.map_err(|e| match e {
        ReplayError::Invalid(m) => ApiError::bad_request("invalid_body", m),
        ReplayError::NotFound { .. } => ApiError::not_found(e.to_string()),
        ReplayError::Disabled(_) => {
            ApiError::new(StatusCode::CONFLICT, "subscription_disabled", e.to_string())
        }
        ReplayError::Store(err) => err.into(),
    })?;
    Ok(json(StatusCode::ACCEPTED, &report))
}
