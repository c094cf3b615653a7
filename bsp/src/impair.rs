//! A seeded link impairment layer: delay with jitter, a bandwidth limit, loss, reordering and
//! link flaps, applied to Ethernet frames.
//!
//! The kernel of the test machines has no netem, so this is how the sim shapes its link for
//! the fault and performance tests. It is deterministic for a given seed and clock, and has
//! no storage beyond its fixed frame slots: a frame that finds them full is dropped, as a
//! full radio queue would drop it.
//!
//! The caller's clock is in microseconds since the link started; the wire's clock is kept in
//! nanoseconds, because a frame's time on the wire is rarely a whole number of either (a
//! 1514-byte frame at 10 Mbit/s takes 1211.2 µs), and rounding it per frame would slow the
//! link down by the rounding of every frame.

use core::fmt;

/// How the link is impaired. All zero (the default) is a perfect link.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ImpairConfig {
    /// Fixed one-way delay.
    pub delay_ms: u32,
    /// Extra delay, uniform in `0..=jitter_ms`.
    pub jitter_ms: u32,
    /// Frames lost, in parts per million.
    pub loss_ppm: u32,
    /// Frames sent ahead of the queue (no delay), in parts per million.
    pub reorder_ppm: u32,
    /// Bandwidth in bits per second; 0 for no limit.
    pub rate_bps: u32,
    /// The link goes down for `down_ms` at the end of every `period_ms`; `None` for never.
    pub flap: Option<Flap>,
    /// Seed of the random choices.
    pub seed: u64,
}

/// A periodic link outage.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Flap {
    pub period_ms: u32,
    pub down_ms: u32,
}

/// A malformed impairment specification.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ImpairError {
    /// A `key=value` item with an unknown key.
    UnknownKey,
    /// A value that is not a number with an accepted unit.
    BadValue,
    /// A probability above 100 %, or a flap whose outage is not shorter than its period.
    OutOfRange,
}

impl fmt::Display for ImpairError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ImpairError::UnknownKey => {
                "unknown key (delay, jitter, loss, reorder, rate, flap, seed)"
            }
            ImpairError::BadValue => {
                "bad value (e.g. delay=20ms loss=1.5% rate=2mbit flap=10000/500)"
            }
            ImpairError::OutOfRange => "value out of range",
        })
    }
}

impl ImpairConfig {
    /// Parses `key=value` items separated by commas: `delay=20ms`, `jitter=5ms`, `loss=1.5%`,
    /// `reorder=2%`, `rate=2mbit` (or `kbit`, `bit`), `flap=PERIOD/DOWN` (ms), `seed=N`.
    pub fn parse(spec: &str) -> Result<ImpairConfig, ImpairError> {
        let mut config = ImpairConfig::default();
        for item in spec.split(',').filter(|i| !i.is_empty()) {
            let (key, value) = item.split_once('=').ok_or(ImpairError::BadValue)?;
            match key {
                "delay" => config.delay_ms = parse_ms(value)?,
                "jitter" => config.jitter_ms = parse_ms(value)?,
                "loss" => config.loss_ppm = parse_percent_ppm(value)?,
                "reorder" => config.reorder_ppm = parse_percent_ppm(value)?,
                "rate" => config.rate_bps = parse_rate(value)?,
                "seed" => config.seed = value.parse().map_err(|_| ImpairError::BadValue)?,
                "flap" => {
                    let (period, down) = value.split_once('/').ok_or(ImpairError::BadValue)?;
                    let flap = Flap {
                        period_ms: parse_ms(period)?,
                        down_ms: parse_ms(down)?,
                    };
                    if flap.down_ms >= flap.period_ms {
                        return Err(ImpairError::OutOfRange);
                    }
                    config.flap = Some(flap);
                }
                _ => return Err(ImpairError::UnknownKey),
            }
        }
        Ok(config)
    }

    /// Whether the link is up at `now_us` (microseconds since the link started).
    pub fn link_up(&self, now_us: u64) -> bool {
        let Some(flap) = self.flap else {
            return true;
        };
        let period_us = u64::from(flap.period_ms) * 1000;
        let up_us = u64::from(flap.period_ms.saturating_sub(flap.down_ms)) * 1000;
        now_us
            .checked_rem(period_us)
            .is_none_or(|phase| phase < up_us)
    }
}

fn parse_ms(value: &str) -> Result<u32, ImpairError> {
    value
        .strip_suffix("ms")
        .unwrap_or(value)
        .parse()
        .map_err(|_| ImpairError::BadValue)
}

/// "1.5%" -> 15000 ppm (up to three decimals).
fn parse_percent_ppm(value: &str) -> Result<u32, ImpairError> {
    let number = value.strip_suffix('%').ok_or(ImpairError::BadValue)?;
    let (whole, fraction) = number.split_once('.').unwrap_or((number, ""));
    if fraction.len() > 3 || !fraction.bytes().all(|b| b.is_ascii_digit()) {
        return Err(ImpairError::BadValue);
    }
    let whole: u32 = whole.parse().map_err(|_| ImpairError::BadValue)?;
    let mut fraction_ppm = 0;
    for (i, digit) in fraction.bytes().enumerate() {
        fraction_ppm += u32::from(digit - b'0') * [1000, 100, 10][i];
    }
    let ppm = whole
        .checked_mul(10_000)
        .and_then(|w| w.checked_add(fraction_ppm))
        .ok_or(ImpairError::OutOfRange)?;
    if ppm > 1_000_000 {
        return Err(ImpairError::OutOfRange);
    }
    Ok(ppm)
}

fn parse_rate(value: &str) -> Result<u32, ImpairError> {
    let (number, scale) = if let Some(n) = value.strip_suffix("mbit") {
        (n, 1_000_000)
    } else if let Some(n) = value.strip_suffix("kbit") {
        (n, 1_000)
    } else {
        (value.strip_suffix("bit").unwrap_or(value), 1)
    };
    let number: u32 = number.parse().map_err(|_| ImpairError::BadValue)?;
    number.checked_mul(scale).ok_or(ImpairError::OutOfRange)
}

/// xorshift64*: small, seedable, good enough to pick which frames to drop.
#[derive(Clone, Copy, Debug)]
struct Rng(u64);

impl Rng {
    fn new(seed: u64) -> Rng {
        Rng(seed ^ 0x9E37_79B9_7F4A_7C15 | 1)
    }

    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// True with probability `ppm` per million.
    fn chance(&mut self, ppm: u32) -> bool {
        ppm > 0 && (self.next() % 1_000_000) < u64::from(ppm)
    }

    /// Uniform in `0..=max`.
    fn below_or_equal(&mut self, max: u64) -> u64 {
        if max == 0 {
            0
        } else {
            self.next() % max.saturating_add(1)
        }
    }
}

struct Slot<const MTU: usize> {
    /// Microseconds since the link started.
    due_us: u64,
    /// Order of arrival, to keep FIFO among frames due at the same time.
    sequence: u32,
    frame: heapless::Vec<u8, MTU>,
}

/// What happened to a submitted frame.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Fate {
    Queued,
    Lost,
    LinkDown,
    QueueFull,
    TooLong,
}

/// One direction of an impaired link, holding up to `SLOTS` frames of at most `MTU` bytes.
pub struct Impairment<const SLOTS: usize, const MTU: usize> {
    config: ImpairConfig,
    rng: Rng,
    slots: heapless::Vec<Slot<MTU>, SLOTS>,
    /// Nanoseconds since the link started when the last frame taken is all on the wire.
    wire_free_ns: u64,
    sequence: u32,
}

impl<const SLOTS: usize, const MTU: usize> Impairment<SLOTS, MTU> {
    pub fn new(config: ImpairConfig) -> Self {
        Impairment {
            config,
            rng: Rng::new(config.seed),
            slots: heapless::Vec::new(),
            wire_free_ns: 0,
            sequence: 0,
        }
    }

    /// The configuration in force.
    pub fn config(&self) -> &ImpairConfig {
        &self.config
    }

    /// Takes a frame at `now_us` (microseconds since the link started); it comes out of
    /// [`Self::pop_due`] when its time comes.
    pub fn submit(&mut self, now_us: u64, frame: &[u8]) -> Fate {
        if !self.config.link_up(now_us) {
            return Fate::LinkDown;
        }
        if self.rng.chance(self.config.loss_ppm) {
            return Fate::Lost;
        }
        let Ok(data) = heapless::Vec::from_slice(frame) else {
            return Fate::TooLong;
        };
        if self.slots.is_full() {
            return Fate::QueueFull;
        }
        let mut departure_us = now_us;
        if self.config.rate_bps > 0 {
            let bits = frame.len() as u64 * 8;
            let wire_ns = (bits * 1_000_000_000).div_ceil(u64::from(self.config.rate_bps));
            let now_ns = now_us.saturating_mul(1000);
            self.wire_free_ns = self.wire_free_ns.max(now_ns).saturating_add(wire_ns);
            // The frame is out when its last bit is, as the caller's clock first sees it.
            departure_us = self.wire_free_ns.div_ceil(1000);
        }
        let due_us = if self.rng.chance(self.config.reorder_ppm) {
            departure_us
        } else {
            let jitter_us = u64::from(self.config.jitter_ms) * 1000;
            departure_us
                .saturating_add(u64::from(self.config.delay_ms) * 1000)
                .saturating_add(self.rng.below_or_equal(jitter_us))
        };
        self.sequence = self.sequence.wrapping_add(1);
        let slot = Slot {
            due_us,
            sequence: self.sequence,
            frame: data,
        };
        match self.slots.push(slot) {
            Ok(()) => Fate::Queued,
            Err(_) => Fate::QueueFull,
        }
    }

    /// Copies the next frame that is due at `now_us` into `out`; its length, or `None`.
    pub fn pop_due(&mut self, now_us: u64, out: &mut [u8]) -> Option<usize> {
        let (index, _) = self
            .slots
            .iter()
            .enumerate()
            .filter(|(_, s)| s.due_us <= now_us)
            .min_by_key(|(_, s)| (s.due_us, s.sequence))?;
        let slot = self.slots.swap_remove(index);
        let len = slot.frame.len().min(out.len());
        out.get_mut(..len)?.copy_from_slice(slot.frame.get(..len)?);
        Some(len)
    }

    /// When the next frame is due (microseconds since the link started), if one waits: the
    /// time a timer must release it.
    pub fn next_due(&self) -> Option<u64> {
        self.slots.iter().map(|s| s.due_us).min()
    }

    /// Frames waiting.
    pub fn queued(&self) -> usize {
        self.slots.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    type Link = Impairment<8, 64>;

    /// Microseconds in `ms` milliseconds: the link's clock.
    fn ms(ms: u64) -> u64 {
        ms * 1000
    }

    fn drain(link: &mut Link, now: u64) -> Vec<Vec<u8>> {
        let mut out = Vec::new();
        let mut buf = [0u8; 64];
        while let Some(n) = link.pop_due(now, &mut buf) {
            out.push(buf[..n].to_vec());
        }
        out
    }

    #[test]
    fn specs_parse_with_units_and_refuse_nonsense() {
        let c = ImpairConfig::parse(
            "delay=20ms,jitter=5,loss=1.5%,reorder=2%,rate=2mbit,flap=10000/500,seed=7",
        )
        .unwrap();
        assert_eq!(
            c,
            ImpairConfig {
                delay_ms: 20,
                jitter_ms: 5,
                loss_ppm: 15_000,
                reorder_ppm: 20_000,
                rate_bps: 2_000_000,
                flap: Some(Flap {
                    period_ms: 10_000,
                    down_ms: 500
                }),
                seed: 7,
            }
        );
        assert_eq!(ImpairConfig::parse(""), Ok(ImpairConfig::default()));
        assert_eq!(ImpairConfig::parse("lag=1"), Err(ImpairError::UnknownKey));
        assert_eq!(
            ImpairConfig::parse("loss=101%"),
            Err(ImpairError::OutOfRange)
        );
        assert_eq!(
            ImpairConfig::parse("loss=1.2345%"),
            Err(ImpairError::BadValue)
        );
        assert_eq!(ImpairConfig::parse("loss=5"), Err(ImpairError::BadValue));
        assert_eq!(
            ImpairConfig::parse("flap=100/100"),
            Err(ImpairError::OutOfRange)
        );
        assert_eq!(
            ImpairConfig::parse("rate=99999999mbit"),
            Err(ImpairError::OutOfRange)
        );
    }

    #[test]
    fn a_perfect_link_passes_frames_at_once_in_order() {
        let mut link = Link::new(ImpairConfig::default());
        assert_eq!(link.submit(0, b"one"), Fate::Queued);
        assert_eq!(link.submit(0, b"two"), Fate::Queued);
        assert_eq!(drain(&mut link, 0), [b"one".to_vec(), b"two".to_vec()]);
    }

    #[test]
    fn delay_holds_frames_until_due() {
        let mut link = Link::new(ImpairConfig {
            delay_ms: 20,
            ..Default::default()
        });
        assert_eq!(link.next_due(), None);
        link.submit(ms(100), b"x");
        assert_eq!(link.next_due(), Some(ms(120)));
        assert!(drain(&mut link, ms(120) - 1).is_empty());
        assert_eq!(drain(&mut link, ms(120)).len(), 1);
        assert_eq!(link.next_due(), None);
    }

    #[test]
    fn rate_limit_spaces_frames_by_their_size() {
        // 8000 bit/s: a 10-byte frame takes 10 ms on the wire.
        let mut link = Link::new(ImpairConfig {
            rate_bps: 8000,
            ..Default::default()
        });
        for _ in 0..3 {
            link.submit(0, &[0; 10]);
        }
        assert_eq!(drain(&mut link, ms(10) - 1).len(), 0);
        assert_eq!(drain(&mut link, ms(10)).len(), 1);
        assert_eq!(drain(&mut link, ms(20) - 1).len(), 0);
        assert_eq!(drain(&mut link, ms(30)).len(), 2);
    }

    #[test]
    fn frames_shorter_than_the_clock_tick_are_spaced_by_their_exact_wire_time() {
        // 8 Mbit/s: a 50-byte frame takes 50 µs on the wire, a 10-byte one 10 µs.
        let mut link = Link::new(ImpairConfig {
            rate_bps: 8_000_000,
            ..Default::default()
        });
        for _ in 0..3 {
            link.submit(0, &[0; 50]);
        }
        assert_eq!(drain(&mut link, 49).len(), 0);
        assert_eq!(drain(&mut link, 50).len(), 1);
        assert_eq!(drain(&mut link, 149).len(), 1);
        assert_eq!(drain(&mut link, 150).len(), 1);
        // An idle wire starts a frame when it comes, not when the last one left.
        link.submit(ms(1), &[0; 10]);
        assert_eq!(drain(&mut link, ms(1) + 9).len(), 0);
        assert_eq!(drain(&mut link, ms(1) + 10).len(), 1);
    }

    #[test]
    fn loss_is_about_the_asked_rate_and_repeats_with_the_seed() {
        let config = ImpairConfig {
            loss_ppm: 100_000,
            seed: 42,
            ..Default::default()
        };
        let run = || {
            let mut link = Impairment::<1, 64>::new(config);
            let mut buf = [0u8; 64];
            (0..10_000)
                .map(|_| {
                    let fate = link.submit(0, b"f");
                    link.pop_due(0, &mut buf);
                    fate
                })
                .filter(|f| *f == Fate::Lost)
                .count()
        };
        let lost = run();
        assert!((800..1200).contains(&lost), "{lost} of 10000 lost at 10 %");
        assert_eq!(run(), lost, "same seed, same losses");
    }

    #[test]
    fn reordered_frames_overtake_delayed_ones() {
        let mut link = Link::new(ImpairConfig {
            delay_ms: 50,
            reorder_ppm: 1_000_000,
            ..Default::default()
        });
        link.config.reorder_ppm = 0;
        link.submit(0, b"first");
        link.config.reorder_ppm = 1_000_000;
        link.submit(0, b"second");
        assert_eq!(drain(&mut link, 0), [b"second".to_vec()]);
        assert_eq!(drain(&mut link, ms(50)), [b"first".to_vec()]);
    }

    #[test]
    fn flaps_and_full_queues_drop_frames() {
        let mut link = Link::new(ImpairConfig {
            delay_ms: 1000,
            flap: Some(Flap {
                period_ms: 100,
                down_ms: 10,
            }),
            ..Default::default()
        });
        assert_eq!(link.submit(ms(95), b"x"), Fate::LinkDown);
        assert_eq!(link.submit(ms(190) - 1, b"x"), Fate::Queued);
        assert_eq!(link.submit(ms(190), b"x"), Fate::LinkDown);
        assert_eq!(link.submit(ms(200), b"x"), Fate::Queued);
        for _ in 0..6 {
            assert_eq!(link.submit(0, b"x"), Fate::Queued);
        }
        assert_eq!(link.submit(0, b"x"), Fate::QueueFull);
        assert_eq!(link.submit(0, &[0; 65]), Fate::TooLong);
        assert_eq!(link.queued(), 8);
    }

    /// Bits per second a link shaped to `rate_bps` delivers over ten seconds, after one second
    /// to fill the queue, when a sender keeps its queue full of frames of `frame_lens` bytes in
    /// turn and the link is polled every millisecond, as the sim's (64 frames of up to 1514
    /// bytes) is.
    fn delivered_bps(rate_bps: u32, frame_lens: &[usize]) -> f64 {
        const SLOTS: usize = 64;
        let mut link = Box::new(Impairment::<SLOTS, 1514>::new(ImpairConfig {
            delay_ms: 20,
            rate_bps,
            ..Default::default()
        }));
        let frame = [0u8; 1514];
        let mut out = [0u8; 1514];
        let mut next = frame_lens.iter().cycle();
        let mut bits = 0u64;
        for now in (0..ms(11_000)).step_by(1000) {
            while link.queued() < SLOTS {
                link.submit(now, &frame[..*next.next().unwrap()]);
            }
            while let Some(len) = link.pop_due(now, &mut out) {
                if now >= ms(1000) {
                    bits += len as u64 * 8;
                }
            }
        }
        bits as f64 / 10.0
    }

    #[test]
    fn a_shaped_link_delivers_its_rate_within_one_percent() {
        for rate_bps in [1_000_000, 10_000_000] {
            for frame_lens in [&[1514][..], &[1514, 66, 590]] {
                let delivered = delivered_bps(rate_bps, frame_lens);
                let error = (delivered / f64::from(rate_bps) - 1.0).abs();
                assert!(
                    error < 0.01,
                    "{rate_bps} bit/s with frames of {frame_lens:?} bytes: {delivered:.0} bit/s delivered"
                );
            }
        }
    }
}
