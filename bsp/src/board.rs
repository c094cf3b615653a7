//! The boards: each wires concrete drivers to the [`crate::hal`] traits.

#[cfg(feature = "qemu")]
pub mod qemu;
#[cfg(feature = "sim")]
pub mod sim;
#[cfg(feature = "qemu")]
pub mod uptime;
