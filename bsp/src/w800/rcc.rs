//! The W800's clock and reset controller (RCC, 0x4000_0E00): only what the firmware reads.

use crate::mmio::Reg;

/// The clock dividers: bits 7:0 divide the 480 MHz PLL down to the CPU clock.
pub const CLK_DIV: Reg = Reg::at(0x4000_0E00, 0x10);
/// The PLL the CPU clock is divided from.
pub const PLL_HZ: u32 = 480_000_000;
/// The fastest CPU clock the W800 allows.
pub const CPU_HZ_MAX: u32 = 240_000_000;

/// The CPU clock a CLK_DIV value selects, or `None` for a divider the W800 does not allow
/// (0, or one above 240 MHz).
pub const fn cpu_hz(clk_div: u32) -> Option<u32> {
    let div = clk_div & 0xFF;
    if div == 0 || PLL_HZ / div > CPU_HZ_MAX {
        None
    } else {
        Some(PLL_HZ / div)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_cpu_clock_is_the_pll_over_the_low_byte() {
        assert_eq!(cpu_hz(0x0000_0002), Some(240_000_000));
        // The SDK's default: 80 MHz, whatever the other dividers.
        assert_eq!(cpu_hz(0x0C03_0306), Some(80_000_000));
        assert_eq!(cpu_hz(0x0000_0001), None);
        assert_eq!(cpu_hz(0x0000_0100), None);
    }
}
