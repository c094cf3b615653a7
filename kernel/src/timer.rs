//! Software timers, run by the FreeRTOS timer daemon task.

use crate::{ffi, isr, time, Error, FOREVER};
use alloc::boxed::Box;
use core::ffi::{c_char, c_void, CStr};
use core::time::Duration;

type Callback = Box<dyn Fn() + Send>;

/// The longest timer name kept, in bytes (longer names are cut), as for tasks.
const NAME_MAX: usize = ffi::TASK_NAME_LEN - 1;

/// What a timer's ID points to: its callback, and its name, which `xTimerCreate` does not copy
/// but keeps a pointer to. Both live in this one allocation until the daemon has deleted the
/// timer (see `Drop`), so the name is valid for as long as FreeRTOS can hand it out.
struct TimerContext {
    /// NUL-terminated.
    name: [u8; NAME_MAX + 1],
    callback: Callback,
}

/// A software timer whose callback runs in the timer daemon task. Dropping it deletes the
/// FreeRTOS timer first and frees the callback and the name only after the daemon has done so.
pub struct Timer {
    handle: *const c_void,
    context: *mut TimerContext,
}

// SAFETY: every operation is a command queued to the timer daemon; the callback is `Send` and
// only ever runs in the daemon.
unsafe impl Send for Timer {}
// SAFETY: as above: `&self` operations are kernel calls that are safe from any task.
unsafe impl Sync for Timer {}

/// The daemon's call when a timer expires.
///
/// # Safety
/// Only for timers made by [`Timer::new`], whose ID is their live `TimerContext`.
unsafe extern "C" fn run_callback(handle: *const c_void) {
    // SAFETY: the timer ID is the `TimerContext` leaked in `Timer::new`, which stays alive
    // until after the daemon has deleted this timer (see `Drop`).
    let context = unsafe { &*ffi::freertos_rs_timer_get_id(handle).cast::<TimerContext>() };
    (context.callback)();
}

/// Frees a timer's context once the daemon has deleted the timer.
///
/// # Safety
/// `context` is a `TimerContext` leaked by [`Timer::new`] whose timer the daemon has deleted;
/// it is released once.
unsafe extern "C" fn release_context(context: *mut c_void, _unused: u32) {
    // SAFETY: queued by `Drop` after the timer's delete command, so the daemon has deleted the
    // timer and nothing can run the callback or read the name any more; this is the only
    // release of the box.
    drop(unsafe { Box::from_raw(context.cast::<TimerContext>()) });
}

/// `name`'s first [`NAME_MAX`] bytes, NUL-terminated.
fn c_name(name: &str) -> [u8; NAME_MAX + 1] {
    let mut c_name = [0; NAME_MAX + 1];
    for (to, from) in c_name.iter_mut().zip(name.bytes().take(NAME_MAX)) {
        *to = from;
    }
    c_name
}

impl Timer {
    /// A stopped timer that runs `callback` every `period` (or once, unless `auto_reload`).
    /// Its name is cut to 15 bytes.
    pub fn new<F>(
        name: &str,
        period: Duration,
        auto_reload: bool,
        callback: F,
    ) -> Result<Timer, Error>
    where
        F: Fn() + Send + 'static,
    {
        let context = Box::into_raw(Box::new(TimerContext {
            name: c_name(name),
            callback: Box::new(callback),
        }));
        // A zero period is refused by FreeRTOS; one tick is the shortest there is.
        let ticks = time::to_ticks(period).max(1);
        // SAFETY: the name is NUL-terminated inside `context`, which lives until the daemon has
        // deleted the timer; the ID is `context`, which `run_callback` reads.
        let handle = unsafe {
            ffi::kernel_timer_create(
                (*context).name.as_ptr().cast::<c_char>(),
                ticks,
                i32::from(auto_reload),
                context.cast(),
                run_callback,
            )
        };
        if handle.is_null() {
            // SAFETY: no timer refers to the context.
            drop(unsafe { Box::from_raw(context) });
            return Err(Error::OutOfMemory);
        }
        Ok(Timer { handle, context })
    }

    /// The name the timer was created with, as FreeRTOS reports it (`pcTimerGetName`).
    pub fn name(&self) -> &str {
        // SAFETY: the handle is valid while `self` lives, and the name it points to is in the
        // timer's context, which outlives `self`.
        let name = unsafe { CStr::from_ptr(ffi::kernel_timer_name(self.handle)) };
        name.to_str().unwrap_or("?")
    }

    /// Starts (or restarts) the timer; waits up to `wait` for room in the daemon's queue.
    pub fn start(&self, wait: Duration) -> Result<(), Error> {
        if !isr::task_context_for("Timer::start") {
            return Err(Error::Timeout);
        }
        // SAFETY: the handle is valid while `self` lives.
        check(unsafe { ffi::freertos_rs_timer_start(self.handle, time::to_ticks(wait)) })
    }

    /// Stops the timer.
    pub fn stop(&self, wait: Duration) -> Result<(), Error> {
        if !isr::task_context_for("Timer::stop") {
            return Err(Error::Timeout);
        }
        // SAFETY: the handle is valid while `self` lives.
        check(unsafe { ffi::freertos_rs_timer_stop(self.handle, time::to_ticks(wait)) })
    }

    /// Changes the period, which also starts the timer.
    pub fn change_period(&self, period: Duration, wait: Duration) -> Result<(), Error> {
        if !isr::task_context_for("Timer::change_period") {
            return Err(Error::Timeout);
        }
        let ticks = time::to_ticks(period).max(1);
        // SAFETY: the handle is valid while `self` lives.
        check(unsafe {
            ffi::freertos_rs_timer_change_period(self.handle, time::to_ticks(wait), ticks)
        })
    }
}

fn check(failed: i32) -> Result<(), Error> {
    if failed == 0 {
        Ok(())
    } else {
        Err(Error::Timeout)
    }
}

impl Drop for Timer {
    fn drop(&mut self) {
        // The daemon cannot wait on its own queue: from a callback, only try.
        // SAFETY: a plain query of the current task.
        let wait = if unsafe { ffi::kernel_in_timer_daemon() } != 0 {
            0
        } else {
            time::to_ticks(FOREVER)
        };
        // SAFETY: the handle is valid and deleted once; `release_context` frees the context
        // after the delete, in the daemon. If the delete could not be queued, the timer and its
        // context are leaked, which is safe.
        unsafe {
            ffi::kernel_timer_delete_then(self.handle, release_context, self.context.cast(), wait);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_cut_to_fifteen_bytes_and_terminated() {
        assert_eq!(c_name("st-once")[..8], *b"st-once\0");
        let long = c_name("a-name-longer-than-fifteen");
        assert_eq!(long, *b"a-name-longer-t\0");
    }
}
