//! The QEMU board: the firmware on QEMU's C-SKY `smartl` machine (a ck804ef like the W800's
//! XT804), to run the non-radio parts on the real instruction set.
//!
//! - Console: the DW UART at 0x4001_5000 (VIC interrupt 0); bytes go out polled and come in
//!   by interrupt, into a queue the shell polls.
//! - Flash: 2 MiB of smartl's third RAM bank (0x5000_0000, which the linker script leaves
//!   alone), with the sim's flash rules ([`crate::nor`]). At power-on (QEMU starts with RAM
//!   zeroed) it gets the factory content ([`crate::factory`]); a marker word after it tells a
//!   restart, which keeps it, as a chip keeps its flash.
//! - Reset: the reason goes into the W800's reset word (0x2004_7EFC), then the firmware starts
//!   over from its reset entry.
//! - Boot: QEMU loads the firmware's code into RAM at 0x0. At every start the board looks at
//!   what `app` holds ([`app_code`]): when it is other code that passes its checks (an update
//!   the boot stage installed), a routine running from RAM copies it over the loaded code and
//!   starts it, as the W800's bootloader starts what `app` holds; an image that fails its
//!   checks is refused with a message, and the loaded code goes on.
//! - Tick: CoreTIM (VIC interrupt 1). QEMU runs the CPU at the W800's top clock, 240 MHz
//!   (`-csky-extend cpu_freq=240000000`), but its CoreTIM counts at 1 GHz whatever that
//!   setting (see [`CORET_HZ`]).
//! - Power-off: the exit device at 0x1000_2000 ends QEMU with the status.
//! - Network: none (smartl has no NIC). In its place the OTA agent can use a stand-in for the
//!   cloud ([`crate::hal::LoopbackCloud`]) in smartl's fourth RAM bank: a job document and
//!   its file that QEMU's loader puts there, and the job execution's record, which a restart
//!   keeps.
//! - smartl has no random source and no RTC: entropy is a generator seeded from the timer (fit
//!   for nothing secret), and the clock counts from the epoch at boot.

use crate::factory::{self, FactoryError};
use crate::format::image::{self, CompressType, ImageHeaderRepr, Version};
use crate::format::ptable::{self, PartitionTableRepr};
use crate::hal::Flash;
use crate::hal::FlashGeometry;
use crate::nor::RamStore;
use crate::ota::install::check_app;
use crate::ota::RECORD_SECTOR;
use crate::ota::{OtaError, Slots};
use core::fmt;
use core::ops::Range;

/// The CPU clock QEMU is started with (`-csky-extend cpu_freq=240000000`).
pub const CPU_HZ: u32 = 240_000_000;
/// CoreTIM's clock in QEMU: the smartl machine passes `cpu_freq` to CoreTIM only after the
/// timer has taken its frequency (its 1 GHz default) at creation, so it always counts at
/// 1 GHz (qemu-Xuantie `hw/csky/smartl.c`, `hw/timer/csky_coret.c`; measured: a 240 MHz
/// reload ran the tick 4.2 times too fast).
pub const CORET_HZ: u32 = 1_000_000_000;
/// The console's line speed (QEMU ignores it; a real DW UART would not).
pub const CONSOLE_BAUD: u32 = 115_200;
/// The console UART.
pub const UART_BASE: usize = 0x4001_5000;
/// The console UART's VIC interrupt.
pub const UART_IRQ: u32 = 0;
/// CoreTIM's VIC interrupt on smartl (the W800 has it on 25).
pub const CORET_IRQ: u32 = 1;
/// The exit device: a word written here ends QEMU with that status.
pub const EXIT_DEVICE: usize = 0x1000_2000;
/// The reset word, at the W800's address and kept out of every linker region: byte 0 is the
/// reason the next start reads.
pub const RESET_WORD: usize = 0x2004_7EFC;
/// Where the flash stand-in starts: smartl's RAM bank at 0x5000_0000 (16 MiB).
pub const RAM_FLASH_BASE: usize = 0x5000_0000;
/// The word after the flash stand-in that says it holds a flash already.
pub const RAM_FLASH_MARKER: usize = RAM_FLASH_BASE + FlashGeometry::W800.size as usize;
/// The marker's value once the flash is made ("FLSH").
pub const RAM_FLASH_MADE: u32 = 0x4853_4C46;
/// Where QEMU's loader puts the loopback cloud's job document (JSON text, ended by the first
/// NUL of the zeroed RAM): smartl's RAM bank at 0x6000_0000, outside every linker region.
pub const LOOPBACK_DOCUMENT: usize = 0x6000_0000;
/// The room for the document.
pub const LOOPBACK_DOCUMENT_MAX: usize = 0x4000;
/// The loopback cloud's record of the job execution.
pub const LOOPBACK_RECORD: usize = 0x6000_4000;
/// The room for the record.
pub const LOOPBACK_RECORD_LEN: usize = 0x1000;
/// Where QEMU's loader puts the file the document names: a W800 OTA image, whose header
/// gives its length.
pub const LOOPBACK_FILE: usize = 0x6001_0000;
/// The room for the file: as much as `app_ota` takes.
pub const LOOPBACK_FILE_MAX: usize = 0x10_0000;
/// Where smartl runs the code from: its RAM at 0x0, where QEMU loads the ELF's code.
pub const CODE_BASE: u32 = 0;
/// The most code the board runs (`ld/qemu-smartl.ld`'s CODE region: the W800's `app`
/// partition less its header area).
pub const CODE_MAX: u32 = 0x12_1C00;
/// How many received bytes wait for the shell at most.
pub const RX_QUEUE_LEN: u32 = 256;
/// The exit status of a panic.
pub const EXIT_PANIC: u8 = 101;
/// The exit status of an unexpected exception.
pub const EXIT_FAULT: u8 = 102;

/// Makes `bytes` (the flash stand-in) a flash: as it is when `marker` says it was made before
/// (a restart), otherwise factory-fresh, after which `marker` says so. At power-on an OTA
/// file that QEMU's loader put at the start of `app_ota` is kept, as if a flash programmer
/// had written it ([`loaded_ota_file`]).
pub fn prepare_ram_flash(
    bytes: &mut [u8],
    marker: &mut u32,
    firmware_version: &str,
) -> Result<(), FactoryError> {
    if *marker != RAM_FLASH_MADE {
        let loaded = loaded_ota_file(bytes);
        factory::write_factory_content(
            &mut RamStore(bytes),
            FlashGeometry::W800,
            firmware_version,
            loaded,
        )?;
        *marker = RAM_FLASH_MADE;
    }
    Ok(())
}

/// The OTA file QEMU's loader placed at the start of `app_ota`
/// (`-device loader,file=<_ota.img>,addr=0x5013_1000,force-raw=on`), if a valid image header
/// is there: its flash range, header plus body. QEMU zeroes the rest of RAM, which is not
/// flash content (that would read 0xFF), so nothing else is kept.
pub fn loaded_ota_file(bytes: &[u8]) -> Option<Range<u32>> {
    let table = PartitionTableRepr::with_ota();
    let app_ota = table.find(ptable::APP_OTA)?;
    let header = ImageHeaderRepr::parse_bytes(bytes.get(app_ota.offset as usize..)?).ok()?;
    let len = header.img_len.checked_add(image::HEADER_LEN as u32)?;
    (len <= app_ota.size - RECORD_SECTOR).then_some(app_ota.offset..app_ota.offset + len)
}

/// The job document in `region`: its bytes up to the first NUL; none when the region starts
/// with one (nothing was loaded) or has none (the document does not fit).
pub fn loaded_document(region: &[u8]) -> Option<&[u8]> {
    let len = region.iter().position(|&byte| byte == 0)?;
    (len > 0).then(|| &region[..len])
}

/// The OTA image at the start of `region`, header and body, as long as its header says; none
/// without a valid header or when it says more than the region holds.
pub fn loaded_image(region: &[u8]) -> Option<&[u8]> {
    let header = ImageHeaderRepr::parse_bytes(region).ok()?;
    let len = (header.img_len as usize).checked_add(image::HEADER_LEN)?;
    region.get(..len)
}

/// What the board makes of the image in `app` at a start.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AppCode {
    /// `app` holds no code (a factory-fresh flash) or the code that runs.
    Running,
    /// `app` holds other code that passes its checks: the board starts it.
    Other {
        version: Version,
        /// Where its body starts in flash, and its length in bytes (a multiple of 4).
        body: u32,
        len: u32,
        /// Its reset entry: the first word of its vector table.
        entry: u32,
    },
    /// `app` holds an image that cannot run here: the loaded code goes on.
    Refused(AppRefusal),
}

/// Why the image in `app` is not started.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AppRefusal {
    /// Its header or its body's CRC is wrong (or `app` is missing).
    Check(OtaError),
    /// Its body is compressed: `app` holds code as it runs.
    Compressed,
    /// It is longer than the board's code region.
    TooLarge(u32),
    /// Its first word, the reset entry, is not in its code.
    Entry(u32),
}

impl fmt::Display for AppRefusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AppRefusal::Check(e) => write!(f, "{e}"),
            AppRefusal::Compressed => f.write_str("its body is compressed"),
            AppRefusal::TooLarge(len) => write!(f, "{len} bytes, the code region holds {CODE_MAX}"),
            AppRefusal::Entry(entry) => {
                write!(f, "its reset entry 0x{entry:08X} is not in its code")
            }
        }
    }
}

/// Looks at the image in `app` against the code that runs, whose reset entry is
/// `running_entry` and whose bytes after that first word are `running_rest`.
pub fn app_code<F: Flash + ?Sized>(
    flash: &mut F,
    running_entry: u32,
    running_rest: &[u8],
) -> AppCode {
    let checked = Slots::from_table(&PartitionTableRepr::with_ota())
        .and_then(|slots| Ok((check_app(flash, &slots)?, slots)));
    let (header, slots) = match checked {
        Ok(checked) => checked,
        Err(e) => return AppCode::Refused(AppRefusal::Check(e)),
    };
    let len = header.img_len;
    if len == 0 {
        return AppCode::Running;
    }
    if header.attr.compress_type() != Ok(CompressType::None) {
        return AppCode::Refused(AppRefusal::Compressed);
    }
    if len > CODE_MAX {
        return AppCode::Refused(AppRefusal::TooLarge(len));
    }
    let body = slots.app.offset + image::HEADER_AREA;
    let mut word = [0u8; 4];
    if let Err(e) = flash.read(body, &mut word) {
        return AppCode::Refused(AppRefusal::Check(OtaError::Flash(e)));
    }
    let entry = u32::from_le_bytes(word);
    if !(CODE_BASE..CODE_BASE + len).contains(&entry) {
        return AppCode::Refused(AppRefusal::Entry(entry));
    }
    let other = AppCode::Other {
        version: header.version,
        body,
        len,
        entry,
    };
    let Some(rest) = running_rest.get(..len as usize - 4) else {
        return other;
    };
    if entry != running_entry {
        return other;
    }
    let mut chunk = [0u8; 256];
    for (at, running) in (body + 4..)
        .step_by(chunk.len())
        .zip(rest.chunks(chunk.len()))
    {
        let chunk = &mut chunk[..running.len()];
        if flash.read(at, chunk).is_err() || chunk != running {
            return other;
        }
    }
    AppCode::Running
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
    use crate::dw_uart::DwUart;
    use crate::hal::{Console, ConsoleRead, LoopbackCloud, Reset, ResetReason};
    use crate::mmio::Reg;
    use crate::nor::SimulatedNor;
    use crate::xt804::coret::{self, CoreTimer};
    use crate::xt804::vic::Vic;
    use core::fmt::Write;
    use core::sync::atomic::{AtomicBool, AtomicPtr, Ordering};
    use core::time::Duration;
    use kernel::{IsrContext, Queue};

    /// The flash stand-in.
    pub type RamFlash = SimulatedNor<RamStore<&'static mut [u8]>>;

    /// Everything the board offers, ready to hand to the application.
    pub struct QemuBoard {
        pub console: QemuConsole,
        pub flash: RamFlash,
        pub reset: QemuReset,
        pub clock: UptimeClock,
        pub entropy: SeededTestEntropy,
        /// The stand-in for the cloud, when QEMU's loader put a job document in place.
        pub loopback: Option<LoopbackCloud>,
    }

    static TAKEN: AtomicBool = AtomicBool::new(false);
    /// Bytes the UART's interrupt received, for the console to read.
    static RX_QUEUE: AtomicPtr<Queue<u8>> = AtomicPtr::new(core::ptr::null_mut());

    fn console_uart() -> DwUart {
        // SAFETY: smartl's console UART. Transmit and configuration happen in task context
        // under the console's mutex (or in the last words of a panic or fault); receive only
        // in its interrupt handler.
        unsafe { DwUart::new(UART_BASE) }
    }

    fn vic() -> Vic {
        // SAFETY: smartl's core is an XT804-like ck804ef; this board sets its interrupts up.
        unsafe { Vic::new() }
    }

    fn core_timer() -> CoreTimer {
        // SAFETY: smartl's CoreTIM; this board owns the tick.
        unsafe { CoreTimer::new() }
    }

    impl QemuBoard {
        /// Sets the board up, interrupts still masked: the firmware's main calls it first,
        /// once per start. Panics when the flash stand-in cannot be made.
        pub fn take(firmware_version: &str) -> QemuBoard {
            assert!(
                !TAKEN.swap(true, Ordering::SeqCst),
                "the board is taken once"
            );
            // A restart comes here with the devices as the last run left them.
            vic().disable_all();
            core_timer().stop();
            let uart = console_uart();
            uart.configure(CPU_HZ, CONSOLE_BAUD);

            let reset_word = Reg::at(RESET_WORD, 0);
            // SAFETY: RAM that the linker scripts leave out for this word; one use at start.
            let last = unsafe {
                let reason = ResetReason::from_byte(reset_word.read() as u8);
                // The reason is consumed: a restart that stores none reads as a power-on.
                reset_word.write(0);
                reason
            };

            // SAFETY: smartl's RAM bank at 0x5000_0000 is outside every linker region and
            // used for nothing else; `TAKEN` makes this the only reference to it.
            let (bytes, marker) = unsafe {
                (
                    core::slice::from_raw_parts_mut(
                        RAM_FLASH_BASE as *mut u8,
                        FlashGeometry::W800.size as usize,
                    ),
                    &mut *(RAM_FLASH_MARKER as *mut u32),
                )
            };
            if let Err(e) = prepare_ram_flash(bytes, marker, firmware_version) {
                panic!("cannot make the RAM flash: {e}");
            }
            let mut flash = SimulatedNor::new(RamStore(bytes), FlashGeometry::W800);
            start_app_code(&mut flash, last);

            let queue = match Queue::new(RX_QUEUE_LEN) {
                Ok(queue) => alloc::boxed::Box::leak(alloc::boxed::Box::new(queue)),
                Err(e) => panic!("cannot make the console queue: {e}"),
            };
            RX_QUEUE.store(queue, Ordering::Release);
            uart.enable_rx_interrupt();
            vic().enable(UART_IRQ);

            let Some(reload) = coret::reload_value(CORET_HZ, kernel::port::tick_rate_hz()) else {
                panic!("the tick rate does not fit CoreTIM");
            };
            core_timer().start(reload);
            vic().enable(CORET_IRQ);

            // SAFETY: reading CoreTIM's count has no side effect.
            let seed = unsafe { coret::CURRENT.read() };
            // SAFETY: smartl's RAM bank at 0x6000_0000 is outside every linker region; the
            // three areas do not overlap and `TAKEN` makes these the only references to them.
            let (document, record, file) = unsafe {
                (
                    core::slice::from_raw_parts(
                        LOOPBACK_DOCUMENT as *const u8,
                        LOOPBACK_DOCUMENT_MAX,
                    ),
                    core::slice::from_raw_parts_mut(
                        LOOPBACK_RECORD as *mut u8,
                        LOOPBACK_RECORD_LEN,
                    ),
                    core::slice::from_raw_parts(LOOPBACK_FILE as *const u8, LOOPBACK_FILE_MAX),
                )
            };
            let loopback = loaded_document(document).map(|document| LoopbackCloud {
                document,
                file: loaded_image(file).unwrap_or(&[]),
                record,
            });
            QemuBoard {
                console: QemuConsole { rx: queue },
                flash,
                reset: QemuReset { last },
                clock: UptimeClock::new(),
                entropy: SeededTestEntropy::new(seed),
                loopback,
            }
        }
    }

    /// Starts the code `app` holds when it is not the code that runs (see [`app_code`]), with
    /// the reset reason `last` kept for it; says why when `app` holds an image it refuses.
    fn start_app_code(flash: &mut RamFlash, last: ResetReason) {
        // SAFETY: smartl's RAM at 0x4.. holds the code QEMU loaded (0x0 is its reset entry's
        // word, taken from the symbol instead); it is only read here.
        let running_rest = unsafe {
            core::slice::from_raw_parts((CODE_BASE + 4) as *const u8, CODE_MAX as usize - 4)
        };
        let mut out = LastWords(|byte| console_uart().write_byte(byte));
        match app_code(flash, crate::xt804::reset_entry(), running_rest) {
            AppCode::Running => {}
            AppCode::Refused(why) => {
                let _ = writeln!(
                    out,
                    "boot: the image in app is refused ({why}); the loaded code goes on"
                );
            }
            AppCode::Other {
                version,
                body,
                len,
                entry,
            } => {
                let _ = writeln!(
                    out,
                    "boot: app holds other code ({}, {len} bytes): starting it",
                    version.as_str()
                );
                // SAFETY: the reset word, kept out of every linker region: the reason goes on
                // to the code started next. Then the copy: `app_code` checked the body (CRC,
                // length within the code region, entry inside it); the routine runs from RAM
                // with interrupts masked (devices quiet: `take` stopped them) and never returns.
                unsafe {
                    Reg::at(RESET_WORD, 0).write(last as u32);
                    crate::xt804::xt804_copy_and_run(
                        (RAM_FLASH_BASE as u32 + body) as *const u32,
                        CODE_BASE as *mut u32,
                        len / 4,
                        entry,
                    )
                }
            }
        }
    }

    /// The console: the UART out, the interrupt-fed queue in.
    pub struct QemuConsole {
        rx: &'static Queue<u8>,
    }

    impl Console for QemuConsole {
        fn write(&mut self, bytes: &[u8]) {
            let uart = console_uart();
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

    /// Restart with the reason kept; power-off through the exit device.
    pub struct QemuReset {
        last: ResetReason,
    }

    impl Reset for QemuReset {
        fn last_reason(&self) -> ResetReason {
            self.last
        }

        fn reset(&self, reason: ResetReason) -> ! {
            // SAFETY: the reset word, kept out of every linker region; then the restart, which
            // begins by masking interrupts and rebuilds everything from the reset entry.
            unsafe {
                Reg::at(RESET_WORD, 0).write(reason as u32);
                crate::xt804::xt804_restart()
            }
        }

        fn power_off(&self, status: u8) -> ! {
            exit(status)
        }
    }

    fn exit(status: u8) -> ! {
        // SAFETY: smartl's exit device: QEMU ends on this write.
        unsafe { Reg::at(EXIT_DEVICE, 0).write(u32::from(status)) };
        loop {
            core::hint::spin_loop();
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
            UART_IRQ => receive(&mut isr),
            _ => {}
        }
    }

    /// Moves every received byte into the console's queue; a full queue drops the byte, as a
    /// UART overrun would.
    fn receive(isr: &mut IsrContext) {
        let queue = RX_QUEUE.load(Ordering::Acquire);
        let uart = console_uart();
        while let Some(byte) = uart.read_byte() {
            // SAFETY: `take` stores a leaked queue before it enables this interrupt.
            if let Some(queue) = unsafe { queue.as_ref() } {
                let _ = queue.send_from_isr(isr, byte);
            }
        }
    }

    fn last_words() -> LastWords<impl FnMut(u8)> {
        let uart = console_uart();
        LastWords(move |byte| uart.write_byte(byte))
    }

    #[panic_handler]
    fn panic(info: &core::panic::PanicInfo<'_>) -> ! {
        // No interrupt (hence no task switch) from here on: the report is the last output.
        vic().disable_all();
        report_panic(&mut last_words(), info);
        exit(EXIT_PANIC)
    }

    /// `startup.S` calls this for an exception nothing expects.
    #[no_mangle]
    extern "C" fn xt804_fault_handler(vector: u32, epc: u32, epsr: u32, lr: u32) -> ! {
        vic().disable_all();
        report_fault(&mut last_words(), vector, epc, epsr, lr);
        exit(EXIT_FAULT)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::format::ptable;

    #[test]
    fn a_power_on_makes_the_flash_and_a_restart_keeps_it() {
        let mut bytes = vec![0u8; FlashGeometry::W800.size as usize];
        let mut marker = 0;
        assert_eq!(prepare_ram_flash(&mut bytes, &mut marker, "0.1.0"), Ok(()));
        assert_eq!(marker, RAM_FLASH_MADE);
        let table = ptable::TABLE_OFFSET as usize;
        assert_eq!(bytes[table..table + 4], ptable::MAGIC.to_le_bytes());
        assert_eq!(bytes[0x1F_0000], 0xFF);

        // What the firmware wrote survives a restart.
        bytes[0x1F_0000] = 0x42;
        assert_eq!(prepare_ram_flash(&mut bytes, &mut marker, "0.1.0"), Ok(()));
        assert_eq!(bytes[0x1F_0000], 0x42);
    }

    #[test]
    fn at_power_on_an_ota_file_the_loader_put_into_app_ota_is_kept() {
        let body = [0x5Au8; 1000];
        let header = header_for(&body, "9.9.9", CompressType::Xz);
        let mut bytes = vec![0u8; FlashGeometry::W800.size as usize];
        bytes[0x13_1000..0x13_1040].copy_from_slice(&header.to_bytes());
        bytes[0x13_1040..0x13_1040 + body.len()].copy_from_slice(&body);
        let mut marker = 0;
        assert_eq!(prepare_ram_flash(&mut bytes, &mut marker, "0.1.0"), Ok(()));
        assert_eq!(bytes[0x13_1000..0x13_1040], header.to_bytes());
        assert!(bytes[0x13_1040..0x13_1040 + 1000]
            .iter()
            .all(|b| *b == 0x5A));
        // QEMU's zeroes after the file read as erased flash.
        assert!(bytes[0x13_1040 + 1000..0x1E_0000]
            .iter()
            .all(|b| *b == 0xFF));

        // Zeroes where a header should be: nothing is kept.
        let mut bytes = vec![0u8; FlashGeometry::W800.size as usize];
        let mut marker = 0;
        assert_eq!(prepare_ram_flash(&mut bytes, &mut marker, "0.1.0"), Ok(()));
        assert!(bytes[0x13_1000..0x1E_0000].iter().all(|b| *b == 0xFF));
    }

    #[test]
    fn the_flash_stand_in_and_its_marker_sit_in_smartl_ram_outside_the_w800_map() {
        assert_eq!(RAM_FLASH_MARKER, 0x5020_0000);
        const { assert!(RESET_WORD & 3 == 0 && RESET_WORD < 0x2004_8000) };
    }

    /// A made flash whose `app` holds `body` as version 0.1.1, compressed or not.
    fn flash_with_app(
        body: &[u8],
        compress: CompressType,
    ) -> crate::nor::SimulatedNor<RamStore<Vec<u8>>> {
        let bytes = flash_bytes_with_app(body, compress);
        crate::nor::SimulatedNor::new(RamStore(bytes), FlashGeometry::W800)
    }

    /// The header of an image for `app` of `body`, as version `version`.
    fn header_for(body: &[u8], version: &str, compress: CompressType) -> ImageHeaderRepr {
        use crate::format::image::{ImageAttr, ImageType};
        ImageHeaderRepr::for_partition(
            0xF000,
            Some(0x13_1000),
            body,
            Version::new(version).unwrap(),
            0,
            ImageAttr::new(ImageType::User, compress),
        )
        .unwrap()
    }

    fn flash_bytes_with_app(body: &[u8], compress: CompressType) -> Vec<u8> {
        let mut bytes = vec![0u8; FlashGeometry::W800.size as usize];
        let mut marker = 0;
        prepare_ram_flash(&mut bytes, &mut marker, "0.1.0").unwrap();
        let header = header_for(body, "0.1.1", compress);
        bytes[0xF000..0xF040].fill(0xFF);
        bytes[0xF000..0xF040].copy_from_slice(&header.to_bytes());
        bytes[0xF400..0xF400 + body.len()].copy_from_slice(body);
        bytes
    }

    /// Code of `words` words whose reset entry is 0x100.
    fn code(words: u32, seed: u32) -> Vec<u8> {
        let mut code: Vec<u8> = (0..words)
            .flat_map(|i| (i.wrapping_mul(2_654_435_761) ^ seed).to_le_bytes())
            .collect();
        code[..4].copy_from_slice(&0x100u32.to_le_bytes());
        code
    }

    #[test]
    fn a_factory_flash_or_the_running_code_in_app_goes_on_and_other_code_is_started() {
        use crate::nor::SimulatedNor;
        let running = code(1000, 1);
        let mut rest = running[4..].to_vec();
        rest.resize(CODE_MAX as usize - 4, 0);

        let mut bytes = vec![0u8; FlashGeometry::W800.size as usize];
        prepare_ram_flash(&mut bytes, &mut 0, "0.1.0").unwrap();
        let mut factory = SimulatedNor::new(RamStore(bytes), FlashGeometry::W800);
        assert_eq!(app_code(&mut factory, 0x100, &rest), AppCode::Running);

        let mut same = flash_with_app(&running, CompressType::None);
        assert_eq!(app_code(&mut same, 0x100, &rest), AppCode::Running);

        let other = code(1000, 2);
        let mut flash = flash_with_app(&other, CompressType::None);
        assert_eq!(
            app_code(&mut flash, 0x100, &rest),
            AppCode::Other {
                version: Version::new("0.1.1").unwrap(),
                body: 0xF400,
                len: 4000,
                entry: 0x100
            }
        );
        // Longer than what runs, the same at its start: still other code.
        let longer = [running.clone(), code(10, 3)[4..].to_vec()].concat();
        let mut flash = flash_with_app(&longer, CompressType::None);
        assert!(matches!(
            app_code(&mut flash, 0x100, &rest),
            AppCode::Other { len: 4036, .. }
        ));
    }

    #[test]
    fn an_image_in_app_that_cannot_run_is_refused_and_says_why() {
        let running = code(1000, 1);
        let rest = running[4..].to_vec();

        let mut bytes = flash_bytes_with_app(&code(1000, 2), CompressType::None);
        bytes[0xF400 + 1234] ^= 0x10;
        let mut flipped = crate::nor::SimulatedNor::new(RamStore(bytes), FlashGeometry::W800);
        let refused = app_code(&mut flipped, 0x100, &rest);
        assert!(
            matches!(refused, AppCode::Refused(AppRefusal::Check(_))),
            "{refused:?}"
        );

        let mut compressed = flash_with_app(&code(1000, 2), CompressType::Xz);
        assert_eq!(
            app_code(&mut compressed, 0x100, &rest),
            AppCode::Refused(AppRefusal::Compressed)
        );

        let mut outside = code(1000, 2);
        outside[..4].copy_from_slice(&4000u32.to_le_bytes());
        let mut flash = flash_with_app(&outside, CompressType::None);
        assert_eq!(
            app_code(&mut flash, 0x100, &rest),
            AppCode::Refused(AppRefusal::Entry(4000))
        );
        assert_eq!(
            AppRefusal::Entry(4000).to_string(),
            "its reset entry 0x00000FA0 is not in its code"
        );
    }

    #[test]
    fn the_loopback_areas_follow_each_other_in_the_fourth_ram_bank() {
        const { assert!(LOOPBACK_DOCUMENT + LOOPBACK_DOCUMENT_MAX <= LOOPBACK_RECORD) };
        const { assert!(LOOPBACK_RECORD + LOOPBACK_RECORD_LEN <= LOOPBACK_FILE) };
        // smartl's bank at 0x6000_0000 is 16 MiB.
        const { assert!(LOOPBACK_FILE + LOOPBACK_FILE_MAX <= 0x6100_0000) };
    }

    #[test]
    fn a_loaded_document_ends_at_its_nul_and_an_empty_or_endless_one_is_none() {
        let mut region = [0u8; 64];
        assert_eq!(loaded_document(&region), None, "nothing loaded");
        region[..9].copy_from_slice(b"{\"a\":[1]}");
        assert_eq!(loaded_document(&region), Some(&region[..9]));
        assert_eq!(loaded_document(&[b'{'; 64]), None, "no end in the room");
    }

    #[test]
    fn a_loaded_image_is_as_long_as_its_header_says_and_fits_its_room() {
        let body = [0x5Au8; 100];
        let header = header_for(&body, "9.9.9", CompressType::Xz);
        let mut region = vec![0u8; 256];
        region[..64].copy_from_slice(&header.to_bytes());
        region[64..164].copy_from_slice(&body);
        assert_eq!(loaded_image(&region).map(<[u8]>::len), Some(164));
        assert_eq!(loaded_image(&region[..163]), None, "cut short");
        assert_eq!(loaded_image(&[0u8; 256]), None, "no header");
    }
}
