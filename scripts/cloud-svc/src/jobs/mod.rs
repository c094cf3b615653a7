//! The AWS IoT Jobs service: jobs and executions, the device MQTT API, notifications, step and
//! in-progress timeouts, and job documents with presigned-URL placeholders.

mod api;
pub mod document;
mod table;
#[cfg(test)]
mod tests;

pub use api::REQUEST_TOPICS;
pub use document::UrlSigner;
pub use table::{Jobs, Message, MessageKind, Millis, NewJob};
