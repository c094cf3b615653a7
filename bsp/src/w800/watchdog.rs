//! The W800's watchdog (0x4001_1600), used for the software reset as the vendor SDK does it
//! (docs/w800.md, "Watchdog and software reset"): a short count with the reset enabled. The
//! first expiry raises its interrupt; the second, with the interrupt still pending, resets the
//! chip.

use crate::mmio::Reg;

/// Where the watchdog's registers start.
pub const BASE: usize = 0x4001_1600;
/// The count loaded at start and after each expiry.
pub const LOAD: Reg = Reg::at(BASE, 0x00);
/// Control: bit 0 counts, bit 1 lets an expiry reset the chip.
pub const CTRL: Reg = Reg::at(BASE, 0x08);
/// Writing 1 clears the pending expiry interrupt.
pub const INT_CLEAR: Reg = Reg::at(BASE, 0x0C);

/// CTRL: counting, with the reset armed.
pub const CTRL_RESET_ARMED: u32 = 0b11;
/// The count of the software reset: 256 bus cycles, a few microseconds at 40 MHz.
pub const RESET_COUNT: u32 = 0x100;

/// The register writes of the software reset, in order.
pub const RESET_SEQUENCE: [(Reg, u32); 5] = [
    (CTRL, 0),
    (INT_CLEAR, 1),
    (LOAD, RESET_COUNT),
    (INT_CLEAR, 1),
    (CTRL, CTRL_RESET_ARMED),
];

/// Resets the chip through the watchdog.
///
/// # Safety
/// Only on a W800: nothing after this call runs for long.
pub unsafe fn reset_chip() -> ! {
    for (reg, value) in RESET_SEQUENCE {
        // SAFETY: the W800's watchdog registers, as the caller promises.
        unsafe { reg.write(value) };
    }
    loop {
        core::hint::spin_loop();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_reset_stops_reloads_then_arms_the_watchdog() {
        let writes: Vec<(usize, u32)> =
            RESET_SEQUENCE.iter().map(|(r, v)| (r.addr(), *v)).collect();
        assert_eq!(
            writes,
            [
                (0x4001_1608, 0),
                (0x4001_160C, 1),
                (0x4001_1600, 0x100),
                (0x4001_160C, 1),
                (0x4001_1608, 3),
            ]
        );
    }
}
