//! The W800's UARTs (UART0 at 0x4001_0600 is the console): polled transmit and receive
//! through the 32-byte FIFOs (docs/w800.md, "UART").

use crate::mmio::Reg;

const LINE_CTRL: usize = 0x00;
const FLOW_CTRL: usize = 0x04;
const DMA_CTRL: usize = 0x08;
const FIFO_CTRL: usize = 0x0C;
const BAUD_RATE: usize = 0x10;
const INT_MASK: usize = 0x14;
const FIFO_STATUS: usize = 0x1C;
const TX_DATA: usize = 0x20;
const RX_DATA: usize = 0x30;

/// LINE_CTRL: 8 data bits, 1 stop bit, no parity, transmitter and receiver on.
pub const LINE_8N1_TX_RX: u32 = 0b11 | 1 << 6 | 1 << 7;
/// FIFO_CTRL: empty both FIFOs.
pub const FIFO_RESET: u32 = 0b11;
/// INT_MASK: every interrupt source masked (the console polls).
pub const INT_MASK_ALL: u32 = 0x1FF;
/// The FIFOs' depth.
pub const FIFO_DEPTH: u32 = 32;

/// The BAUD_RATE value for `baud` from the `apb_hz` bus clock: the divider APB / (16 × baud)
/// less one in bits 15:0, the remainder in sixteenths in bits 19:16.
pub const fn baud_register(apb_hz: u32, baud: u32) -> u32 {
    let sample = 16 * baud;
    let divider = apb_hz / sample - 1;
    let fraction = (apb_hz % sample) * 16 / sample;
    (fraction & 0xF) << 16 | (divider & 0xFFFF)
}

/// Bytes waiting in the transmit FIFO (FIFO_STATUS bits 5:0).
pub const fn tx_count(fifo_status: u32) -> u32 {
    fifo_status & 0x3F
}

/// Bytes waiting in the receive FIFO (FIFO_STATUS bits 11:6).
pub const fn rx_count(fifo_status: u32) -> u32 {
    (fifo_status >> 6) & 0x3F
}

/// One W800 UART.
#[derive(Debug)]
pub struct Uart {
    base: usize,
}

impl Uart {
    /// The UART whose registers start at `base`.
    ///
    /// # Safety
    /// `base` must be a UART of the W800 the firmware runs on, with its clock on, driven by
    /// this value only.
    pub const unsafe fn new(base: usize) -> Uart {
        Uart { base }
    }

    fn reg(&self, offset: usize) -> Reg {
        Reg::at(self.base, offset)
    }

    /// 8N1 at `baud` from `apb_hz`, no flow control, no DMA, FIFOs empty, interrupts masked.
    pub fn configure(&self, apb_hz: u32, baud: u32) {
        // SAFETY: this UART's registers (see `new`).
        unsafe {
            self.reg(INT_MASK).write(INT_MASK_ALL);
            self.reg(BAUD_RATE).write(baud_register(apb_hz, baud));
            self.reg(FLOW_CTRL).write(0);
            self.reg(DMA_CTRL).write(0);
            self.reg(FIFO_CTRL).write(FIFO_RESET);
            self.reg(LINE_CTRL).write(LINE_8N1_TX_RX);
        }
    }

    /// Sends one byte, waiting for room in the transmit FIFO.
    pub fn write_byte(&self, byte: u8) {
        // SAFETY: as in `configure`.
        unsafe {
            while tx_count(self.reg(FIFO_STATUS).read()) >= FIFO_DEPTH {}
            self.reg(TX_DATA).write(u32::from(byte));
        }
    }

    /// Takes one received byte, if one waits.
    pub fn read_byte(&self) -> Option<u8> {
        // SAFETY: as in `configure`; reading the window takes the byte, which is ours.
        unsafe {
            (rx_count(self.reg(FIFO_STATUS).read()) > 0).then(|| self.reg(RX_DATA).read() as u8)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_console_baud_register_at_40mhz() {
        // 40 MHz / (16 × 115200) = 21.70: divider 20, 11 sixteenths.
        assert_eq!(baud_register(40_000_000, 115_200), 0x000B_0014);
        // 40 MHz / (16 × 9600) = 260.42: divider 259, 6 sixteenths.
        assert_eq!(baud_register(40_000_000, 9600), 0x0006_0103);
    }

    #[test]
    fn line_control_and_fifo_counts() {
        assert_eq!(LINE_8N1_TX_RX, 0xC3);
        let status = 5 << 6 | 32;
        assert_eq!(tx_count(status), 32);
        assert_eq!(rx_count(status), 5);
    }
}
