//! The XT804 core timer (CoreTIM, at 0xE000_E010 on the W800 and on QEMU's smartl): a 24-bit
//! down-counter at the CPU clock that interrupts each time it wraps. It is the RTOS tick.

use crate::mmio::Reg;

/// Where the timer's registers start.
pub const BASE: usize = 0xE000_E010;
/// Control and status: enable, interrupt, clock source; bit 16 says it wrapped (reading
/// clears it and drops the interrupt).
pub const CSR: Reg = Reg::at(BASE, 0x0);
/// The value loaded at each wrap.
pub const RELOAD: Reg = Reg::at(BASE, 0x4);
/// The current count; writing clears it.
pub const CURRENT: Reg = Reg::at(BASE, 0x8);

/// CSR: count.
pub const CSR_ENABLE: u32 = 1 << 0;
/// CSR: interrupt at each wrap.
pub const CSR_TICKINT: u32 = 1 << 1;
/// CSR: count the core clock.
pub const CSR_CORE_CLOCK: u32 = 1 << 2;
/// CSR as the tick runs it.
pub const CSR_TICK: u32 = CSR_ENABLE | CSR_TICKINT | CSR_CORE_CLOCK;
/// The counter's width.
pub const MAX_RELOAD: u32 = 0x00FF_FFFF;

/// The reload value for `tick_hz` interrupts a second at `clock_hz`: the counter goes from
/// the reload value down to 0, one tick per reload + 1 cycles. `None` when the period does
/// not fit the 24-bit counter.
pub const fn reload_value(clock_hz: u32, tick_hz: u32) -> Option<u32> {
    if tick_hz == 0 {
        return None;
    }
    let cycles = clock_hz / tick_hz;
    if cycles == 0 || cycles - 1 > MAX_RELOAD {
        None
    } else {
        Some(cycles - 1)
    }
}

/// The core timer.
#[derive(Debug)]
pub struct CoreTimer(());

impl CoreTimer {
    /// The core's timer.
    ///
    /// # Safety
    /// Only on an XT804 core, by the board: one owner drives the tick.
    pub const unsafe fn new() -> CoreTimer {
        CoreTimer(())
    }

    /// Interrupts every `reload + 1` cycles from now on.
    pub fn start(&self, reload: u32) {
        // SAFETY: the timer's registers (see `new`), which this driver owns.
        unsafe {
            CSR.write(0);
            RELOAD.write(reload & MAX_RELOAD);
            CURRENT.write(0);
            CSR.write(CSR_TICK);
        }
    }

    /// Stops counting and interrupting.
    pub fn stop(&self) {
        // SAFETY: as in `start`.
        unsafe { CSR.write(0) }
    }

    /// Acknowledges a wrap, which drops the interrupt: the tick handler's first step.
    pub fn acknowledge(&self) {
        // SAFETY: as in `start`; reading CSR clears the wrap flag, which is ours to clear.
        unsafe { CSR.read() };
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_1khz_tick_at_240mhz_reloads_at_239999() {
        assert_eq!(reload_value(240_000_000, 1000), Some(239_999));
        // The SDK's default 80 MHz clock: 80 000 counts per tick.
        assert_eq!(reload_value(80_000_000, 1000), Some(79_999));
    }

    #[test]
    fn periods_the_24_bit_counter_cannot_hold_are_refused() {
        assert_eq!(reload_value(240_000_000, 10), None);
        assert_eq!(reload_value(240_000_000, 15), Some(15_999_999));
        assert_eq!(reload_value(1000, 2000), None);
        assert_eq!(reload_value(240_000_000, 0), None);
    }

    #[test]
    fn registers_follow_the_coretim_layout() {
        assert_eq!(CSR.addr(), 0xE000_E010);
        assert_eq!(RELOAD.addr(), 0xE000_E014);
        assert_eq!(CURRENT.addr(), 0xE000_E018);
        assert_eq!(CSR_TICK, 0x7);
    }
}
