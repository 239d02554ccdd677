//! Sizes the AWS services impose, in one place so that the stores, the queue, the admin API
//! and the template agree (the drift test checks the template against these numbers).

/// Largest events-queue message body: the queue's `MaximumMessageSize` in
/// `infra/template.yaml` (SQS's maximum, 1 MiB).
pub const MAX_QUEUE_MESSAGE_BYTES: usize = 1024 * 1024;

/// Largest JSON document of one stored record (event, attempt, source, subscription).
/// DynamoDB items are at most 400 KB, attribute names and the key and index attributes
/// stored beside the document included (a few hundred bytes).
pub const MAX_RECORD_DOC_BYTES: usize = 400 * 1024 - 8 * 1024;

/// DynamoDB's longest partition key value (2 KiB). No record can exist under a longer id.
pub const MAX_PARTITION_KEY_BYTES: usize = 2048;

/// Largest admin request body; a larger one is refused with 413 before it is parsed.
pub const MAX_ADMIN_BODY_BYTES: usize = 256 * 1024;
