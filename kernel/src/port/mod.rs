//! The Rust half of the FreeRTOS port for the C-SKY ck804 core (`port/csky` holds the C and
//! assembly halves): the vector table's port entries, a task's first context, and the tick.
//!
//! A C-SKY board uses it in three places:
//! - its vector table is [`vectors`]`(reset, fault)`, placed where VBR points;
//! - it defines `extern "C" fn csky_irq_dispatch(irq: u32)`, which the port's interrupt entry
//!   calls for every interrupt (with interrupts masked, on the interrupt stack);
//! - it starts its tick source before the scheduler and, on the tick interrupt, calls
//!   [`tick_from_isr`];
//! - its panic handler reports and stops: a task that overflowed its stack ends there
//!   (`vApplicationStackOverflowHook`, with the FreeRTOS stack check at level 2).
//!
//! The layout, the first context and the vector table are plain Rust, tested on the host.

pub mod layout;

#[cfg(any(test, target_arch = "csky"))]
use layout::{frame, FIRST_IRQ_VECTOR, SWITCH_VECTOR, TASK_PSR};

/// The number of entries of a ck804 vector table: 32 exceptions, then 32 interrupts.
pub const VECTOR_COUNT: usize = 64;

/// A vector table with `reset` at 0, `switch` at the context switch's vector, `interrupt` at
/// every interrupt's, and `fault` at every other exception.
#[cfg(any(test, target_arch = "csky"))]
const fn vector_table<T: Copy>(reset: T, fault: T, switch: T, interrupt: T) -> [T; VECTOR_COUNT] {
    let mut table = [fault; VECTOR_COUNT];
    table[0] = reset;
    table[SWITCH_VECTOR as usize] = switch;
    let mut vector = FIRST_IRQ_VECTOR as usize;
    while vector < VECTOR_COUNT {
        table[vector] = interrupt;
        vector += 1;
    }
    table
}

/// The words of a task's first context, lowest address first: what the context switch
/// restores to start the task. `r0` holds the task's parameter, `r15` (where a returning
/// task function would go) `exit`, `EPC` the entry and `EPSR` [`TASK_PSR`]; every other
/// register starts at 0 (FPU: round to nearest, no exception enabled or flagged).
#[cfg(any(test, target_arch = "csky"))]
fn initial_frame(entry: u32, parameter: u32, exit: u32, hard_float: bool) -> FrameWords {
    let mut words = FrameWords {
        words: [0; (frame::SIZE_HARD_FLOAT / 4) as usize],
        len: (frame::size(hard_float) / 4) as usize,
    };
    let mut set = |offset: u32, value: u32| words.words[(offset / 4) as usize] = value;
    set(frame::R0, parameter);
    set(frame::R15, exit);
    set(frame::EPSR, TASK_PSR);
    set(frame::EPC, entry);
    words
}

/// A task's first context (see [`initial_frame`]).
#[cfg(any(test, target_arch = "csky"))]
#[derive(Clone, Debug, PartialEq, Eq)]
struct FrameWords {
    words: [u32; (frame::SIZE_HARD_FLOAT / 4) as usize],
    len: usize,
}

#[cfg(any(test, target_arch = "csky"))]
impl FrameWords {
    /// The words, lowest address first.
    fn as_slice(&self) -> &[u32] {
        &self.words[..self.len]
    }
}

/// The tick rate (`configTICK_RATE_HZ`), for programming the tick source.
pub fn tick_rate_hz() -> u32 {
    // SAFETY: reads a configuration constant.
    unsafe { crate::ffi::kernel_tick_rate_hz() }
}

#[cfg(target_arch = "csky")]
pub use target::*;

/// What only exists on the chip: the FFI with the C and assembly halves.
#[cfg(target_arch = "csky")]
mod target {
    use super::{initial_frame, layout::frame, vector_table, VECTOR_COUNT};
    use crate::IsrContext;
    use core::ffi::{c_char, c_void, CStr};

    /// One vector table entry: the address the core jumps to.
    pub type Vector = unsafe extern "C" fn();

    extern "C" {
        /// The context switch (exception 22, `portasm.S`). Only for the vector table.
        fn csky_port_switch();
        /// The entry of every interrupt (`portasm.S`). Only for the vector table.
        fn csky_port_interrupt();
        fn xTaskIncrementTick() -> i32;
    }

    /// The board's vector table: `reset` and `fault` are its own, the rest the port's.
    pub const fn vectors(reset: Vector, fault: Vector) -> [Vector; VECTOR_COUNT] {
        vector_table(
            reset,
            fault,
            csky_port_switch as Vector,
            csky_port_interrupt as Vector,
        )
    }

    /// The tick interrupt's work: advances the kernel's time and asks for a switch when a
    /// task woke up or time slicing is due.
    pub fn tick_from_isr(isr: &mut IsrContext) {
        // SAFETY: `isr` proves interrupt context, where interrupts are masked, as
        // xTaskIncrementTick requires.
        if unsafe { xTaskIncrementTick() } != 0 {
            // SAFETY: the flag is `isr`'s own, valid while `isr` is borrowed.
            unsafe { *isr.woken_flag() = 1 };
        }
    }

    /// The FPU context is saved exactly when the code is built for the FPU (the C half checks
    /// `__csky_hard_float__`, which the linker's float-ABI check keeps in step with this).
    const HARD_FLOAT: bool = cfg!(target_feature = "hard-float");

    /// Where a task whose function returned would go; ours never return (glue.c deletes them).
    extern "C" fn task_returned() -> ! {
        panic!("a FreeRTOS task function returned");
    }

    /// FreeRTOS's stack overflow check (`configCHECK_FOR_STACK_OVERFLOW` 2) calls this from
    /// the context switch when the task being switched out has run past its stack, or has
    /// written into the last 16 bytes of it. Its stack, and the heap block below it, are
    /// corrupt: the firmware stops with the task's name, through the board's panic handler
    /// (which reports on the console and, on the W800, resets with reason "exception").
    ///
    /// # Safety
    /// Called by the kernel only, with `name` the task's NUL-terminated name.
    #[no_mangle]
    unsafe extern "C" fn vApplicationStackOverflowHook(_task: *mut c_void, name: *const c_char) {
        // SAFETY: the kernel passes the task's NUL-terminated name, kept in its TCB, which
        // is not on the overflowed stack.
        let name = unsafe { CStr::from_ptr(name) };
        panic!(
            "stack overflow in task '{}'",
            name.to_str().unwrap_or("(name not UTF-8)")
        );
    }

    /// FreeRTOS asks for a new task's first context below `top` (its stack's highest
    /// 8-aligned word) and takes the returned address as the task's saved stack pointer.
    ///
    /// # Safety
    /// `top` must be the top of a stack of at least the frame's size, as FreeRTOS passes it.
    #[no_mangle]
    unsafe extern "C" fn pxPortInitialiseStack(
        top: *mut u32,
        code: extern "C" fn(*mut c_void),
        parameters: *mut c_void,
    ) -> *mut u32 {
        let words = initial_frame(
            code as usize as u32,
            parameters as usize as u32,
            task_returned as *const () as usize as u32,
            HARD_FLOAT,
        );
        let words = words.as_slice();
        debug_assert_eq!(words.len() * 4, frame::size(HARD_FLOAT) as usize);
        // SAFETY: the frame (a multiple of 8 bytes) fits below `top` in the task's stack, and
        // starts 8-aligned because `top` is.
        unsafe {
            let start = top.sub(words.len());
            start.copy_from_nonoverlapping(words.as_ptr(), words.len());
            start
        }
    }
}

#[cfg(test)]
mod tests {
    use super::layout::{self, frame, irq_frame};
    use super::*;

    #[test]
    fn psr_values_match_the_ck804_bits() {
        assert_eq!(layout::TASK_PSR, 0x8000_0140);
        assert_eq!(layout::PSR_IE, 0x40);
        assert_eq!(layout::PSR_EE, 0x100);
    }

    #[test]
    fn the_switch_runs_at_the_lowest_vic_priority_through_tspend() {
        assert_eq!(layout::VIC_TSPEND, 0xE000_E100 + 0xB08);
        assert_eq!(layout::VIC_TSPR, 0xE000_E100 + 0xB10);
        assert_eq!(layout::TSPR_LOWEST, 0xC0);
    }

    #[test]
    fn the_task_frame_has_every_register_once_in_order() {
        assert_eq!(frame::R0, 0);
        assert_eq!(frame::R15, 56);
        assert_eq!(frame::R16, 60);
        assert_eq!(frame::EPSR, 124);
        assert_eq!(frame::EPC, 128);
        assert_eq!(frame::FCR, 132);
        assert_eq!(frame::FESR, 136);
        assert_eq!(frame::FR0, 140);
        // 35 words of integer context (r14 is the frame's address), plus 18 of FPU context,
        // rounded up to 8 bytes.
        assert_eq!(frame::SIZE_SOFT_FLOAT, 136);
        assert_eq!(frame::SIZE_HARD_FLOAT, 208);
    }

    #[test]
    fn the_interrupt_frame_holds_the_caller_saved_registers() {
        assert_eq!(irq_frame::R12, 16);
        assert_eq!(irq_frame::R15, 24);
        assert_eq!(irq_frame::R18, 28);
        assert_eq!(irq_frame::FCR, 84);
        assert_eq!(irq_frame::FR0, 92);
        assert_eq!(irq_frame::SIZE_SOFT_FLOAT, 88);
        assert_eq!(irq_frame::SIZE_HARD_FLOAT, 128);
    }

    #[test]
    fn a_first_frame_starts_the_entry_with_its_parameter_and_interrupts_on() {
        for hard_float in [false, true] {
            let words = initial_frame(0x100, 0x2000_1234, 0x200, hard_float);
            let words = words.as_slice();
            assert_eq!(words.len() * 4, frame::size(hard_float) as usize);
            let at = |offset: u32| words[(offset / 4) as usize];
            assert_eq!(at(frame::R0), 0x2000_1234);
            assert_eq!(at(frame::R15), 0x200);
            assert_eq!(at(frame::EPC), 0x100);
            assert_eq!(at(frame::EPSR), layout::TASK_PSR);
            let others = words.iter().filter(|w| **w == 0).count();
            assert_eq!(others, words.len() - 4, "every other register starts at 0");
        }
    }

    #[test]
    fn the_vector_table_routes_the_switch_and_every_interrupt_to_the_port() {
        let table = vector_table('R', 'F', 'S', 'I');
        assert_eq!(table[0], 'R');
        assert_eq!(table[22], 'S');
        assert!(table[1..22].iter().all(|v| *v == 'F'));
        assert!(table[23..32].iter().all(|v| *v == 'F'));
        assert!(table[32..].iter().all(|v| *v == 'I'));
        assert_eq!(table.len() * 4, 256);
    }
}
