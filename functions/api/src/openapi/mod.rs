//! The admin API's OpenAPI 3 document, generated from the code and committed as
//! `docs/openapi.json`, which `GET /admin/openapi.json` serves (embedded at build time).
//! Only with the `openapi` feature: the tests generate the document and fail when the
//! committed copy differs (`SWITCHBOARD_BLESS=1` rewrites it); the functions carry the
//! committed text alone, not this generator.
//!
//! Its paths and methods come from the route table (`api::router::ROUTES`), each
//! operation from the handler it runs (`operations::operation`, an exhaustive match), so
//! the document cannot list a route the router lacks or miss one it has. The component
//! schemas (`schemas`) are derived from the body types themselves; the tests and
//! schemathesis against `serve` check them against what the handlers really accept and
//! answer.

mod operations;
mod schemas;

use super::router;
use serde_json::{json, Map, Value};

/// The document's `info.version`; bump when the admin API changes shape.
pub const API_VERSION: &str = "1.0.0";

/// Every admin path of the route table with its operations (method in lower case).
fn paths() -> Value {
    let mut paths = Map::new();
    for (path, methods) in router::admin_paths() {
        let mut item = Map::new();
        if let Some(params) = operations::path_parameters(path) {
            item.insert("parameters".into(), params);
        }
        for (method, handler) in methods {
            if let Some(op) = operations::operation(handler) {
                item.insert(method.to_ascii_lowercase(), op);
            }
        }
        paths.insert(path.to_owned(), Value::Object(item));
    }
    Value::Object(paths)
}

/// The whole document.
pub fn document() -> Value {
    json!({
        "openapi": "3.0.3",
        "info": {
            "title": "Switchboard admin API",
            "version": API_VERSION,
            "description": "Ops API of Switchboard, the webhook relay: sources, subscriptions, events, delivery attempts and replay. Deployed, every route is behind API Gateway's IAM authorizer (SigV4, service execute-api); under `switchboard serve` it takes `Authorization: Bearer <admin token>`. Errors are `{\"error\": {\"code\", \"message\"}}`. Lists answer `{\"items\": [...], \"next_cursor\": ...}`."
        },
        "servers": [{"url": "/"}],
        "security": [{"bearerAuth": []}],
        "tags": [
            {"name": "sources"}, {"name": "subscriptions"}, {"name": "events"},
            {"name": "deliveries"}, {"name": "dead-letters"}, {"name": "meta"}
        ],
        "paths": paths(),
        "components": {
            "securitySchemes": {
                "bearerAuth": {
                    "type": "http",
                    "scheme": "bearer",
                    "description": "The admin token of `switchboard serve`. A deployed stack uses IAM (SigV4) instead."
                }
            },
            "schemas": schemas::schemas()
        }
    })
}

/// The document as served and committed: pretty-printed, with a final newline.
pub fn document_text() -> String {
    let mut text = serde_json::to_string_pretty(&document()).unwrap_or_default();
    text.push('\n');
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_admin_route_is_documented_with_its_methods() {
        let doc = document();
        for r in router::ROUTES {
            let item = &doc["paths"][r.path];
            let op = &item[r.method.to_ascii_lowercase()];
            match r.handler.family() {
                router::Family::Admin => {
                    assert!(op["operationId"].is_string(), "{} {}", r.method, r.path)
                }
                router::Family::Ingest => assert!(item.is_null(), "{}", r.path),
            }
        }
    }

    #[test]
    fn every_reference_resolves() {
        let doc = document();
        let text = doc.to_string();
        let schemas = doc["components"]["schemas"].as_object().unwrap();
        for part in text.split("#/components/schemas/").skip(1) {
            let name: String = part.chars().take_while(|c| c.is_alphanumeric()).collect();
            assert!(schemas.contains_key(&name), "missing schema {name}");
        }
    }

    #[test]
    fn every_operation_has_an_id_and_responses() {
        let doc = document();
        let mut ids = Vec::new();
        for (path, item) in doc["paths"].as_object().unwrap() {
            for (method, op) in item.as_object().unwrap() {
                if method == "parameters" {
                    continue;
                }
                ids.push(op["operationId"].as_str().unwrap().to_owned());
                assert!(
                    !op["responses"].as_object().unwrap().is_empty(),
                    "{method} {path}"
                );
            }
        }
        let n = ids.len();
        ids.sort();
        ids.dedup();
        assert_eq!(ids.len(), n, "duplicate operationId");
    }
}
