//! The boards: each wires concrete drivers to the [`crate::hal`] traits.

#[cfg(any(feature = "qemu", feature = "w800"))]
pub mod last_words;
#[cfg(feature = "qemu")]
pub mod qemu;
#[cfg(feature = "qemu")]
pub mod seeded_entropy;
#[cfg(feature = "sim")]
pub mod sim;
#[cfg(any(feature = "qemu", feature = "w800"))]
pub mod uptime;
#[cfg(feature = "w800")]
pub mod w800;
