//! Delivering one event to one subscriber: request building, signing, the HTTP call, and
//! what to do after a failure.

pub mod client;
pub use switchboard_domain::filter;
pub mod guard;
pub mod render;
pub mod retry;
pub mod signing;
pub mod targets;
pub mod template;
pub mod transport;

pub use client::{DeliveryClient, Outcome};
