//! The sim's tick on the host's monotonic clock.
//!
//! The POSIX port's tick thread signals a tick, then sleeps one tick period: the sleep's
//! overshoot and the signal's handling add to every period, and signals that arrive together
//! count once, so its tick runs 13-34 % slower than the host's clock (10 000 ticks took
//! 12.0-12.3 s here). A task at the highest priority wakes every [`PERIOD_TICKS`] ticks, works
//! out from the host's monotonic clock how many ticks are due since it started, and adds the
//! missing ones with `xTaskCatchUpTicks`, FreeRTOS's call for ticks the tick interrupt could
//! not deliver: they run as ticks do (timeouts expire, tasks wake). When the sim idles, the
//! idle task sleeps without ticks and steps the count by the same reckoning when it wakes
//! (`sim_irq`). The tick count, hence `now_ms` and every wait, stays within a few ticks of the
//! host's clock, and never runs ahead by more than the one tick the port may deliver before
//! the task catches up.

use crate::{ffi, task, Error};
use core::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};

/// The clock task's FreeRTOS stack, in words. In the POSIX port a task runs on its thread's
/// own stack; the FreeRTOS one only holds the port's record of the thread.
const STACK_WORDS: u16 = 64;
/// How often the clock task catches up, in ticks. Waking every tick would keep the idle task
/// from ever sleeping without ticks; the port's tick loses about one in four when the host
/// is busy, so the count lags by a few ticks at most before it is caught up.
const PERIOD_TICKS: u32 = 10;

/// The reckoning: the tick count and the host's clock when the clock task started.
static TICKS_AT_START: AtomicU32 = AtomicU32::new(0);
static START_NS: AtomicU64 = AtomicU64::new(0);
/// Set once the reckoning is there.
static RECKONING: AtomicBool = AtomicBool::new(false);

/// Starts the task that keeps the tick on the host's clock (before the scheduler).
pub(crate) fn start() -> Result<(), Error> {
    task::spawn(
        "sim clock",
        STACK_WORDS,
        task::max_priority() - 1,
        follow_host_clock,
    )
}

fn follow_host_clock() {
    // SAFETY: these read the tick count and the host's clock.
    unsafe {
        TICKS_AT_START.store(ffi::freertos_rs_xTaskGetTickCount(), Ordering::Relaxed);
        START_NS.store(ffi::kernel_host_monotonic_ns(), Ordering::Relaxed);
    }
    RECKONING.store(true, Ordering::Release);
    loop {
        let behind = ticks_behind_host();
        if behind > 0 {
            // SAFETY: from a task, with the scheduler running, as xTaskCatchUpTicks requires.
            unsafe { ffi::kernel_catch_up_ticks(behind) };
        }
        // SAFETY: blocks this task for the period.
        unsafe { ffi::freertos_rs_vTaskDelay(PERIOD_TICKS) };
    }
}

/// How many ticks the count lags the host's clock by (0 before the clock task started).
pub(crate) fn ticks_behind_host() -> u32 {
    if !RECKONING.load(Ordering::Acquire) {
        return 0;
    }
    // SAFETY: these read the tick rate and the tick count, and the host's clock.
    let (hz, now_ns, ticks) = unsafe {
        (
            ffi::kernel_tick_rate_hz(),
            ffi::kernel_host_monotonic_ns(),
            ffi::freertos_rs_xTaskGetTickCount(),
        )
    };
    let elapsed_ns = now_ns.saturating_sub(START_NS.load(Ordering::Relaxed));
    let due = TICKS_AT_START
        .load(Ordering::Relaxed)
        .wrapping_add(ticks_in(elapsed_ns, hz));
    ticks_behind(due, ticks)
}

/// The whole ticks in `elapsed_ns` at `hz`, wrapping as the tick count does.
fn ticks_in(elapsed_ns: u64, hz: u32) -> u32 {
    (u128::from(elapsed_ns) * u128::from(hz) / 1_000_000_000) as u32
}

/// How many ticks `ticks` lags `due` by; 0 when it is level or ahead. Both wrap.
fn ticks_behind(due: u32, ticks: u32) -> u32 {
    let lag = due.wrapping_sub(ticks);
    if lag < 1 << 31 {
        lag
    } else {
        0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn whole_ticks_are_due_and_the_count_wraps() {
        assert_eq!(ticks_in(0, 1000), 0);
        assert_eq!(ticks_in(999_999, 1000), 0);
        assert_eq!(ticks_in(1_000_000, 1000), 1);
        assert_eq!(ticks_in(10_000_000_000, 1000), 10_000);
        assert_eq!(ticks_in(10_000_000_000, 100), 1000);
        // 49.7 days of milliseconds wrap the 32-bit count.
        assert_eq!(ticks_in((1 << 32) * 1_000_000 + 5_000_000, 1000), 5);
    }

    #[test]
    fn only_a_count_behind_is_caught_up() {
        assert_eq!(ticks_behind(1200, 1000), 200);
        assert_eq!(ticks_behind(1000, 1000), 0);
        assert_eq!(ticks_behind(1000, 1001), 0);
        assert_eq!(ticks_behind(3, u32::MAX - 1), 5);
        assert_eq!(ticks_behind(u32::MAX, 2), 0);
    }
}
