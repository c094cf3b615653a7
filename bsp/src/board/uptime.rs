//! Wall-clock time on the C-SKY boards, which have no battery-backed clock: seconds since
//! boot (the kernel's tick) plus an offset that SNTP sets. Until then it counts from the
//! epoch at boot, as the W800 does.

use crate::hal::Clock;
use core::sync::atomic::{AtomicU32, Ordering};

/// The clock. Seconds fit 32 bits until 2106; the kernel's millisecond count wraps after
/// 49.7 days of uptime, which restarts the count from the last setting's base.
#[derive(Debug, Default)]
pub struct UptimeClock {
    /// The Unix time at boot, as last set.
    boot_secs: AtomicU32,
}

impl UptimeClock {
    /// A clock at the epoch at boot.
    pub const fn new() -> UptimeClock {
        UptimeClock {
            boot_secs: AtomicU32::new(0),
        }
    }
}

impl Clock for UptimeClock {
    fn unix_time(&self) -> u64 {
        u64::from(self.boot_secs.load(Ordering::Relaxed)) + u64::from(kernel::now_ms() / 1000)
    }

    fn set_unix_time(&self, secs: u64) {
        let up = u64::from(kernel::now_ms() / 1000);
        let boot = secs.saturating_sub(up).min(u64::from(u32::MAX)) as u32;
        self.boot_secs.store(boot, Ordering::Relaxed);
    }
}
