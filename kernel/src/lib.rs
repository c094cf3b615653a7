//! The kernel: FreeRTOS and the safe API every other crate uses.
//!
//! This is the only crate that calls FreeRTOS. Its surface is small on purpose, and it keeps
//! the known soundness holes of the `freertos-rust` family out of reach (see the README's design
//! notes): the allocator honours alignment, there is no recursive mutex, a task handle never
//! outlives its task because none is handed out, a timer's closure is freed only after the
//! timer daemon deleted the timer, an [`IsrContext`] cannot be made in task context without
//! `unsafe`, and a dropped [`Queue`] drops the items still in it.
#![no_std]

extern crate alloc;

mod ffi;
mod heap;
mod isr;
mod mutex;
pub mod port;
mod queue;
#[cfg(target_os = "linux")]
mod sim_clock;
#[cfg(target_os = "linux")]
mod sim_irq;
mod task;
mod time;
mod timer;
mod wake;

pub use heap::{c_calloc, c_free, heap_stats, Heap, HeapStats};
#[cfg(target_os = "linux")]
pub use isr::simulate_interrupt;
pub use isr::{
    in_isr, refused_misuses, set_misuse_reaction, IsrContext, MisuseReaction, ISR_CHECKS,
};
pub use mutex::{Mutex, MutexGuard};
pub use queue::Queue;
pub use task::{
    init_priority, kernel_version, max_priority, spawn, start, task_list, yield_now, Priority,
    TaskInfo, TaskState, TASK_LIST_MAX,
};
pub use time::{delay, now_ms, FOREVER};
pub use timer::Timer;
pub use wake::Wake;

use core::fmt;

/// Why a kernel service was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Error {
    /// The FreeRTOS heap could not hold the new object.
    OutOfMemory,
    /// The wait ran out.
    Timeout,
    /// A priority at or above `configMAX_PRIORITIES`.
    InvalidPriority,
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Error::OutOfMemory => "out of kernel heap",
            Error::Timeout => "timed out",
            Error::InvalidPriority => "priority out of range",
        })
    }
}
