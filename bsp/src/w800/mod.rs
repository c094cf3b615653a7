//! The W800's own peripherals (docs/w800.md, "Peripheral addresses and interrupts", "UART",
//! "Watchdog and software reset", "Clocks"): UART0, the watchdog, the clock divider. The
//! register values are plain constants and `const fn`s, tested on the host.

pub mod rcc;
pub mod uart;
pub mod watchdog;

/// Where the flash is mapped for execute-in-place reads: flash offset 0 is here.
pub const XIP_BASE: usize = 0x0800_0000;
