//! The W800's own peripherals (docs/w800.md, "Peripheral addresses and interrupts", "UART",
//! "Flash and the QFLASH controller", "Random numbers", "Watchdog and software reset",
//! "Clocks"): UART0, the flash controller, the TRNG, the watchdog, the clock divider, and the
//! vendor SDK's Wi-Fi station for the `wm-iot-sdk` build (docs/w800-wifi.md). The drivers
//! reach their registers through a [`bus::Bus`], so the host tests check every access
//! against the vendor's documented values.

pub mod bus;
pub mod qflash;
pub mod rcc;
pub mod sdk;
pub mod trng;
pub mod uart;
pub mod watchdog;

/// Where the flash is mapped for execute-in-place reads: flash offset 0 is here.
pub const XIP_BASE: usize = 0x0800_0000;
