//! How the W800's drivers reach their devices: 32-bit registers and memory at addresses.
//!
//! The drivers (UART, QFLASH, GPSEC) are written against [`Bus`], so the host tests drive them
//! over a fake bus that records every access and models the device (the test module
//! `fake`), and assert the exact sequence of register reads and writes against the vendor's
//! documented values. On the chip the bus is [`Mmio`], whose accesses compile to single
//! volatile loads and stores.

use crate::mmio::Reg;

/// A bus of 32-bit device registers and byte-addressed memory.
pub trait Bus {
    /// Reads the 32-bit register at `addr`.
    fn read(&mut self, addr: usize) -> u32;
    /// Writes the 32-bit register at `addr`.
    fn write(&mut self, addr: usize, value: u32);
    /// Copies `buf.len()` bytes of memory from `addr` (the flash's execute-in-place window).
    fn read_memory(&mut self, addr: usize, buf: &mut [u8]);
}

/// The W800's own address space.
#[derive(Debug)]
pub struct Mmio(());

impl Mmio {
    /// The chip's bus.
    ///
    /// # Safety
    /// Only on a W800, by a driver that owns the devices it reaches through it: every address
    /// it is given must be a device register or memory of the chip, and the accesses the
    /// caller's to make.
    pub const unsafe fn new() -> Mmio {
        Mmio(())
    }
}

impl Bus for Mmio {
    #[inline(always)]
    fn read(&mut self, addr: usize) -> u32 {
        // SAFETY: a register of the chip the driver owns (see `new`).
        unsafe { Reg::at(addr, 0).read() }
    }

    #[inline(always)]
    fn write(&mut self, addr: usize, value: u32) {
        // SAFETY: as in `read`.
        unsafe { Reg::at(addr, 0).write(value) }
    }

    #[inline(always)]
    fn read_memory(&mut self, addr: usize, buf: &mut [u8]) {
        // SAFETY: readable memory of the chip, `buf.len()` bytes from `addr` (see `new`); it
        // cannot overlap `buf`, which the caller holds mutably.
        unsafe { core::ptr::copy_nonoverlapping(addr as *const u8, buf.as_mut_ptr(), buf.len()) }
    }
}

/// A recording bus with device models, for the drivers' host tests.
#[cfg(test)]
pub(crate) mod fake {
    use super::Bus;
    use std::collections::{HashMap, VecDeque};

    /// One access, as the driver made it.
    #[derive(Clone, Copy, Debug, PartialEq, Eq)]
    pub enum Access {
        Read(usize, u32),
        Write(usize, u32),
    }

    /// What a device model does on a write: it sees the registers and may change them (or the
    /// memory) as the hardware would.
    pub type OnWrite = Box<dyn FnMut(&mut Device, usize, u32) + Send>;

    /// The registers and memory behind the fake bus.
    #[derive(Default)]
    pub struct Device {
        pub regs: HashMap<usize, u32>,
        /// Values a read returns before it falls back to `regs`, per address.
        pub scripted: HashMap<usize, VecDeque<u32>>,
        /// Byte memory: (base address, bytes).
        pub memory: Option<(usize, Vec<u8>)>,
    }

    impl Device {
        pub fn reg(&self, addr: usize) -> u32 {
            self.regs.get(&addr).copied().unwrap_or(0)
        }
    }

    /// A bus that logs every access.
    pub struct FakeBus {
        pub log: Vec<Access>,
        pub device: Device,
        on_write: Option<OnWrite>,
    }

    impl FakeBus {
        /// A bus whose registers read 0 until written.
        pub fn new() -> FakeBus {
            FakeBus {
                log: Vec::new(),
                device: Device::default(),
                on_write: None,
            }
        }

        /// A bus whose device reacts to writes.
        pub fn with_model(on_write: OnWrite) -> FakeBus {
            FakeBus {
                on_write: Some(on_write),
                ..FakeBus::new()
            }
        }

        /// The next reads of `addr` return `values`, in order.
        pub fn script(&mut self, addr: usize, values: &[u32]) {
            self.device
                .scripted
                .entry(addr)
                .or_default()
                .extend(values.iter().copied());
        }

        /// Takes the log, leaving it empty.
        pub fn take_log(&mut self) -> Vec<Access> {
            std::mem::take(&mut self.log)
        }
    }

    impl Bus for FakeBus {
        fn read(&mut self, addr: usize) -> u32 {
            let value = match self
                .device
                .scripted
                .get_mut(&addr)
                .and_then(|q| q.pop_front())
            {
                Some(value) => value,
                None => self.device.reg(addr),
            };
            self.log.push(Access::Read(addr, value));
            value
        }

        fn write(&mut self, addr: usize, value: u32) {
            self.log.push(Access::Write(addr, value));
            self.device.regs.insert(addr, value);
            if let Some(on_write) = self.on_write.as_mut() {
                on_write(&mut self.device, addr, value);
            }
        }

        fn read_memory(&mut self, addr: usize, buf: &mut [u8]) {
            let (base, bytes) = self.device.memory.as_ref().expect("no memory modelled");
            let start = addr - base;
            buf.copy_from_slice(&bytes[start..start + buf.len()]);
        }
    }
}
