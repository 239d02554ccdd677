//! The component schemas of the OpenAPI document, derived from the types the admin API
//! reads and writes (`schemars::JsonSchema`, behind the `openapi` feature): the structs,
//! their serde attributes and the `schemars` constraints on their fields are the one
//! description.

use crate::dead_letters::{DeadLetterView, RedriveReport, RedriveRequest};
use crate::dispatch::replay::ReplayRequest;
use crate::domain::{Attempt, AttemptStatus, Source, SourceInput, StoredEvent, Subscription};
use crate::domain::{Envelope, SubscriptionInput};
use crate::response::ErrorBody;
use crate::timeline::CallTimeline;
use schemars::generate::SchemaSettings;
use schemars::JsonSchema;
use serde_json::{Map, Value};

/// Create bodies are the update input with these fields required (the handlers refuse a
/// create without them); the update takes any subset.
const INPUTS: [(&str, &str, &str, &[&str]); 2] = [
    (
        "SourceInput",
        "SourceCreate",
        "SourceUpdate",
        &["id", "provider", "verification"],
    ),
    (
        "SubscriptionInput",
        "SubscriptionCreate",
        "SubscriptionUpdate",
        &["url", "event_types"],
    ),
];

fn add<T: JsonSchema>(generator: &mut schemars::SchemaGenerator) {
    generator.subschema_for::<T>();
}

/// Every schema the operations refer to, and those they refer to in turn.
pub fn schemas() -> Value {
    // OpenAPI 3.0 flavour (`nullable`, `#/components/schemas/...`), read as the API reads
    // a body (a field with a default is optional).
    let mut generator = SchemaSettings::openapi3().into_generator();
    add::<ErrorBody>(&mut generator);
    add::<SourceInput>(&mut generator);
    add::<Source>(&mut generator);
    add::<SubscriptionInput>(&mut generator);
    add::<Subscription>(&mut generator);
    add::<Envelope>(&mut generator);
    add::<StoredEvent>(&mut generator);
    add::<AttemptStatus>(&mut generator);
    add::<Attempt>(&mut generator);
    add::<CallTimeline>(&mut generator);
    add::<ReplayRequest>(&mut generator);
    add::<DeadLetterView>(&mut generator);
    add::<RedriveRequest>(&mut generator);
    add::<RedriveReport>(&mut generator);
    let mut schemas: Map<String, Value> = generator.take_definitions(true);
    schemas.values_mut().for_each(nullable_refs);
    for (input, create, update, required) in INPUTS {
        let Some(schema) = schemas.remove(input) else {
            continue;
        };
        let mut with_required = schema.clone();
        if let Some(o) = with_required.as_object_mut() {
            o.insert("required".into(), required.iter().copied().collect());
        }
        schemas.insert(create.into(), with_required);
        schemas.insert(update.into(), schema);
    }
    Value::Object(schemas)
}

/// `Option<T>` of a named type comes out as `anyOf: [T, null]`; OpenAPI 3.0 says it as
/// `allOf: [T], nullable: true` (what schemathesis and most generators read).
fn nullable_refs(schema: &mut Value) {
    match schema {
        Value::Object(o) => {
            let nullable_ref = match o.get("anyOf").and_then(Value::as_array) {
                Some(options) if options.len() == 2 && is_null(&options[1]) => {
                    Some(options[0].clone())
                }
                _ => None,
            };
            if let Some(inner) = nullable_ref {
                o.remove("anyOf");
                o.insert("allOf".into(), Value::Array(vec![inner]));
                o.insert("nullable".into(), Value::Bool(true));
            }
            o.values_mut().for_each(nullable_refs);
        }
        Value::Array(items) => items.iter_mut().for_each(nullable_refs),
        _ => {}
    }
}

/// The `null` option schemars writes for OpenAPI 3.0: `{"enum": [null], "nullable": true}`.
fn is_null(schema: &Value) -> bool {
    schema.get("enum") == Some(&Value::Array(vec![Value::Null]))
}
