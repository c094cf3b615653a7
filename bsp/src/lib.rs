//! Board support for the WinnerMicro W800 firmware.
//!
//! Hardware-independent code talks to hardware only through the small traits in [`hal`];
//! each board under `board` implements them. The W800 on-flash formats (image header,
//! partition table) live in [`format`](mod@format) and are shared with the host tools.
#![cfg_attr(not(any(feature = "std", test)), no_std)]

#[cfg(feature = "qemu")]
extern crate alloc;

pub mod dw_uart;
pub mod factory;
pub mod format;
pub mod hal;
pub mod impair;
pub mod mmio;
pub mod nor;
pub mod ota;
#[cfg(any(test, feature = "std"))]
pub mod sample;
pub mod w800;
pub mod xt804;

#[cfg(any(feature = "sim", feature = "qemu", feature = "w800"))]
pub mod board;
