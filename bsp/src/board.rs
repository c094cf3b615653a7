//! The boards: each wires concrete drivers to the [`crate::hal`] traits.

pub mod sim;
