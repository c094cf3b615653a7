//! Kernel time: the tick count in milliseconds and delays.

use crate::{ffi, isr};
use core::time::Duration;

/// Waits without end (`portMAX_DELAY`).
pub const FOREVER: Duration = Duration::MAX;

/// Converts a wait into ticks, rounding up so that a wait is never shorter than asked;
/// [`FOREVER`] (or anything too long to express) becomes `portMAX_DELAY`.
pub(crate) fn to_ticks(wait: Duration) -> u32 {
    // SAFETY: these read configuration constants.
    let (hz, max) = unsafe { (ffi::kernel_tick_rate_hz(), ffi::freertos_rs_max_wait()) };
    let nanos = wait.as_nanos();
    let ticks = nanos.saturating_mul(u128::from(hz)).div_ceil(1_000_000_000);
    u32::try_from(ticks)
        .ok()
        .filter(|t| *t < max)
        .unwrap_or(max)
}

/// Milliseconds since the scheduler started. Wraps after 49.7 days: compare with
/// `wrapping_sub`.
pub fn now_ms() -> u32 {
    // SAFETY: reading the tick count has no preconditions.
    let (ticks, hz) = unsafe {
        (
            ffi::freertos_rs_xTaskGetTickCount(),
            ffi::kernel_tick_rate_hz(),
        )
    };
    if hz == 1000 {
        ticks
    } else {
        (u64::from(ticks) * 1000 / u64::from(hz)) as u32
    }
}

/// Blocks the calling task for at least `wait`. From a task only.
pub fn delay(wait: Duration) {
    if !isr::task_context_for("delay") {
        return;
    }
    // SAFETY: vTaskDelay only blocks the calling task.
    unsafe { ffi::freertos_rs_vTaskDelay(to_ticks(wait)) }
}
