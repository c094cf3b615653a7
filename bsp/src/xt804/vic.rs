//! The XT804 core's vectored interrupt controller (VIC, at 0xE000_E100 on the W800 and on
//! QEMU's smartl). Interrupt n is exception 32 + n; the context switch's TSPEND register
//! belongs to the kernel port, not here.

use crate::mmio::Reg;

/// Where the VIC's registers start.
pub const BASE: usize = 0xE000_E100;
/// Interrupt set-enable: writing bit n enables interrupt n.
pub const ISER: Reg = Reg::at(BASE, 0x000);
/// Interrupt clear-enable: writing bit n disables interrupt n.
pub const ICER: Reg = Reg::at(BASE, 0x080);
/// Interrupt clear-pending: writing bit n forgets a pending interrupt n.
pub const ICPR: Reg = Reg::at(BASE, 0x180);
/// The number of interrupt inputs.
pub const IRQ_COUNT: u32 = 32;

/// The ISER/ICER/ICPR bit of interrupt `irq`.
pub const fn irq_bit(irq: u32) -> u32 {
    assert!(irq < IRQ_COUNT, "the VIC has 32 interrupts");
    1 << irq
}

/// The VIC. Its registers are set-only/clear-only bit masks, so independent users never
/// overwrite each other's bits.
#[derive(Debug)]
pub struct Vic(());

impl Vic {
    /// The core's VIC.
    ///
    /// # Safety
    /// Only on an XT804 core, by the board, which then decides which interrupts are on.
    pub const unsafe fn new() -> Vic {
        Vic(())
    }

    /// Disables every interrupt and forgets pending ones: the state a (re)start begins from.
    pub fn disable_all(&self) {
        // SAFETY: VIC registers of this core (see `new`); the board owns the interrupt set-up.
        unsafe {
            ICER.write(u32::MAX);
            ICPR.write(u32::MAX);
        }
    }

    /// Enables interrupt `irq`.
    pub fn enable(&self, irq: u32) {
        // SAFETY: as in `disable_all`; ISER only sets the bit written.
        unsafe { ISER.write(irq_bit(irq)) }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn registers_and_bits_follow_the_vic_layout() {
        assert_eq!(ISER.addr(), 0xE000_E100);
        assert_eq!(ICER.addr(), 0xE000_E180);
        assert_eq!(ICPR.addr(), 0xE000_E280);
        assert_eq!(irq_bit(0), 0x1);
        assert_eq!(irq_bit(1), 0x2);
        assert_eq!(irq_bit(25), 0x0200_0000);
        assert_eq!(irq_bit(31), 0x8000_0000);
    }

    #[test]
    #[should_panic(expected = "32 interrupts")]
    fn there_is_no_interrupt_32() {
        irq_bit(32);
    }
}
