//! Interrupt context: the proof needed to call the `*_from_isr` services.

use crate::ffi;
use core::marker::PhantomData;

/// Held by an interrupt handler while it runs. Collects whether a higher-priority task was
/// woken, and yields to it when dropped at the end of the handler.
pub struct IsrContext {
    woken: i32,
    _in_handler: PhantomData<*const ()>,
}

impl IsrContext {
    /// Opens the context for one run of an interrupt handler.
    ///
    /// # Safety
    /// Only inside an interrupt handler, once per run of it, dropped before it returns:
    /// the `*_from_isr` services it unlocks must not be called from a task.
    pub unsafe fn enter() -> IsrContext {
        IsrContext {
            woken: 0,
            _in_handler: PhantomData,
        }
    }

    pub(crate) fn woken_flag(&mut self) -> *mut i32 {
        &mut self.woken
    }
}

impl Drop for IsrContext {
    fn drop(&mut self) {
        // SAFETY: we are at the end of an interrupt handler (see `enter`).
        unsafe { ffi::freertos_rs_isr_yield(self.woken) }
    }
}

/// Runs `handler` as the sim's stand-in for an interrupt: with the port's interrupts (its
/// signals) masked, as a real handler would run, and the yield taken at its end.
#[cfg(target_os = "linux")]
pub fn simulate_interrupt<R>(handler: impl FnOnce(&mut IsrContext) -> R) -> R {
    // SAFETY: the POSIX port's interrupt mask makes this task the only code running against
    // the kernel until it is restored, which is what an interrupt handler sees.
    let mask = unsafe { ffi::freertos_rs_enter_critical_from_isr() };
    // SAFETY: we are now in the simulated handler, and the context is dropped inside it.
    let mut isr = unsafe { IsrContext::enter() };
    let result = handler(&mut isr);
    let woken = isr.woken;
    core::mem::forget(isr);
    // SAFETY: restores the mask saved above, then yields as the handler's exit would.
    unsafe {
        ffi::freertos_rs_exit_critical_from_isr(mask);
        ffi::freertos_rs_isr_yield(woken);
    }
    result
}
