//! A request log for the cost model: an SDK interceptor that records every DynamoDB and SQS
//! request a client sends (operation, table, index, the item written, the bytes read or
//! queued), so that capacity units are computed from what the adapters really do rather
//! than from assumed counts. Attached only by the benchmarks; the functions never use it.

use aws_sdk_dynamodb::operation as ddb;
use aws_sdk_dynamodb::types::AttributeValue;
use aws_sdk_sqs::operation as sqs;
use aws_smithy_runtime_api::box_error::BoxError;
use aws_smithy_runtime_api::client::interceptors::context::{
    BeforeSerializationInterceptorContextRef, FinalizerInterceptorContextRef,
};
use aws_smithy_runtime_api::client::interceptors::Intercept;
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
use aws_smithy_types::config_bag::{ConfigBag, Storable, StoreReplace};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

pub type Item = HashMap<String, AttributeValue>;

/// One request as sent, and what its answer carried.
#[derive(Debug, Clone, Default)]
pub struct Request {
    pub operation: &'static str,
    pub table: Option<String>,
    pub index: Option<String>,
    /// PutItem: the whole item; UpdateItem and DeleteItem: the key.
    pub item: Option<Item>,
    pub consistent: bool,
    /// Sizes (DynamoDB item size rules) of the items a read returned.
    pub returned: Vec<usize>,
    /// SQS: message bodies sent, and messages received.
    pub message_bytes: Vec<usize>,
    pub succeeded: bool,
}

impl Storable for Request {
    type Storer = StoreReplace<Self>;
}

/// The shared log; clone it into every client that should be recorded.
#[derive(Debug, Clone, Default)]
pub struct RequestLog(Arc<Mutex<Vec<Request>>>);

impl RequestLog {
    /// Everything recorded so far, leaving the log empty.
    pub fn take(&self) -> Vec<Request> {
        self.0
            .lock()
            .map(|mut v| std::mem::take(&mut *v))
            .unwrap_or_default()
    }
}

/// DynamoDB's size of an attribute value: strings and binaries by length, numbers about one
/// byte per two significant digits plus one, maps and lists 3 bytes plus their elements.
pub fn value_size(v: &AttributeValue) -> usize {
    match v {
        AttributeValue::S(s) => s.len(),
        AttributeValue::N(n) => n.trim_start_matches('-').len().div_ceil(2) + 1,
        AttributeValue::B(b) => b.as_ref().len(),
        AttributeValue::Bool(_) | AttributeValue::Null(_) => 1,
        AttributeValue::Ss(l) => l.iter().map(String::len).sum(),
        AttributeValue::Ns(l) => l.iter().map(|n| n.len().div_ceil(2) + 1).sum(),
        AttributeValue::Bs(l) => l.iter().map(|b| b.as_ref().len()).sum(),
        AttributeValue::M(m) => {
            3 + m
                .iter()
                .map(|(k, v)| 1 + k.len() + value_size(v))
                .sum::<usize>()
        }
        AttributeValue::L(l) => 3 + l.iter().map(|v| 1 + value_size(v)).sum::<usize>(),
        _ => 0,
    }
}

/// DynamoDB's size of an item: attribute names plus values.
pub fn item_size<'a>(attrs: impl IntoIterator<Item = (&'a String, &'a AttributeValue)>) -> usize {
    attrs
        .into_iter()
        .map(|(k, v)| k.len() + value_size(v))
        .sum()
}

fn sizes(items: Option<&[Item]>) -> Vec<usize> {
    items.unwrap_or_default().iter().map(item_size).collect()
}

/// The request an operation input describes (`None`: not one this log knows).
fn describe(
    input: &aws_smithy_runtime_api::client::interceptors::context::Input,
) -> Option<Request> {
    let r = |operation, table: Option<&str>| Request {
        operation,
        table: table.map(str::to_owned),
        ..Request::default()
    };
    if let Some(i) = input.downcast_ref::<ddb::put_item::PutItemInput>() {
        return Some(Request {
            item: i.item.clone(),
            ..r("PutItem", i.table_name())
        });
    }
    if let Some(i) = input.downcast_ref::<ddb::update_item::UpdateItemInput>() {
        return Some(Request {
            item: i.key.clone(),
            ..r("UpdateItem", i.table_name())
        });
    }
    if let Some(i) = input.downcast_ref::<ddb::delete_item::DeleteItemInput>() {
        return Some(Request {
            item: i.key.clone(),
            ..r("DeleteItem", i.table_name())
        });
    }
    if let Some(i) = input.downcast_ref::<ddb::get_item::GetItemInput>() {
        return Some(Request {
            consistent: i.consistent_read.unwrap_or(false),
            ..r("GetItem", i.table_name())
        });
    }
    if let Some(i) = input.downcast_ref::<ddb::query::QueryInput>() {
        return Some(Request {
            index: i.index_name.clone(),
            consistent: i.consistent_read.unwrap_or(false),
            ..r("Query", i.table_name())
        });
    }
    if let Some(i) = input.downcast_ref::<ddb::scan::ScanInput>() {
        return Some(Request {
            consistent: i.consistent_read.unwrap_or(false),
            ..r("Scan", i.table_name())
        });
    }
    if let Some(i) = input.downcast_ref::<sqs::send_message::SendMessageInput>() {
        return Some(Request {
            message_bytes: vec![i.message_body().map_or(0, str::len)],
            ..r("SendMessage", None)
        });
    }
    if input
        .downcast_ref::<sqs::receive_message::ReceiveMessageInput>()
        .is_some()
    {
        return Some(r("ReceiveMessage", None));
    }
    if input
        .downcast_ref::<sqs::delete_message::DeleteMessageInput>()
        .is_some()
    {
        return Some(r("DeleteMessage", None));
    }
    if input
        .downcast_ref::<sqs::change_message_visibility::ChangeMessageVisibilityInput>()
        .is_some()
    {
        return Some(r("ChangeMessageVisibility", None));
    }
    None
}

/// What the answer adds to the request: item sizes read, messages received.
fn complete(
    request: &mut Request,
    output: &aws_smithy_runtime_api::client::interceptors::context::Output,
) {
    if let Some(o) = output.downcast_ref::<ddb::get_item::GetItemOutput>() {
        request.returned = o.item.as_ref().map(item_size).into_iter().collect();
    } else if let Some(o) = output.downcast_ref::<ddb::query::QueryOutput>() {
        request.returned = sizes(o.items.as_deref());
    } else if let Some(o) = output.downcast_ref::<ddb::scan::ScanOutput>() {
        request.returned = sizes(o.items.as_deref());
    } else if let Some(o) = output.downcast_ref::<sqs::receive_message::ReceiveMessageOutput>() {
        request.message_bytes = o
            .messages()
            .iter()
            .map(|m| m.body().map_or(0, str::len))
            .collect();
    }
}

impl Intercept for RequestLog {
    fn name(&self) -> &'static str {
        "RequestLog"
    }

    fn read_before_execution(
        &self,
        context: &BeforeSerializationInterceptorContextRef<'_>,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        // The input is consumed by serialization: describe it now, finish after the answer.
        if let Some(request) = describe(context.input()) {
            cfg.interceptor_state().store_put(request);
        }
        Ok(())
    }

    fn read_after_execution(
        &self,
        context: &FinalizerInterceptorContextRef<'_>,
        _runtime_components: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let Some(mut request) = cfg.load::<Request>().cloned() else {
            return Ok(());
        };
        match context.output_or_error() {
            Some(Ok(output)) => {
                request.succeeded = true;
                complete(&mut request, output);
            }
            // A refused condition is billed like a write; other failures are counted too.
            _ => request.succeeded = false,
        }
        if let Ok(mut log) = self.0.lock() {
            log.push(request);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn item_sizes_follow_dynamodb_rules() {
        let item: Item = HashMap::from([
            ("id".to_owned(), AttributeValue::S("evt_1".into())),
            ("n".to_owned(), AttributeValue::N("12345".into())),
            ("ok".to_owned(), AttributeValue::Bool(true)),
        ]);
        // "id" + 5 bytes, "n" + 5 digits (3 + 1), "ok" + 1
        assert_eq!(item_size(&item), 2 + 5 + 1 + 4 + 2 + 1);
    }
}
