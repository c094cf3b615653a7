//! The W800 AWS OTA firmware, independent of the board it runs on.
//!
//! A board binary (`src/bin/`) builds a [`Platform`] from its drivers and calls [`boot`]; from
//! there everything goes through the safe APIs of `kernel`, `net` and `bsp`.
#![cfg_attr(not(test), no_std)]
#![forbid(unsafe_code)]

extern crate alloc;

pub mod aws_ota;
pub mod boot;
pub mod commands;
pub mod config;
pub mod layout;
pub mod logger;
pub mod mqtt;
pub mod ota;
pub mod platform;
pub mod selftest;
pub mod services;
pub mod settings;
pub mod shell;
pub mod time;

pub use boot::boot;
pub use platform::Platform;

/// The firmware version compiled into this code: `W800_FIRMWARE_VERSION` at build time, else
/// the crate's (see `build.rs`). It is also what a factory-fresh sim flash writes into the app
/// image header (`ver`, ≤ 15 characters), and what a running image reports as its own.
pub const VERSION: &str = env!("W800_BUILT_VERSION");
