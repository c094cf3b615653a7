//! The W800's true random number generator, in the GPSEC block at 0x4000_0600 (docs/w800.md,
//! "Random numbers"): the board's [`SecureEntropy`], the only source it opens TLS with.
//!
//! Set up as the vendor's `wm_hal_rng_init` does for the TRNG (`wm_hal_rng.c`), with its clock
//! gates on as `wm_drv_ops_rng.c` turns them on; each word waits for the block's flag, clears
//! it and reads the result (`wm_hal_rng_read`). Unlike the vendor, which returns whatever the
//! result register holds when the flag never comes, a generator that stops or repeats itself
//! is a fault here: nothing from it reaches a key.

use super::bus::Bus;
use crate::hal::{Entropy, SecureEntropy};

/// The clock and reset controller's clock enable register.
pub const RCC_CLK_EN: usize = 0x4000_0E00;
/// RCC_CLK_EN: the GPSEC block's gate (`WM_RCC_GPSEC_GATE_EN`).
pub const GATE_GPSEC: u32 = 1 << 17;
/// RCC_CLK_EN: the touch sensor's gate, which the vendor's RNG driver turns on with the
/// GPSEC's (`WM_RCC_TOUCH_GATE_EN`).
pub const GATE_TOUCH: u32 = 1 << 21;

/// The GPSEC block's registers (`wm_gpsec_reg_struct.h`).
pub const BASE: usize = 0x4000_0600;
/// Configuration; bit 19 masks the (crypto) completion interrupt.
pub const CONFIG: usize = BASE + 0x008;
/// Status; bit 16 is the flag a new random word sets, write 1 to clear.
pub const STATUS: usize = BASE + 0x030;
/// The random result.
pub const RESULT: usize = BASE + 0x048;
/// TRNG control: 0 on, 1 the result shows the TRNG (not the PRNG), 2 bypass the
/// post-processing, 5:3 charge pump, 6 masks the TRNG's interrupt.
pub const TRNG_CR: usize = BASE + 0x054;

/// CONFIG bit 19: the completion interrupt masked.
pub const CONFIG_INT_MASK: u32 = 1 << 19;
/// STATUS bit 16: a word is ready.
pub const STATUS_FLAG: u32 = 1 << 16;
/// TRNG_CR: the fields the set-up writes (bits 6:0).
pub const TRNG_FIELDS: u32 = 0x7F;
/// TRNG_CR: running, result from the TRNG, post-processing on, charge pump 4, its
/// interrupt unmasked (the vendor's values).
pub const TRNG_RUN: u32 = 1 << 0 | 1 << 1 | 4 << 3;
/// How long the vendor waits after the start before the first word (`mdelay(1)`), "for
/// better randomness of early stage".
pub const SETTLE_US: u32 = 1000;
/// Flag polls before a word counts as missing. The vendor polls 0xFFFF times; a bound of 16
/// times that leaves room for a faster CPU.
pub const WORD_POLLS: u32 = 0x10_0000;
/// The same word this many times in a row is a generator stuck, not chance (2^-64 for a
/// working one).
pub const STUCK_REPEATS: u32 = 3;

/// The TRNG.
#[derive(Debug)]
pub struct Trng<B: Bus> {
    bus: B,
    last: Option<u32>,
    repeats: u32,
}

impl<B: Bus> Trng<B> {
    /// Turns the clocks on and starts the generator. The first word may be read
    /// [`SETTLE_US`] later.
    pub fn start(mut bus: B) -> Trng<B> {
        let gates = bus.read(RCC_CLK_EN);
        bus.write(RCC_CLK_EN, gates | GATE_GPSEC | GATE_TOUCH);
        bus.write(STATUS, STATUS_FLAG);
        let config = bus.read(CONFIG);
        bus.write(CONFIG, config | CONFIG_INT_MASK);
        let trng = bus.read(TRNG_CR);
        bus.write(TRNG_CR, (trng & !TRNG_FIELDS) | TRNG_RUN);
        Trng {
            bus,
            last: None,
            repeats: 0,
        }
    }

    /// Waits out [`SETTLE_US`] after [`Trng::start`] at `cpu_hz`, by reading the status
    /// register (which changes nothing) once per microsecond's worth of cycles or more.
    pub fn settle(&mut self, cpu_hz: u32) {
        for _ in 0..(cpu_hz / 1_000_000).saturating_mul(SETTLE_US) {
            self.bus.read(STATUS);
        }
    }

    /// The next word: waits for the flag, clears it, reads the result.
    ///
    /// # Panics
    /// When the flag does not come within [`WORD_POLLS`] polls, or the same word comes
    /// [`STUCK_REPEATS`] times in a row: a broken generator must not feed keys.
    pub fn next_word(&mut self) -> u32 {
        let ready = (0..WORD_POLLS).any(|_| self.bus.read(STATUS) & STATUS_FLAG != 0);
        assert!(ready, "the TRNG produced no word");
        self.bus.write(STATUS, STATUS_FLAG);
        let word = self.bus.read(RESULT);
        if self.last == Some(word) {
            self.repeats += 1;
            assert!(
                self.repeats + 1 < STUCK_REPEATS,
                "the TRNG repeats 0x{word:08X}"
            );
        } else {
            self.repeats = 0;
        }
        self.last = Some(word);
        word
    }
}

impl<B: Bus + Send> Entropy for Trng<B> {
    fn fill(&mut self, buf: &mut [u8]) {
        for chunk in buf.chunks_mut(4) {
            let word = self.next_word().to_le_bytes();
            chunk.copy_from_slice(&word[..chunk.len()]);
        }
    }
}

/// Hardware noise, post-processed by the block itself.
impl<B: Bus + Send> SecureEntropy for Trng<B> {}

#[cfg(test)]
mod tests {
    use super::super::bus::fake::{Access, FakeBus};
    use super::*;

    #[test]
    fn registers_are_the_vendors() {
        assert_eq!(CONFIG, 0x4000_0608);
        assert_eq!(STATUS, 0x4000_0630);
        assert_eq!(RESULT, 0x4000_0648);
        assert_eq!(TRNG_CR, 0x4000_0654);
        assert_eq!(TRNG_RUN, 0x23);
        assert_eq!(GATE_GPSEC | GATE_TOUCH, 0x0022_0000);
    }

    #[test]
    fn start_gates_the_clocks_then_sets_the_trng_up_as_the_vendor() {
        let mut bus = FakeBus::new();
        bus.script(RCC_CLK_EN, &[0x0000_0806]);
        bus.script(CONFIG, &[0x0000_0001]);
        bus.script(TRNG_CR, &[0xFFFF_FF44]);
        let trng = Trng::start(bus);
        assert_eq!(
            trng.bus.log,
            [
                Access::Read(0x4000_0E00, 0x0000_0806),
                Access::Write(0x4000_0E00, 0x0022_0806),
                Access::Write(0x4000_0630, 0x0001_0000),
                Access::Read(0x4000_0608, 0x0000_0001),
                Access::Write(0x4000_0608, 0x0008_0001),
                Access::Read(0x4000_0654, 0xFFFF_FF44),
                Access::Write(0x4000_0654, 0xFFFF_FF23),
            ]
        );
    }

    #[test]
    fn each_word_waits_for_the_flag_clears_it_and_reads_the_result() {
        let mut trng = Trng::start(FakeBus::new());
        trng.bus.take_log();
        trng.bus.script(STATUS, &[0, 0, STATUS_FLAG, STATUS_FLAG]);
        trng.bus.script(RESULT, &[0x4433_2211, 0x8877_6655]);
        let mut buf = [0u8; 6];
        trng.fill(&mut buf);
        assert_eq!(buf, [0x11, 0x22, 0x33, 0x44, 0x55, 0x66]);
        assert_eq!(
            trng.bus.log,
            [
                Access::Read(0x4000_0630, 0),
                Access::Read(0x4000_0630, 0),
                Access::Read(0x4000_0630, 0x1_0000),
                Access::Write(0x4000_0630, 0x1_0000),
                Access::Read(0x4000_0648, 0x4433_2211),
                Access::Read(0x4000_0630, 0x1_0000),
                Access::Write(0x4000_0630, 0x1_0000),
                Access::Read(0x4000_0648, 0x8877_6655),
            ]
        );
    }

    #[test]
    fn settling_reads_the_status_for_at_least_a_millisecond_of_cycles() {
        let mut trng = Trng::start(FakeBus::new());
        trng.bus.take_log();
        trng.settle(2_000_000);
        let log = trng.bus.take_log();
        assert_eq!(log.len(), 2000);
        assert!(log.iter().all(|a| *a == Access::Read(STATUS, 0x1_0000)));
    }

    #[test]
    #[should_panic(expected = "produced no word")]
    fn a_generator_that_never_raises_its_flag_is_a_fault() {
        let mut trng = Trng::start(FakeBus::new());
        // The fake keeps what was written; the flag is write-1-to-clear on the chip.
        trng.bus.device.regs.insert(STATUS, 0);
        trng.next_word();
    }

    #[test]
    fn a_word_may_come_twice_but_not_three_times() {
        let mut trng = Trng::start(FakeBus::new());
        trng.bus.script(STATUS, &[STATUS_FLAG; 5]);
        trng.bus.script(RESULT, &[7, 7, 8, 8]);
        assert_eq!([trng.next_word(), trng.next_word()], [7, 7]);
        assert_eq!([trng.next_word(), trng.next_word()], [8, 8]);
        trng.bus.script(RESULT, &[8]);
        let stuck = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| trng.next_word()));
        assert!(stuck.is_err());
    }
}
