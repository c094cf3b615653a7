//! The W800 board: the firmware on the chip itself, linked at the app's run address
//! (`ld/w800.ld`) for the vendor bootloader to start.
//!
//! - Console: UART0 at 115200 8N1 from the 40 MHz bus clock, as the vendor's; bytes go out
//!   through the transmit FIFO and come in by interrupt (VIC 16) into a queue the shell
//!   reads, as on the QEMU board.
//! - Flash: the QFLASH controller ([`QFlash`]): erase and program by controller command, run
//!   from RAM with interrupts masked, reads through the XIP window. It never erases or
//!   programs the factory area or the `app` partition the firmware runs from
//!   ([`PROTECTED`]), so OTA writes `app_ota` and the vendor bootloader installs.
//! - Entropy: the TRNG in the GPSEC block ([`Trng`]), the board's `SecureEntropy`.
//! - Reset: the reason goes into the reset word (0x2004_7EFC), then the watchdog resets the
//!   chip as the vendor SDK does; a panic or fault resets with reason "exception".
//! - Tick: CoreTIM on VIC interrupt 25, at the CPU clock the bootloader left (read back from
//!   the clock divider).
//! - Clock: counts from the epoch at boot until SNTP sets it (the W800 has no RTC backup).
//!
//! With the `wm-iot-sdk` feature the board also offers the vendor SDK's Wi-Fi station
//! (docs/w800-wifi.md).

use crate::w800::qflash::FACTORY_AREA;
use core::ops::Range;

/// The console UART.
pub const UART0_BASE: usize = 0x4001_0600;
/// The console UART's VIC interrupt (`WM_IRQ_UART0`).
pub const UART0_IRQ: u32 = 16;
/// The bus clock the UARTs count from (`WM_APB_CLOCK`).
pub const APB_HZ: u32 = 40_000_000;
/// The console's line speed, the vendor's.
pub const CONSOLE_BAUD: u32 = 115_200;
/// CoreTIM's VIC interrupt on the W800 (`SYS_TICK_IRQn`).
pub const CORET_IRQ: u32 = 25;
/// The reset word: byte 0 is the reason the next start reads.
pub const RESET_WORD: usize = 0x2004_7EFC;
/// How many received bytes wait for the shell at most.
pub const RX_QUEUE_LEN: u32 = 256;
/// The `app` partition the firmware runs from (the `with_ota` table): its 0x400-byte header
/// area, then the code `ld/w800.ld` links at 0x0800_F400.
pub const APP_PARTITION: Range<u32> = 0xF000..0x13_1000;
/// What the flash driver never erases or programs.
pub const PROTECTED: &[Range<u32>] = &[FACTORY_AREA, APP_PARTITION];

#[cfg(target_arch = "csky")]
pub use chip::*;

/// The board's hardware: only on the chip.
#[cfg(target_arch = "csky")]
mod chip {
    extern crate alloc;

    use super::*;
    use crate::board::last_words::{report_fault, report_panic, LastWords};
    use crate::board::uptime::UptimeClock;
    use crate::hal::{Console, ConsoleRead, Reset, ResetReason};
    use crate::mmio::Reg;
    use crate::w800::bus::Mmio;
    use crate::w800::qflash::{self, QFlash};
    use crate::w800::trng::Trng;
    use crate::w800::{rcc, uart::Uart, watchdog};
    use crate::xt804::coret::{self, CoreTimer};
    use crate::xt804::vic::Vic;
    use core::sync::atomic::{AtomicBool, AtomicPtr, Ordering};
    use core::time::Duration;
    use kernel::{IsrContext, Queue};

    /// The flash.
    pub type W800Flash = QFlash<Mmio>;
    /// The entropy source.
    pub type W800Entropy = Trng<Mmio>;

    /// Everything the board offers, ready to hand to the application.
    pub struct W800Board {
        pub console: W800Console,
        pub flash: W800Flash,
        pub reset: W800Reset,
        pub clock: UptimeClock,
        pub entropy: W800Entropy,
        /// The vendor SDK's Wi-Fi station.
        #[cfg(feature = "wm-iot-sdk")]
        pub station: crate::w800::sdk::SdkStation,
    }

    static TAKEN: AtomicBool = AtomicBool::new(false);
    /// Bytes the UART's interrupt received, for the console to read.
    static RX_QUEUE: AtomicPtr<Queue<u8>> = AtomicPtr::new(core::ptr::null_mut());

    /// The chip's bus, for a driver of this board.
    fn mmio() -> Mmio {
        // SAFETY: this is the W800; each driver made from it owns its device (see `take`).
        unsafe { Mmio::new() }
    }

    fn uart0() -> Uart<Mmio> {
        // SAFETY: the W800's UART0, whose clock the bootloader left on (it prints through
        // it). Configured and written in task context under the console's mutex (or in the
        // last words of a panic or fault); received from only in its interrupt handler.
        unsafe { Uart::new(mmio(), UART0_BASE) }
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

            let flash = QFlash::new(
                mmio(),
                PROTECTED,
                qflash::poll_bound(cpu_hz, qflash::COMMAND_TIMEOUT_MS),
            );
            let mut entropy = Trng::start(mmio());
            entropy.settle(cpu_hz);

            let queue = match Queue::new(RX_QUEUE_LEN) {
                Ok(queue) => alloc::boxed::Box::leak(alloc::boxed::Box::new(queue)),
                Err(e) => panic!("cannot make the console queue: {e}"),
            };
            RX_QUEUE.store(queue, Ordering::Release);
            uart0().enable_rx_interrupts();
            vic().enable(UART0_IRQ);

            let Some(reload) = coret::reload_value(cpu_hz, kernel::port::tick_rate_hz()) else {
                panic!("the tick rate does not fit CoreTIM at {cpu_hz} Hz");
            };
            core_timer().start(reload);
            vic().enable(CORET_IRQ);

            W800Board {
                console: W800Console { rx: queue },
                flash,
                reset: W800Reset { last },
                clock: UptimeClock::new(),
                entropy,
                #[cfg(feature = "wm-iot-sdk")]
                station: crate::w800::sdk::SdkStation::take(),
            }
        }
    }

    /// The console: UART0's transmit FIFO out, the interrupt-fed queue in.
    pub struct W800Console {
        rx: &'static Queue<u8>,
    }

    impl Console for W800Console {
        fn write(&mut self, bytes: &[u8]) {
            let mut uart = uart0();
            for byte in bytes {
                uart.write_byte(*byte);
            }
        }

        fn read(&mut self) -> ConsoleRead {
            match self.rx.receive(Duration::ZERO) {
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
        match irq {
            CORET_IRQ => {
                core_timer().acknowledge();
                kernel::port::tick_from_isr(&mut isr);
            }
            UART0_IRQ => receive(&mut isr),
            _ => {}
        }
    }

    /// Moves every received byte into the console's queue; a full queue drops the byte, as a
    /// UART overrun would.
    fn receive(isr: &mut IsrContext) {
        let queue = RX_QUEUE.load(Ordering::Acquire);
        // SAFETY: `take` stores a leaked queue before it enables this interrupt.
        let queue = unsafe { queue.as_ref() };
        uart0().receive(|byte| {
            if let Some(queue) = queue {
                let _ = queue.send_from_isr(isr, byte);
            }
        });
    }

    fn last_words() -> LastWords<impl FnMut(u8)> {
        let mut uart = uart0();
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
    use crate::format::ptable::{self, PartitionTableRepr};
    use crate::w800::XIP_BASE;

    #[test]
    fn the_protected_app_partition_is_the_one_the_firmware_is_linked_into() {
        let table = PartitionTableRepr::with_ota();
        let app = table.find(ptable::APP).unwrap();
        assert_eq!(APP_PARTITION, app.offset..app.offset + app.size);
        // ld/w800.ld: CODE at 0x0800_F400, 0x121C00 bytes: the partition after its header area.
        assert_eq!(XIP_BASE as u32 + APP_PARTITION.start + 0x400, 0x0800_F400);
        assert_eq!(APP_PARTITION.end - APP_PARTITION.start - 0x400, 0x12_1C00);
        // app_ota, where OTA writes, is outside everything protected.
        let app_ota = table.find(ptable::APP_OTA).unwrap();
        assert!(PROTECTED
            .iter()
            .all(|p| app_ota.offset >= p.end || app_ota.offset + app_ota.size <= p.start));
        assert_eq!(PROTECTED[0], 0..0x2000);
    }

    #[test]
    fn the_console_and_tick_values_of_the_w800() {
        assert_eq!(UART0_BASE, 0x4001_0600);
        assert_eq!(UART0_IRQ, 16);
        assert_eq!(CORET_IRQ, 25);
        assert_eq!(
            crate::w800::uart::baud_register(APB_HZ, CONSOLE_BAUD),
            0x000B_0014
        );
    }
}
