//! The W800 board, minimal: the firmware on the chip itself, linked at the app's run address
//! (`ld/w800.ld`) for the vendor bootloader to start.
//!
//! - Console: UART0 at 115200 8N1 from the 40 MHz bus clock, polled both ways (the shell
//!   polls every 10 ms; the 32-byte receive FIFO holds what arrives meanwhile at typing speed).
//! - Flash: read through the XIP window; erase and program are refused
//!   ([`FlashError::ReadOnly`]) until the QFLASH controller has a driver.
//! - Reset: the reason goes into the reset word (0x2004_7EFC), then the watchdog resets the
//!   chip as the vendor SDK does; a panic or fault resets with reason "exception".
//! - Tick: CoreTIM on VIC interrupt 25, at the CPU clock the bootloader left (read back from
//!   the clock divider).
//! - Entropy and clock: the same stand-ins as the QEMU board (the TRNG has no driver yet, so
//!   this board opens no TLS).

use crate::hal::{Flash, FlashError, FlashGeometry};

/// The console UART.
pub const UART0_BASE: usize = 0x4001_0600;
/// The bus clock the UARTs count from (`WM_APB_CLOCK`).
pub const APB_HZ: u32 = 40_000_000;
/// The console's line speed, the vendor's.
pub const CONSOLE_BAUD: u32 = 115_200;
/// CoreTIM's VIC interrupt on the W800 (`SYS_TICK_IRQn`).
pub const CORET_IRQ: u32 = 25;
/// The reset word: byte 0 is the reason the next start reads.
pub const RESET_WORD: usize = 0x2004_7EFC;

/// The flash, read through the XIP window.
#[derive(Debug)]
pub struct XipFlash {
    base: usize,
}

impl XipFlash {
    /// The flash mapped at `base`.
    ///
    /// # Safety
    /// `base` must map the whole W800 flash for reading (the XIP window), and nothing may
    /// change the flash behind this driver's back while it reads.
    pub const unsafe fn new(base: usize) -> XipFlash {
        XipFlash { base }
    }
}

impl Flash for XipFlash {
    fn geometry(&self) -> FlashGeometry {
        FlashGeometry::W800
    }

    fn read(&mut self, offset: u32, buf: &mut [u8]) -> Result<(), FlashError> {
        let len = u32::try_from(buf.len()).unwrap_or(u32::MAX);
        match offset.checked_add(len) {
            Some(end) if end <= FlashGeometry::W800.size => {}
            _ => return Err(FlashError::OutOfRange { offset, len }),
        }
        // SAFETY: `offset..offset + len` lies inside the flash, which the window maps (see
        // `new`).
        unsafe {
            let src = (self.base + offset as usize) as *const u8;
            core::ptr::copy_nonoverlapping(src, buf.as_mut_ptr(), buf.len());
        }
        Ok(())
    }

    fn erase_sector(&mut self, _offset: u32) -> Result<(), FlashError> {
        Err(FlashError::ReadOnly)
    }

    fn program(&mut self, _offset: u32, _data: &[u8]) -> Result<(), FlashError> {
        Err(FlashError::ReadOnly)
    }
}

#[cfg(target_arch = "csky")]
pub use chip::*;

/// The board's hardware: only on the chip.
#[cfg(target_arch = "csky")]
mod chip {
    use super::*;
    use crate::board::last_words::{report_fault, report_panic, LastWords};
    use crate::board::seeded_entropy::SeededTestEntropy;
    use crate::board::uptime::UptimeClock;
    use crate::hal::{Console, ConsoleRead, Reset, ResetReason};
    use crate::mmio::Reg;
    use crate::w800::{rcc, uart::Uart, watchdog, XIP_BASE};
    use crate::xt804::coret::{self, CoreTimer};
    use crate::xt804::vic::Vic;
    use core::sync::atomic::{AtomicBool, Ordering};
    use kernel::IsrContext;

    /// Everything the board offers, ready to hand to the application.
    pub struct W800Board {
        pub console: W800Console,
        pub flash: XipFlash,
        pub reset: W800Reset,
        pub clock: UptimeClock,
        pub entropy: SeededTestEntropy,
    }

    static TAKEN: AtomicBool = AtomicBool::new(false);

    fn uart0() -> Uart {
        // SAFETY: the W800's UART0, whose clock the bootloader left on (it prints through
        // it). Configured and written in task context under the console's mutex, or in the
        // last words of a panic or fault.
        unsafe { Uart::new(UART0_BASE) }
    }

    fn vic() -> Vic {
        // SAFETY: the W800's XT804 core; this board sets its interrupts up.
        unsafe { Vic::new() }
    }

    fn core_timer() -> CoreTimer {
        // SAFETY: the XT804's CoreTIM; this board owns the tick.
        unsafe { CoreTimer::new() }
    }

    impl W800Board {
        /// Sets the board up, interrupts still masked: the firmware's main calls it first,
        /// once per start.
        pub fn take() -> W800Board {
            assert!(
                !TAKEN.swap(true, Ordering::SeqCst),
                "the board is taken once"
            );
            vic().disable_all();
            core_timer().stop();
            uart0().configure(APB_HZ, CONSOLE_BAUD);

            let reset_word = Reg::at(RESET_WORD, 0);
            // SAFETY: RAM that the linker script leaves out for this word; one use at start.
            let last = unsafe {
                let reason = ResetReason::from_byte(reset_word.read() as u8);
                reset_word.write(0);
                reason
            };

            // SAFETY: reading the clock divider has no side effect.
            let clk_div = unsafe { rcc::CLK_DIV.read() };
            let Some(cpu_hz) = rcc::cpu_hz(clk_div) else {
                panic!("the CPU clock divider 0x{clk_div:08X} is not one the W800 allows");
            };
            let Some(reload) = coret::reload_value(cpu_hz, kernel::port::tick_rate_hz()) else {
                panic!("the tick rate does not fit CoreTIM at {cpu_hz} Hz");
            };
            core_timer().start(reload);
            vic().enable(CORET_IRQ);

            // SAFETY: reading CoreTIM's count has no side effect.
            let seed = unsafe { coret::CURRENT.read() };
            W800Board {
                console: W800Console,
                // SAFETY: the XIP window maps the flash, which nothing else writes.
                flash: unsafe { XipFlash::new(XIP_BASE) },
                reset: W800Reset { last },
                clock: UptimeClock::new(),
                entropy: SeededTestEntropy::new(seed),
            }
        }
    }

    /// UART0, polled.
    pub struct W800Console;

    impl Console for W800Console {
        fn write(&mut self, bytes: &[u8]) {
            let uart = uart0();
            for byte in bytes {
                uart.write_byte(*byte);
            }
        }

        fn read(&mut self) -> ConsoleRead {
            match uart0().read_byte() {
                Some(byte) => ConsoleRead::Byte(byte),
                None => ConsoleRead::Empty,
            }
        }
    }

    /// The watchdog reset with the reason kept.
    pub struct W800Reset {
        last: ResetReason,
    }

    fn reset_with(reason: ResetReason) -> ! {
        // SAFETY: the reset word, kept out of every linker region; then the W800's watchdog.
        unsafe {
            Reg::at(RESET_WORD, 0).write(reason as u32);
            watchdog::reset_chip()
        }
    }

    impl Reset for W800Reset {
        fn last_reason(&self) -> ResetReason {
            self.last
        }

        fn reset(&self, reason: ResetReason) -> ! {
            reset_with(reason)
        }

        /// The W800 cannot switch itself off: it restarts, as after a user reboot.
        fn power_off(&self, _status: u8) -> ! {
            reset_with(ResetReason::User)
        }
    }

    /// The port's interrupt entry calls this for every interrupt.
    ///
    /// # Safety
    /// Only the port's interrupt entry calls it, once per interrupt, with interrupts masked:
    /// it opens the interrupt context that the `*_from_isr` services require.
    #[no_mangle]
    unsafe extern "C" fn csky_irq_dispatch(irq: u32) {
        // SAFETY: in the interrupt handler (see the contract); the context is dropped (and
        // the switch it may ask for pended) before returning.
        let mut isr = unsafe { IsrContext::enter() };
        if irq == CORET_IRQ {
            core_timer().acknowledge();
            kernel::port::tick_from_isr(&mut isr);
        }
    }

    fn last_words() -> LastWords<impl FnMut(u8)> {
        let uart = uart0();
        LastWords(move |byte| uart.write_byte(byte))
    }

    #[panic_handler]
    fn panic(info: &core::panic::PanicInfo<'_>) -> ! {
        // No interrupt (hence no task switch) from here on: the report is the last output.
        vic().disable_all();
        report_panic(&mut last_words(), info);
        reset_with(ResetReason::Exception)
    }

    /// `startup.S` calls this for an exception nothing expects.
    #[no_mangle]
    extern "C" fn xt804_fault_handler(vector: u32, epc: u32, epsr: u32, lr: u32) -> ! {
        vic().disable_all();
        report_fault(&mut last_words(), vector, epc, epsr, lr);
        reset_with(ResetReason::Exception)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn xip_reads_are_bounded_by_the_flash_and_writes_refused() {
        let image: Vec<u8> = (0..FlashGeometry::W800.size).map(|i| i as u8).collect();
        // SAFETY: `image` stands in for the window: the flash's size, alive for the test.
        let mut flash = unsafe { XipFlash::new(image.as_ptr() as usize) };
        let mut buf = [0u8; 4];
        flash.read(0xE000, &mut buf).unwrap();
        assert_eq!(buf, [0x00, 0x01, 0x02, 0x03]);
        flash.read(FlashGeometry::W800.size - 4, &mut buf).unwrap();
        assert!(matches!(
            flash.read(FlashGeometry::W800.size - 3, &mut buf),
            Err(FlashError::OutOfRange { .. })
        ));
        assert_eq!(flash.erase_sector(0x1F_0000), Err(FlashError::ReadOnly));
        assert_eq!(flash.program(0x1F_0000, &[0]), Err(FlashError::ReadOnly));
    }

    #[test]
    fn the_tick_and_console_values_of_the_w800() {
        assert_eq!(CORET_IRQ, 25);
        assert_eq!(
            crate::w800::uart::baud_register(APB_HZ, CONSOLE_BAUD),
            0x000B_0014
        );
    }
}
