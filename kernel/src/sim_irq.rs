//! The sim's interrupt lines, and its idle.
//!
//! A simulated device has a host side: a host thread that waits on the host (the sim radio's
//! thread polls its TAP descriptor). Such a thread must not call FreeRTOS: the POSIX port
//! keeps the kernel consistent by letting one task thread run at a time and by blocking the
//! port's signals (its interrupts) on that thread, so [`crate::simulate_interrupt`] is for
//! tasks only (a foreign thread would neither mask anything nor be allowed to yield). A host
//! thread *raises* a line instead: it sets the line's pending bit and wakes the idle task.
//! The pending lines are then taken in interrupt context, as a CPU takes its interrupt
//! requests, by the first of:
//!
//! - the idle hook: when nothing runs, the idle task sleeps until a line is raised or the next
//!   tick, and takes the lines in a simulated interrupt (whose yield runs the woken task);
//! - the tick hook: when a task runs, at the next tick, inside the tick interrupt.
//!
//! Each line wakes a [`Wake`](crate::Wake) from interrupt context.
//!
//! The idle task never spins. When no task is due within two ticks, FreeRTOS calls our tickless
//! sleep ([`kernel_sim_sleep`], `portSUPPRESS_TICKS_AND_SLEEP`) with the scheduler suspended:
//! it blocks the tick's signal on the idle thread, rests the port's tick thread, sleeps until
//! the next task is due or a line is raised, drops the tick signals that came meanwhile and
//! steps the tick count by the host's clock (`vTaskStepTick`, at most to the time the next task
//! is due), as a chip's low-power timer does. Otherwise (a task is due at the next tick) the idle hook sleeps until the next
//! tick or a raise, for at most one tick. Neither can stall the scheduler: the idle task runs
//! only when no task is ready, and only two things make a task ready then: time, which the
//! sleep never overshoots (the tickless sleep ends when the next task is due; the short sleep
//! is ended by the port's tick signal, sent to the running task's thread: this one, whose
//! handler switches tasks as on any tick), and a raised line, which ends either sleep.

use crate::isr::IsrContext;
use crate::{ffi, isr, Error, Queue};
use core::sync::atomic::{AtomicPtr, AtomicU32, Ordering};

/// The number of lines.
const LINES: usize = 32;

/// The lines raised and not yet taken, one bit each. The idle task sleeps on this word.
static PENDING: AtomicU32 = AtomicU32::new(0);
/// What each attached line wakes.
static TARGETS: [AtomicPtr<Queue<()>>; LINES] =
    [const { AtomicPtr::new(core::ptr::null_mut()) }; LINES];
/// How many lines were attached.
static ATTACHED: AtomicU32 = AtomicU32::new(0);

/// One interrupt line, which wakes one queue of no-size items (a binary semaphore).
#[derive(Clone, Copy, Debug)]
pub(crate) struct Line {
    bit: u32,
}

impl Line {
    /// Attaches the next free line to `target`; [`Error::OutOfMemory`] when all are taken.
    pub(crate) fn attach(target: &'static Queue<()>) -> Result<Line, Error> {
        let index = ATTACHED.fetch_add(1, Ordering::AcqRel) as usize;
        let slot = TARGETS.get(index).ok_or(Error::OutOfMemory)?;
        slot.store(core::ptr::from_ref(target).cast_mut(), Ordering::Release);
        Ok(Line { bit: 1 << index })
    }

    /// Raises the line, from any thread: a FreeRTOS task, an interrupt, or a host thread.
    /// Only atomics and one system call: no FreeRTOS call, no allocation.
    pub(crate) fn raise(self) {
        PENDING.fetch_or(self.bit, Ordering::SeqCst);
        // SAFETY: wakes the idle task sleeping on PENDING, a static word.
        unsafe { ffi::kernel_host_wake(PENDING.as_ptr()) };
    }
}

/// Takes every pending line: wakes its target from interrupt context.
fn take_pending(isr: &mut IsrContext) {
    let mut pending = PENDING.swap(0, Ordering::AcqRel);
    while pending != 0 {
        let index = pending.trailing_zeros() as usize;
        pending &= pending - 1;
        let target = TARGETS
            .get(index)
            .map_or(core::ptr::null_mut(), |t| t.load(Ordering::Acquire));
        // SAFETY: a target is a leaked, never freed queue (see `Line::attach`'s callers).
        if let Some(target) = unsafe { target.as_ref() } {
            // A full queue: the wake is raised already.
            let _ = target.send_from_isr(isr, ());
        }
    }
}

/// FreeRTOS's idle hook (`configUSE_IDLE_HOOK`, the sim only): takes the pending lines, or
/// sleeps until one is raised or the next tick (see the module's documentation).
#[no_mangle]
extern "C" fn vApplicationIdleHook() {
    if PENDING.load(Ordering::Acquire) != 0 {
        crate::simulate_interrupt(take_pending);
    } else {
        // SAFETY: reads a configuration constant.
        let tick_ns = 1_000_000_000 / u64::from(unsafe { ffi::kernel_tick_rate_hz() });
        // SAFETY: sleeps this (the idle) thread on a static word for at most one tick.
        unsafe { ffi::kernel_host_idle_sleep(PENDING.as_ptr(), tick_ns) };
    }
}

/// The sim's tickless idle (`portSUPPRESS_TICKS_AND_SLEEP`): called by the idle task with the
/// scheduler suspended when no task is due for `expected_ticks` (2 or more) ticks.
#[no_mangle]
extern "C" fn kernel_sim_sleep(expected_ticks: u32) {
    // SAFETY: blocks the tick's signal on this (the idle) thread, unblocked below.
    unsafe { ffi::kernel_host_mask_tick(1) };
    // SAFETY: with the scheduler suspended, as both calls require; the sleep is bounded.
    unsafe {
        if ffi::kernel_may_sleep() != 0 && PENDING.load(Ordering::Acquire) == 0 {
            let tick_ns = 1_000_000_000 / u64::from(ffi::kernel_tick_rate_hz());
            // The port's tick thread rests meanwhile (see `usleep` in glue.c).
            ffi::kernel_host_tickless(1);
            ffi::kernel_host_idle_sleep(PENDING.as_ptr(), u64::from(expected_ticks) * tick_ns);
            // The ticks slept through are stepped from the host's clock, not delivered.
            ffi::kernel_host_discard_tick();
            let slept = crate::sim_clock::ticks_behind_host().min(expected_ticks);
            if slept > 0 {
                ffi::kernel_step_tick(slept);
            }
            ffi::kernel_host_mask_tick(0);
            ffi::kernel_host_tickless(0);
        } else {
            ffi::kernel_host_mask_tick(0);
        }
    }
}

/// FreeRTOS's tick hook (`configUSE_TICK_HOOK`, the sim only), inside the tick interrupt:
/// takes the lines raised while a task ran.
#[no_mangle]
extern "C" fn vApplicationTickHook() {
    if PENDING.load(Ordering::Acquire) != 0 {
        isr::in_tick_interrupt(take_pending);
    }
}
