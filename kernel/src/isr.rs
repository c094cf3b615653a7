//! Interrupt context: the proof needed to call the `*_from_isr` services, and the check that
//! keeps the task-only services (the heap, waits) out of interrupt handlers.
//!
//! An interrupt handler must not allocate (heap_4 suspends the scheduler, and resuming it may
//! switch tasks) nor wait (there is no task to block). In debug builds every allocation and
//! every task-only call checks [`in_isr`]: a misuse panics naming the service, or, for tests,
//! is refused and counted ([`MisuseReaction::Refuse`]).

use crate::ffi;
use core::marker::PhantomData;
use core::sync::atomic::{AtomicBool, AtomicU32, Ordering};

/// Whether the kernel checks the heap and its task-only calls against interrupt context:
/// in debug builds.
pub const ISR_CHECKS: bool = cfg!(debug_assertions);

/// Set while [`simulate_interrupt`] runs a handler.
#[cfg(target_os = "linux")]
static IN_SIMULATED_INTERRUPT: AtomicBool = AtomicBool::new(false);

/// Whether the caller runs in interrupt context: inside the port's interrupt entry on C-SKY
/// (its nesting count), inside [`simulate_interrupt`] on the sim.
#[inline]
pub fn in_isr() -> bool {
    #[cfg(target_arch = "csky")]
    {
        // SAFETY: reads the port's interrupt nesting count.
        unsafe { ffi::xPortIsInsideInterrupt() != 0 }
    }
    #[cfg(target_os = "linux")]
    {
        IN_SIMULATED_INTERRUPT.load(Ordering::Relaxed)
    }
}

/// What a debug build does when a task-only service is called from interrupt context.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MisuseReaction {
    /// Panic naming the service (the default): the bug stops the firmware where it happened.
    Panic,
    /// Refuse the call and count it ([`refused_misuses`]), so that a test can watch the check
    /// work: an allocation returns null (a fallible one reports the error, an infallible one
    /// aborts as out of memory), a release leaks the block, a wait fails at once.
    Refuse,
}

static REFUSE_MISUSE: AtomicBool = AtomicBool::new(false);
static REFUSED_MISUSES: AtomicU32 = AtomicU32::new(0);
/// Set when a misuse panics: the firmware is stopping, and the checks stand aside so that the
/// report itself may allocate (on the sim, std's panic hook does).
static MISUSE_PANICKED: AtomicBool = AtomicBool::new(false);

/// Chooses how a debug build reacts to a task-only service called from interrupt context.
pub fn set_misuse_reaction(reaction: MisuseReaction) {
    REFUSE_MISUSE.store(reaction == MisuseReaction::Refuse, Ordering::SeqCst);
}

/// How many task-only calls from interrupt context were refused since boot.
pub fn refused_misuses() -> u32 {
    REFUSED_MISUSES.load(Ordering::SeqCst)
}

/// The debug assertion of a task-only `service`: whether it may go on. Always in task context
/// and in release builds; from an interrupt it panics, or returns false when refusing.
#[inline]
pub(crate) fn task_context_for(service: &'static str) -> bool {
    if !misused() {
        return true;
    }
    if refused() {
        return false;
    }
    MISUSE_PANICKED.store(true, Ordering::SeqCst);
    panic!("{service} called from interrupt context");
}

/// [`task_context_for`] for the heap, whose panic must not unwind (a global allocator must
/// not): the C-SKY boards never unwind, and the sim reports it and aborts at once.
#[inline]
pub(crate) fn task_context_for_heap() -> bool {
    if !misused() {
        return true;
    }
    if refused() {
        return false;
    }
    MISUSE_PANICKED.store(true, Ordering::SeqCst);
    heap_used_from_interrupt()
}

/// Whether a task-only service is being called from interrupt context, and checked.
#[inline]
fn misused() -> bool {
    ISR_CHECKS && in_isr() && !MISUSE_PANICKED.load(Ordering::Relaxed)
}

#[cold]
fn refused() -> bool {
    if REFUSE_MISUSE.load(Ordering::SeqCst) {
        REFUSED_MISUSES.fetch_add(1, Ordering::SeqCst);
        true
    } else {
        false
    }
}

#[cold]
fn heap_used_from_interrupt() -> ! {
    #[cfg(target_arch = "csky")]
    panic!("the kernel heap used from interrupt context");
    // SAFETY: a NUL-terminated message; the call does not return.
    #[cfg(target_os = "linux")]
    unsafe {
        ffi::kernel_host_abort(c"the kernel heap used from interrupt context".as_ptr())
    }
}

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

/// Runs `handler` as the sim's stand-in for an interrupt: in a critical section (the POSIX
/// port's signals, its interrupts, blocked), so that no tick and no other task runs until it
/// ends, with [`in_isr`] true, and the yield it asks for taken after it.
#[cfg(target_os = "linux")]
pub fn simulate_interrupt<R>(handler: impl FnOnce(&mut IsrContext) -> R) -> R {
    let woken;
    let result;
    {
        let _masked = SimulatedInterrupt::enter();
        // SAFETY: we are now in the simulated handler. The context is not dropped: its yield
        // is taken below, once the critical section has ended.
        let mut isr = core::mem::ManuallyDrop::new(unsafe { IsrContext::enter() });
        result = handler(&mut isr);
        woken = isr.woken;
    }
    // SAFETY: after the handler, as the end of an interrupt would.
    unsafe { ffi::freertos_rs_isr_yield(woken) };
    result
}

/// Runs `handler` in interrupt context from inside the sim's tick interrupt (the tick hook, in
/// the port's tick signal handler, where the port's signals are blocked already), with
/// [`in_isr`] true. No yield is taken here: the `*_from_isr` services mark the switch they need
/// pending, and the tick interrupt takes it as it ends.
#[cfg(target_os = "linux")]
pub(crate) fn in_tick_interrupt(handler: impl FnOnce(&mut IsrContext)) {
    let was_in_isr = IN_SIMULATED_INTERRUPT.swap(true, Ordering::Relaxed);
    // SAFETY: the tick hook runs inside the tick interrupt. The context is not dropped, so it
    // asks for no yield in the middle of the tick: the tick's end takes the pending switch.
    let mut isr = core::mem::ManuallyDrop::new(unsafe { IsrContext::enter() });
    handler(&mut isr);
    IN_SIMULATED_INTERRUPT.store(was_in_isr, Ordering::Relaxed);
}

/// The critical section and the flag of a simulated interrupt, ended on drop (also when the
/// handler panics).
#[cfg(target_os = "linux")]
struct SimulatedInterrupt {
    was_in_isr: bool,
}

#[cfg(target_os = "linux")]
impl SimulatedInterrupt {
    fn enter() -> SimulatedInterrupt {
        // SAFETY: a critical section from a task, ended by `drop` in the same task.
        unsafe { ffi::freertos_rs_enter_critical() };
        SimulatedInterrupt {
            was_in_isr: IN_SIMULATED_INTERRUPT.swap(true, Ordering::Relaxed),
        }
    }
}

#[cfg(target_os = "linux")]
impl Drop for SimulatedInterrupt {
    fn drop(&mut self) {
        IN_SIMULATED_INTERRUPT.store(self.was_in_isr, Ordering::Relaxed);
        // SAFETY: ends the critical section `enter` began, in the same task.
        unsafe { ffi::freertos_rs_exit_critical() };
    }
}
