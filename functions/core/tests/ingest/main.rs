//! The ingest path's integration tests, one binary: provider parsers and their fixtures,
//! signature verification, the source cache, ingest over the in-memory ports and the
//! emulator, and the property tests and fuzzing of every decoder and template.

// Tests may panic on unexpected values: that is how they fail.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;
mod fuzz_decoders;
mod fuzz_templates;
mod ingest_emulator;
mod ingest_providers;
mod provider_props;
mod providers;
mod signature_props;
mod source_cache;
mod telephony_providers;
mod verification;
