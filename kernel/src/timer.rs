//! Software timers, run by the FreeRTOS timer daemon task.

use crate::{ffi, time, Error, FOREVER};
use alloc::boxed::Box;
use core::ffi::c_void;
use core::time::Duration;

type Callback = Box<dyn Fn() + Send>;

/// A software timer whose callback runs in the timer daemon task. Dropping it deletes the
/// FreeRTOS timer first and frees the callback only after the daemon has done so.
pub struct Timer {
    handle: *const c_void,
    callback: *mut Callback,
}

// SAFETY: every operation is a command queued to the timer daemon; the callback is `Send` and
// only ever runs in the daemon.
unsafe impl Send for Timer {}
// SAFETY: as above: `&self` operations are kernel calls that are safe from any task.
unsafe impl Sync for Timer {}

extern "C" fn run_callback(handle: *const c_void) {
    // SAFETY: the timer ID is the `Callback` box leaked in `Timer::new`, which stays alive
    // until after the daemon has deleted this timer (see `Drop`).
    let callback = unsafe { &*ffi::freertos_rs_timer_get_id(handle).cast::<Callback>() };
    callback();
}

extern "C" fn release_callback(callback: *mut c_void, _unused: u32) {
    // SAFETY: queued by `Drop` after the timer's delete command, so the daemon has deleted the
    // timer and nothing can run the callback any more; this is the only release of the box.
    drop(unsafe { Box::from_raw(callback.cast::<Callback>()) });
}

impl Timer {
    /// A stopped timer that runs `callback` every `period` (or once, unless `auto_reload`).
    pub fn new<F>(
        name: &str,
        period: Duration,
        auto_reload: bool,
        callback: F,
    ) -> Result<Timer, Error>
    where
        F: Fn() + Send + 'static,
    {
        let name = name.as_bytes();
        let name = name.get(..ffi::TASK_NAME_LEN - 1).unwrap_or(name);
        let callback = Box::into_raw(Box::new(Box::new(callback) as Callback));
        // A zero period is refused by FreeRTOS; one tick is the shortest there is.
        let ticks = time::to_ticks(period).max(1);
        // SAFETY: `name` is valid for its length (copied by the shim); the ID is the leaked
        // callback that `run_callback` reads.
        let handle = unsafe {
            ffi::freertos_rs_timer_create(
                name.as_ptr(),
                name.len() as u8,
                ticks,
                u8::from(auto_reload),
                callback.cast(),
                run_callback,
            )
        };
        if handle.is_null() {
            // SAFETY: no timer refers to the callback.
            drop(unsafe { Box::from_raw(callback) });
            return Err(Error::OutOfMemory);
        }
        Ok(Timer { handle, callback })
    }

    /// Starts (or restarts) the timer; waits up to `wait` for room in the daemon's queue.
    pub fn start(&self, wait: Duration) -> Result<(), Error> {
        // SAFETY: the handle is valid while `self` lives.
        check(unsafe { ffi::freertos_rs_timer_start(self.handle, time::to_ticks(wait)) })
    }

    /// Stops the timer.
    pub fn stop(&self, wait: Duration) -> Result<(), Error> {
        // SAFETY: the handle is valid while `self` lives.
        check(unsafe { ffi::freertos_rs_timer_stop(self.handle, time::to_ticks(wait)) })
    }

    /// Changes the period, which also starts the timer.
    pub fn change_period(&self, period: Duration, wait: Duration) -> Result<(), Error> {
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
        // SAFETY: the handle is valid and deleted once; `release_callback` frees the callback
        // after the delete, in the daemon. If the delete could not be queued, the timer and its
        // callback are leaked, which is safe.
        unsafe {
            ffi::kernel_timer_delete_then(
                self.handle,
                release_callback,
                self.callback.cast(),
                wait,
            );
        }
    }
}
