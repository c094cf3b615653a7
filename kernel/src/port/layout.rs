//! The numbers the C-SKY port's Rust, C and assembly share: PSR bits, the VIC registers the
//! port drives, and the layout of a task's saved context.
//!
//! This file is the one description of them. `kernel/build.rs` includes it and writes every
//! constant into `port_layout.h` for `port.c` and `portasm.S`, so the three cannot disagree.
//! It holds plain constants and `const fn`s only (the build script compiles it too).

/// PSR (cr<0,0>) bit 31: supervisor mode.
pub const PSR_S: u32 = 1 << 31;
/// PSR bit 8: exceptions enabled. Without it an exception cannot be taken and the core stops.
pub const PSR_EE: u32 = 1 << 8;
/// PSR bit 6: interrupts enabled, the bit critical sections clear.
pub const PSR_IE: u32 = 1 << 6;
/// The PSR a task starts with: supervisor, exceptions and interrupts enabled.
pub const TASK_PSR: u32 = PSR_S | PSR_EE | PSR_IE;

/// The exception number of the context switch: the VIC's software interrupt (TSPEND).
pub const SWITCH_VECTOR: u32 = 22;
/// Exception numbers from here up are the VIC's interrupt inputs: vector 32 + n is IRQ n.
pub const FIRST_IRQ_VECTOR: u32 = 32;

/// VIC TSPEND: writing 1 pends the context switch exception.
pub const VIC_TSPEND: u32 = 0xE000_EC08;
/// VIC TSPR: the context switch's priority, in bits 7:6 (0 highest, 3 lowest).
pub const VIC_TSPR: u32 = 0xE000_EC10;
/// The lowest priority, so that a pending interrupt is always served before the switch.
pub const TSPR_LOWEST: u32 = 3 << 6;

/// A task's context on its own stack, as the switch saves it: offsets in bytes from the saved
/// stack pointer (the TCB's `pxTopOfStack`). The stack pointer (r14) is not in the frame; it
/// is the frame's address.
pub mod frame {
    /// r0 to r13, one word each.
    pub const R0: u32 = 0;
    /// r15, the link register.
    pub const R15: u32 = R0 + 14 * 4;
    /// r16 to r31 (the high registers LLVM allocates), one word each.
    pub const R16: u32 = R15 + 4;
    /// The interrupted PSR, restored by `rte`.
    pub const EPSR: u32 = R16 + 16 * 4;
    /// The interrupted PC, where `rte` resumes.
    pub const EPC: u32 = EPSR + 4;
    /// The FPU control register (rounding mode, exception enables): hard-float frames only.
    pub const FCR: u32 = EPC + 4;
    /// The FPU exception status register: hard-float frames only.
    pub const FESR: u32 = FCR + 4;
    /// fr0 to fr15, single precision, one word each: hard-float frames only.
    pub const FR0: u32 = FESR + 4;

    /// The frame's size, kept a multiple of 8 so that a task's stack pointer stays 8-aligned.
    pub const fn size(hard_float: bool) -> u32 {
        let end = if hard_float { FR0 + 16 * 4 } else { FCR };
        end.next_multiple_of(8)
    }

    /// The frame's size in the build's float ABI.
    pub const SIZE_HARD_FLOAT: u32 = size(true);
    /// The frame's size without an FPU context.
    pub const SIZE_SOFT_FLOAT: u32 = size(false);
}

/// What an interrupt entry keeps on the interrupted task's stack: the registers a handler
/// compiled to the ABI may change (r0-r3, r12, r13, r15, r18-r31; hard-float: fr0-fr7 and the
/// FPU status). The handler runs on the interrupt stack; the callee-saved registers it
/// preserves itself.
pub mod irq_frame {
    /// r0 to r3.
    pub const R0: u32 = 0;
    /// r12 and r13.
    pub const R12: u32 = R0 + 4 * 4;
    /// r15, the link register.
    pub const R15: u32 = R12 + 2 * 4;
    /// r18 to r31.
    pub const R18: u32 = R15 + 4;
    /// The FPU control register: hard-float only.
    pub const FCR: u32 = R18 + 14 * 4;
    /// The FPU exception status register: hard-float only.
    pub const FESR: u32 = FCR + 4;
    /// fr0 to fr7, the caller-saved FPU registers: hard-float only.
    pub const FR0: u32 = FESR + 4;

    /// The frame's size, a multiple of 8.
    pub const fn size(hard_float: bool) -> u32 {
        let end = if hard_float { FR0 + 8 * 4 } else { FCR };
        end.next_multiple_of(8)
    }

    /// The frame's size in the hard-float ABI.
    pub const SIZE_HARD_FLOAT: u32 = size(true);
    /// The frame's size without an FPU context.
    pub const SIZE_SOFT_FLOAT: u32 = size(false);
}
