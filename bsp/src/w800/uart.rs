//! The W800's UARTs (UART0 at 0x4001_0600 is the console; docs/w800.md, "UART"): transmit
//! through the 32-byte FIFO, receive by interrupt as the vendor's interrupt-mode driver sets
//! it up (`wm_hal_uart.c`): the receive FIFO interrupts at 16 bytes or when a byte has waited
//! four character times, and the handler takes everything the FIFO holds.

use super::bus::Bus;

/// Register offsets (`wm_uart_reg_struct.h`).
pub const LINE_CTRL: usize = 0x00;
pub const FLOW_CTRL: usize = 0x04;
pub const DMA_CTRL: usize = 0x08;
pub const FIFO_CTRL: usize = 0x0C;
pub const BAUD_RATE: usize = 0x10;
pub const INT_MASK: usize = 0x14;
pub const INT_SRC: usize = 0x18;
pub const FIFO_STATUS: usize = 0x1C;
pub const TX_DATA: usize = 0x20;
pub const RX_DATA: usize = 0x30;

/// LINE_CTRL: 8 data bits (1:0 = 3), 1 stop bit, no parity, transmitter (6) and receiver (7)
/// on, UART mode.
pub const LINE_8N1_TX_RX: u32 = 0b11 | 1 << 6 | 1 << 7;
/// DMA_CTRL: no DMA; the receive timeout on (bit 2) after 4 character times (bits 7:3), the
/// vendor's setting.
pub const DMA_CTRL_RX_TIMEOUT_4: u32 = 1 << 2 | 4 << 3;
/// FIFO_CTRL bits 3:2 and 5:4: the transmit level at 4 bytes (1), the receive level at 16
/// bytes (3), the vendor's.
pub const FIFO_LEVELS: u32 = 1 << 2 | 3 << 4;
/// FIFO_CTRL bit 0: empty the transmit FIFO.
pub const FIFO_TX_RESET: u32 = 1 << 0;
/// FIFO_CTRL bit 1: empty the receive FIFO.
pub const FIFO_RX_RESET: u32 = 1 << 1;
/// INT_MASK / INT_SRC: the receive FIFO reached its level.
pub const INT_RX_LEVEL: u32 = 1 << 2;
/// INT_MASK / INT_SRC: bytes waited in the receive FIFO for the timeout.
pub const INT_RX_TIMEOUT: u32 = 1 << 3;
/// INT_MASK / INT_SRC: the receive FIFO overran.
pub const INT_RX_OVERRUN: u32 = 1 << 8;
/// INT_MASK: every source (bits 9:0) masked.
pub const INT_MASK_ALL: u32 = 0x3FF;
/// INT_MASK: only the receive sources unmasked.
pub const INT_MASK_RX: u32 = INT_MASK_ALL & !(INT_RX_LEVEL | INT_RX_TIMEOUT | INT_RX_OVERRUN);
/// The FIFOs' depth (`WM_UART_HW_FIFO_NUM`).
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

/// What one receive interrupt found.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Received {
    /// Bytes taken from the FIFO.
    pub bytes: u32,
    /// The FIFO had overrun: bytes were lost before these.
    pub overrun: bool,
}

/// One W800 UART.
#[derive(Debug)]
pub struct Uart<B: Bus> {
    bus: B,
    base: usize,
}

impl<B: Bus> Uart<B> {
    /// The UART whose registers start at `base` on `bus`.
    ///
    /// # Safety
    /// `base` must be a UART of the W800 that `bus` reaches, with its clock on; transmit and
    /// configuration must happen in one context at a time, receive in its interrupt only.
    pub const unsafe fn new(bus: B, base: usize) -> Uart<B> {
        Uart { bus, base }
    }

    fn write(&mut self, offset: usize, value: u32) {
        self.bus.write(self.base + offset, value);
    }

    fn read(&mut self, offset: usize) -> u32 {
        self.bus.read(self.base + offset)
    }

    /// 8N1 at `baud` from `apb_hz`, no flow control, no DMA, the receive timeout and FIFO
    /// levels as the vendor sets them, FIFOs empty, every interrupt masked and cleared.
    pub fn configure(&mut self, apb_hz: u32, baud: u32) {
        self.write(INT_MASK, INT_MASK_ALL);
        self.write(INT_SRC, u32::MAX);
        self.write(BAUD_RATE, baud_register(apb_hz, baud));
        self.write(FLOW_CTRL, 0);
        self.write(DMA_CTRL, DMA_CTRL_RX_TIMEOUT_4);
        self.write(FIFO_CTRL, FIFO_LEVELS | FIFO_TX_RESET | FIFO_RX_RESET);
        self.write(LINE_CTRL, LINE_8N1_TX_RX);
    }

    /// Lets received bytes (the level, the timeout) and an overrun interrupt.
    pub fn enable_rx_interrupts(&mut self) {
        self.write(INT_MASK, INT_MASK_RX);
    }

    /// Sends one byte, waiting for room in the transmit FIFO (it drains at the line speed).
    pub fn write_byte(&mut self, byte: u8) {
        while tx_count(self.read(FIFO_STATUS)) >= FIFO_DEPTH {}
        self.write(TX_DATA, u32::from(byte));
    }

    /// The receive interrupt's work: clears what interrupted, hands every byte the FIFO held
    /// to `sink` (at most one FIFO's worth: bytes arriving meanwhile interrupt again), and
    /// empties an overrun FIFO, whose contents the UART no longer keeps in order, as the
    /// vendor's handler does.
    pub fn receive(&mut self, mut sink: impl FnMut(u8)) -> Received {
        let sources = self.read(INT_SRC);
        self.write(INT_SRC, sources);
        let waiting = rx_count(self.read(FIFO_STATUS));
        for _ in 0..waiting {
            sink(self.read(RX_DATA) as u8);
        }
        let overrun = sources & INT_RX_OVERRUN != 0;
        if overrun {
            self.write(FIFO_CTRL, FIFO_LEVELS | FIFO_RX_RESET);
        }
        Received {
            bytes: waiting,
            overrun,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::bus::fake::{Access, FakeBus};
    use super::*;

    const UART0: usize = 0x4001_0600;

    fn uart() -> Uart<FakeBus> {
        // SAFETY: a fake bus, no hardware.
        unsafe { Uart::new(FakeBus::new(), UART0) }
    }

    #[test]
    fn the_console_baud_register_at_40mhz() {
        // 40 MHz / (16 × 115200) = 21.70: divider 20, 11 sixteenths.
        assert_eq!(baud_register(40_000_000, 115_200), 0x000B_0014);
        // 40 MHz / (16 × 9600) = 260.42: divider 259, 6 sixteenths.
        assert_eq!(baud_register(40_000_000, 9600), 0x0006_0103);
    }

    #[test]
    fn register_fields_follow_the_vendor_layout() {
        assert_eq!(LINE_8N1_TX_RX, 0xC3);
        assert_eq!(DMA_CTRL_RX_TIMEOUT_4, 0x24);
        assert_eq!(FIFO_LEVELS | FIFO_TX_RESET | FIFO_RX_RESET, 0x37);
        assert_eq!(INT_MASK_RX, 0x2F3);
        let status = 5 << 6 | 32;
        assert_eq!(tx_count(status), 32);
        assert_eq!(rx_count(status), 5);
    }

    #[test]
    fn configure_writes_115200_8n1_with_every_interrupt_masked() {
        let mut uart = uart();
        uart.configure(40_000_000, 115_200);
        assert_eq!(
            uart.bus.take_log(),
            [
                Access::Write(0x4001_0614, 0x3FF),
                Access::Write(0x4001_0618, 0xFFFF_FFFF),
                Access::Write(0x4001_0610, 0x000B_0014),
                Access::Write(0x4001_0604, 0),
                Access::Write(0x4001_0608, 0x24),
                Access::Write(0x4001_060C, 0x37),
                Access::Write(0x4001_0600, 0xC3),
            ]
        );
        uart.enable_rx_interrupts();
        assert_eq!(uart.bus.take_log(), [Access::Write(0x4001_0614, 0x2F3)]);
    }

    #[test]
    fn transmit_waits_for_room_in_the_fifo() {
        let mut uart = uart();
        uart.bus.script(UART0 + FIFO_STATUS, &[32, 32, 31]);
        uart.write_byte(b'W');
        assert_eq!(
            uart.bus.take_log(),
            [
                Access::Read(0x4001_061C, 32),
                Access::Read(0x4001_061C, 32),
                Access::Read(0x4001_061C, 31),
                Access::Write(0x4001_0620, u32::from(b'W')),
            ]
        );
    }

    #[test]
    fn an_interrupt_clears_its_sources_and_drains_what_the_fifo_holds() {
        let mut uart = uart();
        uart.bus.script(UART0 + INT_SRC, &[INT_RX_TIMEOUT]);
        uart.bus.script(UART0 + FIFO_STATUS, &[3 << 6]);
        uart.bus.script(UART0 + RX_DATA, &[0x168, 0x65, 0x6C]);
        let mut got = Vec::new();
        let received = uart.receive(|b| got.push(b));
        assert_eq!(got, b"hel");
        assert_eq!(
            received,
            Received {
                bytes: 3,
                overrun: false
            }
        );
        assert_eq!(
            uart.bus.take_log(),
            [
                Access::Read(0x4001_0618, 0x8),
                Access::Write(0x4001_0618, 0x8),
                Access::Read(0x4001_061C, 3 << 6),
                Access::Read(0x4001_0630, 0x168),
                Access::Read(0x4001_0630, 0x65),
                Access::Read(0x4001_0630, 0x6C),
            ]
        );
    }

    #[test]
    fn an_overrun_empties_the_receive_fifo_and_keeps_the_levels() {
        let mut uart = uart();
        uart.bus
            .script(UART0 + INT_SRC, &[INT_RX_OVERRUN | INT_RX_LEVEL]);
        uart.bus.script(UART0 + FIFO_STATUS, &[0]);
        let received = uart.receive(|_| panic!("no byte waits"));
        assert!(received.overrun);
        assert_eq!(
            uart.bus.take_log(),
            [
                Access::Read(0x4001_0618, 0x104),
                Access::Write(0x4001_0618, 0x104),
                Access::Read(0x4001_061C, 0),
                Access::Write(0x4001_060C, 0x36),
            ]
        );
    }
}
