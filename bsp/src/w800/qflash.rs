//! The W800's flash controller (QFLASH at 0x4000_2000) behind [`Flash`]: sector erase, page
//! program and the JEDEC ID by controller command, reads through the execute-in-place window
//! (docs/w800.md, "Flash and the QFLASH controller").
//!
//! The rules are the other boards' ([`crate::nor`]): erase per 4 KiB sector, program inside one
//! 256-byte page and only clearing bits, everything inside the chip; here they are checked
//! before the controller is asked, and what the chip did is read back afterwards (a
//! write-protected chip silently does nothing). On top of them the driver refuses to erase or
//! program its protected ranges: the factory area below 0x2000 and the partition the
//! firmware runs from.
//!
//! While the chip erases or programs it cannot serve the execute-in-place window, which the
//! firmware's code, its vector table and its read-only data live in. So the part of a
//! command from its start to the end of the busy wait runs from RAM with interrupts masked
//! ([`Controller::run_exclusive`]; on the chip the routine sits in `.data`, which the startup
//! copies to RAM), and after an erase or program it invalidates the core's cache, so that no
//! line read before the change is served after it. The busy wait is bounded.

use super::bus::Bus;
use super::XIP_BASE;
use crate::hal::{check_bits_clear_only, Flash, FlashError, FlashGeometry};
use core::ops::Range;

/// The controller's registers (`wm_flash_reg_struct.h`).
pub const BASE: usize = 0x4000_2000;
/// The command: opcode and what the transfer has.
pub const CMD_INFO: usize = BASE;
/// Bit 8 starts the command; the controller clears it when the command is done.
pub const CMD_START: usize = BASE + 0x04;
/// The flash offset a command addresses.
pub const ADDR: usize = BASE + 0x10;
/// Where a command's data passes, as 32-bit words: the RSA engine's memory
/// (`wm_ll_flash_write_data_to_fifo`, `read_data_from_fifo` in `wm_ll_flash.h`).
pub const DATA_BUFFER: usize = 0x4000_0000;
/// The XT804 core's cache invalidate register, CIR (`CACHE_Type` at 0xE000_F000 in
/// `core_804.h`).
pub const CACHE_CIR: usize = 0xE000_F004;

/// CMD_START: run the command / still running.
pub const START: u32 = 1 << 8;
/// ADDR: the controller takes 25 address bits (`WM_FLS_ADDR_MAX_BIT`).
pub const ADDR_MASK: u32 = 0x01FF_FFFF;
/// CIR bit 0: invalidate every line (`CACHE_CIR_INV_ALL`).
pub const CIR_INVALIDATE_ALL: u32 = 1 << 0;

/// CMD_INFO bit 11: the command is a sector erase.
pub const INFO_IS_SECTOR_ERASE: u32 = 1 << 11;
/// CMD_INFO bit 12: the command is a page program.
pub const INFO_IS_PAGE_PROGRAM: u32 = 1 << 12;
/// CMD_INFO bit 14: the command reads data into the buffer.
pub const INFO_IS_READ: u32 = 1 << 14;
/// CMD_INFO bit 15: the command transfers data (bits 25:16 hold its length less one).
pub const INFO_HAS_DATA: u32 = 1 << 15;
/// CMD_INFO bit 31: the command sends the address in ADDR.
pub const INFO_HAS_ADDRESS: u32 = 1 << 31;

/// SPI NOR opcodes, the same for every chip the SDK knows (`wm_hal_iflash_chips.h`).
pub const OP_WRITE_ENABLE: u32 = 0x06;
pub const OP_SECTOR_ERASE: u32 = 0x20;
pub const OP_PAGE_PROGRAM: u32 = 0x02;
pub const OP_JEDEC_ID: u32 = 0x9F;

/// CMD_INFO bits 25:16 for a transfer of `len` bytes (1 to 1024).
pub const fn data_size(len: u32) -> u32 {
    ((len - 1) & 0x3FF) << 16
}

/// CMD_INFO of write enable: the opcode alone.
pub const WRITE_ENABLE_INFO: u32 = OP_WRITE_ENABLE;
/// CMD_INFO of a 4 KiB sector erase.
pub const SECTOR_ERASE_INFO: u32 = OP_SECTOR_ERASE | INFO_IS_SECTOR_ERASE | INFO_HAS_ADDRESS;
/// CMD_INFO of a whole 256-byte page program.
pub const PAGE_PROGRAM_INFO: u32 =
    OP_PAGE_PROGRAM | INFO_IS_PAGE_PROGRAM | INFO_HAS_DATA | data_size(256) | INFO_HAS_ADDRESS;
/// CMD_INFO of the 3-byte JEDEC ID read.
pub const JEDEC_ID_INFO: u32 = OP_JEDEC_ID | INFO_IS_READ | INFO_HAS_DATA | data_size(3);

/// The factory area (factory-test parameters, MAC addresses, RF calibration), never written.
pub const FACTORY_AREA: Range<u32> = 0..0x2000;
/// How long a command may keep the controller busy before the driver gives up: longer than
/// a 4 KiB sector erase takes on a SPI NOR chip (an engineering margin: the vendor polls
/// without a bound).
pub const COMMAND_TIMEOUT_MS: u32 = 2000;

/// Busy-wait iterations that last at least `timeout_ms` at `cpu_hz`: every iteration reads a
/// register, which takes at least one cycle.
pub const fn poll_bound(cpu_hz: u32, timeout_ms: u32) -> u32 {
    (cpu_hz / 1000).saturating_mul(timeout_ms)
}

/// The controller stayed busy past the bound.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Timeout;

/// One controller command.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Command {
    /// Send write enable first (the chip takes erase and program only after it).
    pub write_enable: bool,
    /// CMD_INFO.
    pub info: u32,
    /// ADDR, for commands that address the flash.
    pub addr: Option<u32>,
}

impl Command {
    /// The sector erase at `offset`.
    pub const fn sector_erase(offset: u32) -> Command {
        Command {
            write_enable: true,
            info: SECTOR_ERASE_INFO,
            addr: Some(offset),
        }
    }

    /// The program of the page at `offset` from the data buffer.
    pub const fn page_program(offset: u32) -> Command {
        Command {
            write_enable: true,
            info: PAGE_PROGRAM_INFO,
            addr: Some(offset),
        }
    }

    /// The JEDEC ID read into the data buffer.
    pub const JEDEC_ID: Command = Command {
        write_enable: false,
        info: JEDEC_ID_INFO,
        addr: None,
    };

    /// The register sequence of the command, each busy wait at most `poll_bound` reads; after
    /// a command that changes the flash, the cache is invalidated (timed out or not: the
    /// chip may have changed part of it). Nothing here may call code outside itself: on the
    /// chip it runs from RAM while the flash is busy.
    #[inline(always)]
    pub fn run<B: Bus + ?Sized>(&self, bus: &mut B, poll_bound: u32) -> Result<(), Timeout> {
        let mut done = Ok(());
        if self.write_enable {
            bus.write(CMD_INFO, WRITE_ENABLE_INFO);
            bus.write(CMD_START, START);
            done = wait(bus, poll_bound);
        }
        if done.is_ok() {
            bus.write(CMD_INFO, self.info);
            if let Some(addr) = self.addr {
                bus.write(ADDR, addr & ADDR_MASK);
            }
            bus.write(CMD_START, START);
            done = wait(bus, poll_bound);
        }
        if self.write_enable {
            bus.write(CACHE_CIR, CIR_INVALIDATE_ALL);
        }
        done
    }
}

#[inline(always)]
fn wait<B: Bus + ?Sized>(bus: &mut B, poll_bound: u32) -> Result<(), Timeout> {
    let mut left = poll_bound;
    while left > 0 {
        if bus.read(CMD_START) & START == 0 {
            return Ok(());
        }
        left -= 1;
    }
    Err(Timeout)
}

/// The bus of a flash controller, and how a command runs on it without the flash being read
/// meanwhile.
pub trait Controller: Bus {
    /// Runs `command` to its end. On the chip: from RAM with interrupts masked (nothing may
    /// fetch from the flash while it is busy); the default runs it directly, for buses
    /// that are no chip.
    fn run_exclusive(&mut self, command: &Command, poll_bound: u32) -> Result<(), Timeout> {
        command.run(self, poll_bound)
    }
}

/// What the chip says it is (JEDEC ID: manufacturer, memory type, capacity).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct JedecId {
    pub manufacturer: u8,
    pub memory_type: u8,
    pub capacity: u8,
}

impl JedecId {
    /// The ID from the data buffer's first word: its bytes in order.
    pub const fn from_word(word: u32) -> JedecId {
        JedecId {
            manufacturer: word as u8,
            memory_type: (word >> 8) as u8,
            capacity: (word >> 16) as u8,
        }
    }

    /// The chip's size, 2 to the power of the capacity byte (`wm_hal_flash_get_capacity`),
    /// if that is a size a W800 can have: 1 to 16 MiB (the controller's 25 address bits
    /// reach 32 MiB). A bus that does not answer reads 0x00 or 0xFF.
    pub const fn size(&self) -> Option<u32> {
        match self.capacity {
            20..=24 => Some(1 << self.capacity),
            _ => None,
        }
    }

    /// The geometry of a chip with this ID: every chip the SDK knows has 4 KiB sectors and
    /// 256-byte pages.
    pub const fn geometry(&self) -> Option<FlashGeometry> {
        match self.size() {
            Some(size) => Some(FlashGeometry {
                size,
                sector_size: FlashGeometry::W800.sector_size,
                page_size: FlashGeometry::W800.page_size,
            }),
            None => None,
        }
    }
}

/// The flash, through the QFLASH controller.
#[derive(Debug)]
pub struct QFlash<C: Controller> {
    bus: C,
    id: JedecId,
    /// From the JEDEC ID; `None` when the chip did not answer: then it is only read, as the
    /// W800's 2 MB.
    geometry: Option<FlashGeometry>,
    protected: &'static [Range<u32>],
    poll_bound: u32,
}

impl<C: Controller> QFlash<C> {
    /// The flash behind `bus`, which the driver then owns; `protected` ranges are never
    /// erased or programmed; each busy wait reads at most `poll_bound` times. Reads the
    /// chip's JEDEC ID for its size.
    pub fn new(mut bus: C, protected: &'static [Range<u32>], poll_bound: u32) -> QFlash<C> {
        let answered = bus.run_exclusive(&Command::JEDEC_ID, poll_bound).is_ok();
        let id = JedecId::from_word(if answered { bus.read(DATA_BUFFER) } else { 0 });
        QFlash {
            bus,
            id,
            geometry: id.geometry(),
            protected,
            poll_bound,
        }
    }

    /// The chip's JEDEC ID, as read at start.
    pub fn jedec_id(&self) -> JedecId {
        self.id
    }

    /// The geometry the rules apply: the chip's, else the W800's 2 MB (read only).
    fn layout(&self) -> FlashGeometry {
        self.geometry.unwrap_or(FlashGeometry::W800)
    }

    /// Whether `offset..offset + len` may be erased or programmed.
    fn check_writable(&self, offset: u32, len: u32) -> Result<(), FlashError> {
        if self.geometry.is_none() {
            return Err(FlashError::ReadOnly);
        }
        let end = offset + len;
        if self
            .protected
            .iter()
            .any(|p| offset < p.end && p.start < end)
        {
            return Err(FlashError::Protected { offset, len });
        }
        Ok(())
    }

    fn run(&mut self, command: Command) -> Result<(), FlashError> {
        self.bus
            .run_exclusive(&command, self.poll_bound)
            .map_err(|Timeout| FlashError::Timeout)
    }
}

impl<C: Controller + Send> Flash for QFlash<C> {
    fn geometry(&self) -> FlashGeometry {
        self.layout()
    }

    fn read(&mut self, offset: u32, buf: &mut [u8]) -> Result<(), FlashError> {
        self.layout().check_range(offset, buf.len())?;
        self.bus.read_memory(XIP_BASE + offset as usize, buf);
        Ok(())
    }

    fn erase_sector(&mut self, offset: u32) -> Result<(), FlashError> {
        let sector = self.geometry().sector_size;
        self.layout().check_erase(offset)?;
        self.check_writable(offset, sector)?;
        self.run(Command::sector_erase(offset))?;
        // Small reads: this runs on the stacks of the shell and the OTA download task.
        let mut chunk = [0u8; 64];
        for at in (offset..offset + sector).step_by(chunk.len()) {
            self.read(at, &mut chunk)?;
            if let Some(i) = chunk.iter().position(|b| *b != 0xFF) {
                return Err(FlashError::NotWritten {
                    offset: at + i as u32,
                });
            }
        }
        Ok(())
    }

    fn program(&mut self, offset: u32, data: &[u8]) -> Result<(), FlashError> {
        let len = self.layout().check_program(offset, data.len())?;
        if data.is_empty() {
            return Ok(());
        }
        let page_size = self.geometry().page_size;
        self.check_writable(offset, len)?;

        // The page as it is; programming can only clear bits, so a 1 over a 0 is refused
        // before anything is sent.
        let mut page = [0xFFu8; 256];
        let page_start = offset - offset % page_size;
        let at = (offset - page_start) as usize;
        let old = page
            .get_mut(at..at + data.len())
            .ok_or(FlashError::CrossesPage { offset, len })?;
        self.read(offset, old)?;
        check_bits_clear_only(offset, old, data)?;

        // The whole page goes out, 0xFF (which changes nothing) around the new bytes, as the
        // vendor programs pages.
        page.fill(0xFF);
        page[at..at + data.len()].copy_from_slice(data);
        for (i, word) in page.chunks_exact(4).enumerate() {
            let word = u32::from_le_bytes([word[0], word[1], word[2], word[3]]);
            self.bus.write(DATA_BUFFER + 4 * i, word);
        }
        self.run(Command::page_program(page_start))?;

        // The page buffer again, for the read-back: one page of stack in all.
        let back = &mut page[..data.len()];
        self.read(offset, back)?;
        match back.iter().zip(data).position(|(b, d)| b != d) {
            Some(i) => Err(FlashError::NotWritten {
                offset: offset + i as u32,
            }),
            None => Ok(()),
        }
    }
}

/// The chip's side: the command in RAM with interrupts masked.
#[cfg(target_arch = "csky")]
mod chip {
    use super::{Command, Controller, Timeout};
    use crate::w800::bus::Mmio;

    extern "C" {
        /// Masks interrupts and returns the PSR before (`irq.S`).
        fn w800_irq_save() -> u32;
        /// Puts back a PSR from [`w800_irq_save`] (`irq.S`).
        fn w800_irq_restore(psr: u32);
    }

    /// [`Command::run`] on the chip's bus, placed in RAM: `ld/xt804.ld` puts every `.data.*`
    /// section into `.data`, which the startup copies from flash to RAM; `ld/w800.ld` checks
    /// under this name that the function landed there. Everything it does is inlined
    /// (volatile accesses and a counted loop): it calls nothing in flash. The command comes
    /// by value, so that it is read from the caller's stack, never from a constant in flash.
    #[link_section = ".data.w800_qflash_run"]
    #[export_name = "w800_qflash_run"]
    #[inline(never)]
    fn run_from_ram(command: Command, poll_bound: u32) -> Result<(), Timeout> {
        // SAFETY: only `Mmio::run_exclusive` calls this, for the QFLASH driver, which owns
        // the controller, its data buffer and the cache register on the board's bus.
        let mut bus = unsafe { Mmio::new() };
        command.run(&mut bus, poll_bound)
    }

    impl Controller for Mmio {
        fn run_exclusive(&mut self, command: &Command, poll_bound: u32) -> Result<(), Timeout> {
            // Through a pointer: RAM is too far from the flash for a relative branch.
            let run: fn(Command, u32) -> Result<(), Timeout> = core::hint::black_box(run_from_ram);
            let command = core::hint::black_box(*command);
            // SAFETY: masking interrupts is always sound; the PSR goes back below, so a caller
            // that had them masked keeps them masked.
            let psr = unsafe { w800_irq_save() };
            let result = run(command, poll_bound);
            // SAFETY: the PSR `w800_irq_save` returned, in the same context.
            unsafe { w800_irq_restore(psr) };
            result
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::bus::fake::{Access, Device, FakeBus};
    use super::*;

    /// The flash a fake controller modifies, at the XIP window.
    const SIZE: usize = 2 * 1024 * 1024;
    /// Where the model keeps its write-enable latch (not a register).
    const WEL: usize = usize::MAX;
    /// A P25Q16's JEDEC ID (Puya 0x85, 2 MiB), as the buffer's first word.
    const P25Q16_ID: u32 = 0x0015_6085;
    const PROTECTED: &[Range<u32>] = &[FACTORY_AREA, 0xF000..0x13_1000];

    impl Controller for FakeBus {}

    /// A model of the controller and its chip: a command runs when START is written. It
    /// erases and programs only after write enable and only while not `write_protected`, as a
    /// chip does.
    fn controller(write_protected: bool) -> FakeBus {
        let mut bus = FakeBus::with_model(Box::new(move |dev: &mut Device, addr, value| {
            if addr != CMD_START || value & START == 0 {
                return;
            }
            let info = dev.reg(CMD_INFO);
            let target = dev.reg(ADDR) as usize;
            let enabled = dev.reg(WEL) == 1;
            let (_, flash) = dev.memory.as_mut().unwrap();
            match info {
                WRITE_ENABLE_INFO => {
                    dev.regs.insert(WEL, 1);
                }
                SECTOR_ERASE_INFO if enabled => {
                    if !write_protected {
                        let start = target & !0xFFF;
                        flash[start..start + 4096].fill(0xFF);
                    }
                    dev.regs.insert(WEL, 0);
                }
                PAGE_PROGRAM_INFO if enabled => {
                    for i in 0..256 {
                        let word = dev.regs.get(&(DATA_BUFFER + i / 4 * 4)).copied();
                        let byte = (word.unwrap_or(0xFFFF_FFFF) >> (8 * (i % 4))) as u8;
                        if !write_protected {
                            flash[target + i] &= byte;
                        }
                    }
                    dev.regs.insert(WEL, 0);
                }
                JEDEC_ID_INFO => {
                    dev.regs.insert(DATA_BUFFER, P25Q16_ID);
                }
                _ => {}
            }
            dev.regs.insert(CMD_START, 0);
        }));
        bus.device.memory = Some((XIP_BASE, vec![0xFF; SIZE]));
        bus
    }

    fn flash_on(bus: FakeBus) -> QFlash<FakeBus> {
        let mut flash = QFlash::new(bus, PROTECTED, 100);
        flash.bus.take_log();
        flash
    }

    fn flash() -> QFlash<FakeBus> {
        flash_on(controller(false))
    }

    fn chip(flash: &QFlash<FakeBus>) -> &[u8] {
        &flash.bus.device.memory.as_ref().unwrap().1
    }

    /// The register accesses since the last look (XIP reads are memory, not logged).
    fn commands(flash: &mut QFlash<FakeBus>) -> Vec<Access> {
        flash.bus.take_log()
    }

    #[test]
    fn registers_and_command_words_are_the_vendors() {
        assert_eq!(CMD_INFO, 0x4000_2000);
        assert_eq!(CMD_START, 0x4000_2004);
        assert_eq!(ADDR, 0x4000_2010);
        assert_eq!(DATA_BUFFER, 0x4000_0000);
        assert_eq!(CACHE_CIR, 0xE000_F004);
        assert_eq!(START, 0x100);
        // The older SDK writes these words whole (`wm_internal_fls.c`): write enable 0x6,
        // sector erase 0x80000820, page program 0x80009002 | (len - 1) << 16, JEDEC ID
        // 0x2C09F.
        assert_eq!(WRITE_ENABLE_INFO, 0x06);
        assert_eq!(SECTOR_ERASE_INFO, 0x8000_0820);
        assert_eq!(PAGE_PROGRAM_INFO, 0x8000_9002 | 255 << 16);
        assert_eq!(JEDEC_ID_INFO, 0x0002_C09F);
        assert_eq!(data_size(1024), 0x03FF_0000);
    }

    #[test]
    fn probing_reads_the_jedec_id_and_takes_the_size_from_it() {
        let flash = QFlash::new(controller(false), PROTECTED, 100);
        assert_eq!(
            flash.bus.log,
            [
                Access::Write(0x4000_2000, 0x0002_C09F),
                Access::Write(0x4000_2004, 0x100),
                Access::Read(0x4000_2004, 0),
                Access::Read(0x4000_0000, P25Q16_ID),
            ]
        );
        assert_eq!(
            flash.jedec_id(),
            JedecId {
                manufacturer: 0x85,
                memory_type: 0x60,
                capacity: 0x15
            }
        );
        assert_eq!(flash.geometry(), FlashGeometry::W800);
        assert_eq!(JedecId::from_word(0x0016_4068).size(), Some(4 << 20));
    }

    #[test]
    fn a_chip_that_does_not_answer_is_only_read() {
        for silent in [0u32, u32::MAX] {
            let mut bus = controller(false);
            bus.script(DATA_BUFFER, &[silent]);
            let mut flash = flash_on(bus);
            assert_eq!(flash.geometry(), FlashGeometry::W800);
            assert_eq!(flash.erase_sector(0x13_1000), Err(FlashError::ReadOnly));
            assert_eq!(flash.program(0x13_1000, &[0]), Err(FlashError::ReadOnly));
            flash.read(0x13_1000, &mut [0u8; 4]).unwrap();
        }
        // A controller that never finishes the ID read: the same.
        let mut bus = controller(false);
        bus.script(CMD_START, &[START; 100]);
        let flash = QFlash::new(bus, PROTECTED, 100);
        assert_eq!(flash.jedec_id().size(), None);
    }

    #[test]
    fn a_sector_erase_is_write_enable_then_the_erase_then_the_cache() {
        let mut flash = flash();
        flash.bus.device.memory.as_mut().unwrap().1[0x13_0FFF..0x13_2001].fill(0);
        flash.erase_sector(0x13_1000).unwrap();
        let log = commands(&mut flash);
        assert_eq!(
            log,
            [
                Access::Write(0x4000_2000, 0x06),
                Access::Write(0x4000_2004, 0x100),
                Access::Read(0x4000_2004, 0),
                Access::Write(0x4000_2000, 0x8000_0820),
                Access::Write(0x4000_2010, 0x13_1000),
                Access::Write(0x4000_2004, 0x100),
                Access::Read(0x4000_2004, 0),
                Access::Write(0xE000_F004, 1),
            ]
        );
        assert!(chip(&flash)[0x13_1000..0x13_2000]
            .iter()
            .all(|b| *b == 0xFF));
        assert_eq!(chip(&flash)[0x13_0FFF], 0);
        assert_eq!(chip(&flash)[0x13_2000], 0);
    }

    #[test]
    fn a_program_fills_the_buffer_with_the_whole_page_then_programs_it() {
        let mut flash = flash();
        flash.program(0x13_1102, &[0x12, 0x34, 0x56]).unwrap();
        let log = commands(&mut flash);
        let (buffer, command) = log.split_at(64);
        for (i, access) in buffer.iter().enumerate() {
            let expected = match i {
                0 => 0x3412_FFFF,
                1 => 0xFFFF_FF56,
                _ => 0xFFFF_FFFF,
            };
            assert_eq!(
                *access,
                Access::Write(0x4000_0000 + 4 * i, expected),
                "word {i}"
            );
        }
        assert_eq!(
            command,
            [
                Access::Write(0x4000_2000, 0x06),
                Access::Write(0x4000_2004, 0x100),
                Access::Read(0x4000_2004, 0),
                Access::Write(0x4000_2000, 0x80FF_9002),
                Access::Write(0x4000_2010, 0x13_1100),
                Access::Write(0x4000_2004, 0x100),
                Access::Read(0x4000_2004, 0),
                Access::Write(0xE000_F004, 1),
            ]
        );
        assert_eq!(
            chip(&flash)[0x13_1101..0x13_1106],
            [0xFF, 0x12, 0x34, 0x56, 0xFF]
        );
        let mut back = [0u8; 3];
        flash.read(0x13_1102, &mut back).unwrap();
        assert_eq!(back, [0x12, 0x34, 0x56]);
    }

    #[test]
    fn the_busy_wait_polls_start_until_it_clears_and_gives_up_at_the_bound() {
        let mut flash_bus = controller(false);
        flash_bus.script(CMD_START, &[START, START, START]);
        assert_eq!(Command::JEDEC_ID.run(&mut flash_bus, 4), Ok(()));
        let polls = flash_bus
            .take_log()
            .into_iter()
            .filter(|a| matches!(a, Access::Read(CMD_START, _)))
            .count();
        assert_eq!(polls, 4);

        flash_bus.script(CMD_START, &[START; 10]);
        assert_eq!(Command::JEDEC_ID.run(&mut flash_bus, 4), Err(Timeout));
        assert_eq!(flash_bus.take_log().len(), 2 + 4);
        assert_eq!(Command::JEDEC_ID.run(&mut flash_bus, 0), Err(Timeout));
    }

    #[test]
    fn a_write_enable_that_never_finishes_sends_no_erase_but_invalidates() {
        let mut flash = flash();
        flash.bus.script(CMD_START, &[START; 100]);
        assert_eq!(flash.erase_sector(0x13_1000), Err(FlashError::Timeout));
        let log = commands(&mut flash);
        assert_eq!(log.len(), 2 + 100 + 1);
        assert!(!log.contains(&Access::Write(CMD_INFO, SECTOR_ERASE_INFO)));
        assert_eq!(log.last(), Some(&Access::Write(CACHE_CIR, 1)));
    }

    #[test]
    fn the_factory_area_and_the_running_partition_are_never_written() {
        let mut flash = flash();
        for sector in [0x0, 0x1000, 0xF000, 0x13_0000] {
            assert_eq!(
                flash.erase_sector(sector),
                Err(FlashError::Protected {
                    offset: sector,
                    len: 4096
                })
            );
        }
        for offset in [0x1FFF, 0xF000, 0x13_0FFF] {
            assert_eq!(
                flash.program(offset, &[0]),
                Err(FlashError::Protected { offset, len: 1 })
            );
        }
        assert!(
            commands(&mut flash).is_empty(),
            "nothing reached the controller"
        );
        // Right next to them, and app_ota, are fine.
        flash.erase_sector(0x2000).unwrap();
        flash.erase_sector(0xE000).unwrap();
        flash.erase_sector(0x13_1000).unwrap();
        flash.program(0x13_1000, &[0]).unwrap();
    }

    #[test]
    fn the_nor_rules_hold_before_anything_is_sent() {
        let mut flash = flash();
        flash.program(0x13_1200, &[0x00, 0xF0]).unwrap();
        commands(&mut flash);
        assert_eq!(
            flash.program(0x13_1200, &[0x00, 0xF8, 0x0F]),
            Err(FlashError::BitsNotErased { offset: 0x13_1201 })
        );
        assert_eq!(
            flash.program(0x13_12FF, &[0, 0]),
            Err(FlashError::CrossesPage {
                offset: 0x13_12FF,
                len: 2
            })
        );
        assert_eq!(
            flash.erase_sector(0x13_1800),
            Err(FlashError::UnalignedErase { offset: 0x13_1800 })
        );
        assert!(matches!(
            flash.program(0x1F_FFFF, &[0, 0]),
            Err(FlashError::OutOfRange { .. })
        ));
        assert!(matches!(
            flash.read(u32::MAX, &mut [0u8; 2]),
            Err(FlashError::OutOfRange { .. })
        ));
        assert!(matches!(
            flash.erase_sector(0x20_0000),
            Err(FlashError::OutOfRange { .. })
        ));
        assert!(commands(&mut flash).is_empty());
        assert_eq!(chip(&flash)[0x13_1200..0x13_1203], [0x00, 0xF0, 0xFF]);
        // Clearing more bits is a program like any other; nothing to program is no command.
        flash.program(0x13_1201, &[0x30]).unwrap();
        flash.program(0x13_1300, &[]).unwrap();
        assert_eq!(chip(&flash)[0x13_1201], 0x30);
    }

    #[test]
    fn a_chip_that_ignores_the_command_is_caught_by_the_read_back() {
        let mut flash = flash_on(controller(true));
        assert_eq!(
            flash.program(0x13_1010, &[0xFF, 0x7F]),
            Err(FlashError::NotWritten { offset: 0x13_1011 })
        );
        flash.bus.device.memory.as_mut().unwrap().1[0x13_1F00] = 0;
        assert_eq!(
            flash.erase_sector(0x13_1000),
            Err(FlashError::NotWritten { offset: 0x13_1F00 })
        );
    }

    #[test]
    fn the_poll_bound_lasts_at_least_the_timeout() {
        assert_eq!(poll_bound(240_000_000, 2000), 480_000_000);
        assert_eq!(poll_bound(80_000_000, COMMAND_TIMEOUT_MS), 160_000_000);
        assert_eq!(poll_bound(240_000_000, u32::MAX), u32::MAX);
    }
}
