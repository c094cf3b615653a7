//! Memory-mapped device registers: the only place the C-SKY boards' drivers touch hardware.

use core::ptr;

/// A 32-bit device register at a fixed address. Every device on the W800 and on QEMU's smartl
/// takes 32-bit accesses only (the smartl UART logs anything narrower as a guest error).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Reg(usize);

impl Reg {
    /// The register at `base + offset`.
    pub const fn at(base: usize, offset: usize) -> Reg {
        Reg(base + offset)
    }

    /// The register's address.
    pub const fn addr(self) -> usize {
        self.0
    }

    /// Reads the register.
    ///
    /// # Safety
    /// The address must be a readable device register of the chip the firmware runs on, and
    /// the read (some clear status bits) must be the caller's to make.
    pub unsafe fn read(self) -> u32 {
        // SAFETY: a device register, as the caller promises; volatile, as MMIO must be.
        unsafe { ptr::read_volatile(self.0 as *const u32) }
    }

    /// Writes the register.
    ///
    /// # Safety
    /// The address must be a writable device register of the chip the firmware runs on, and
    /// the caller must own the device the write changes.
    pub unsafe fn write(self, value: u32) {
        // SAFETY: a device register, as the caller promises; volatile, as MMIO must be.
        unsafe { ptr::write_volatile(self.0 as *mut u32, value) }
    }
}
