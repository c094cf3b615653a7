//! The DesignWare APB UART (16550-compatible, 32-bit registers 4 bytes apart) that QEMU's
//! smartl board has at 0x4001_5000: polled transmit, receive by interrupt.

use crate::mmio::Reg;

/// Receive buffer (read) / transmit holding (write) / divisor low byte (with LCR.DLAB).
const RBR_THR_DLL: usize = 0x00;
/// Interrupt enable / divisor high byte (with LCR.DLAB).
const IER_DLH: usize = 0x04;
/// FIFO control (write).
const FCR: usize = 0x08;
/// Line control.
const LCR: usize = 0x0C;
/// Line status.
const LSR: usize = 0x14;

/// LCR: 8 data bits, no parity, 1 stop bit.
pub const LCR_8N1: u32 = 0x03;
/// LCR: the first two registers are the baud divisor while set.
pub const LCR_DLAB: u32 = 0x80;
/// FCR: FIFOs on, both emptied.
pub const FCR_ENABLE_AND_CLEAR: u32 = 0x07;
/// IER: interrupt while received data waits.
pub const IER_RX_DATA: u32 = 0x01;
/// LSR: a received byte waits in RBR.
pub const LSR_DATA_READY: u32 = 0x01;
/// LSR: the transmitter takes a byte.
pub const LSR_THR_EMPTY: u32 = 0x20;

/// The baud divisor: the UART samples at 16 times the baud rate, so the clock divided by
/// 16 × baud, rounded to the nearest.
pub const fn divisor(clock_hz: u32, baud: u32) -> u16 {
    let sample = 16 * baud as u64;
    let div = (clock_hz as u64 + sample / 2) / sample;
    if div > u16::MAX as u64 {
        u16::MAX
    } else if div == 0 {
        1
    } else {
        div as u16
    }
}

/// One DW UART.
#[derive(Debug)]
pub struct DwUart {
    base: usize,
}

impl DwUart {
    /// The UART whose registers start at `base`.
    ///
    /// # Safety
    /// `base` must be a DW APB UART of the chip the firmware runs on, driven by this value
    /// only (or, for the receive interrupt, by its handler as the board arranges).
    pub const unsafe fn new(base: usize) -> DwUart {
        DwUart { base }
    }

    fn reg(&self, offset: usize) -> Reg {
        Reg::at(self.base, offset)
    }

    /// 8N1 at `baud` from `clock_hz`, FIFOs on and empty, interrupts off.
    pub fn configure(&self, clock_hz: u32, baud: u32) {
        let div = divisor(clock_hz, baud);
        // SAFETY: this UART's registers (see `new`).
        unsafe {
            self.reg(IER_DLH).write(0);
            self.reg(LCR).write(LCR_DLAB);
            self.reg(RBR_THR_DLL).write(u32::from(div & 0xFF));
            self.reg(IER_DLH).write(u32::from(div >> 8));
            self.reg(LCR).write(LCR_8N1);
            self.reg(FCR).write(FCR_ENABLE_AND_CLEAR);
        }
    }

    /// Interrupts while received data waits.
    pub fn enable_rx_interrupt(&self) {
        // SAFETY: as in `configure`.
        unsafe { self.reg(IER_DLH).write(IER_RX_DATA) }
    }

    /// Sends one byte, waiting for room in the transmitter.
    pub fn write_byte(&self, byte: u8) {
        // SAFETY: as in `configure`; reading LSR changes nothing the receiver relies on.
        unsafe {
            while self.reg(LSR).read() & LSR_THR_EMPTY == 0 {}
            self.reg(RBR_THR_DLL).write(u32::from(byte));
        }
    }

    /// Takes one received byte, if one waits.
    pub fn read_byte(&self) -> Option<u8> {
        // SAFETY: as in `configure`; reading RBR takes the byte, which is ours to take.
        unsafe {
            (self.reg(LSR).read() & LSR_DATA_READY != 0).then(|| self.reg(RBR_THR_DLL).read() as u8)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn divisors_round_to_the_nearest() {
        // 240 MHz / (16 × 115200) = 130.2
        assert_eq!(divisor(240_000_000, 115_200), 130);
        // 40 MHz / (16 × 115200) = 21.7
        assert_eq!(divisor(40_000_000, 115_200), 22);
        assert_eq!(divisor(1_843_200, 115_200), 1);
        assert_eq!(divisor(1000, 115_200), 1);
        assert_eq!(divisor(240_000_000, 300), 50_000);
        assert_eq!(divisor(240_000_000, 50), u16::MAX);
    }

    #[test]
    fn line_settings_encode_8n1_and_the_divisor_latch() {
        assert_eq!(LCR_8N1, 0b0000_0011);
        assert_eq!(LCR_DLAB | LCR_8N1, 0x83);
        assert_eq!(FCR_ENABLE_AND_CLEAR, 0x07);
    }
}
