//! The XT804 core (C-SKY ck804ef) of the W800, which QEMU's smartl board also has: its
//! interrupt controller, its timer, and the startup (`startup.S`: the reset entry that sets
//! up VBR, the stack, `.data` and `.bss` and calls the firmware's main; the fault entry).
//!
//! The register values are plain constants and `const fn`s, tested on the host; only the
//! startup and the vector table are for the chip alone.

pub mod coret;
pub mod vic;

#[cfg(target_arch = "csky")]
pub use startup::*;

#[cfg(target_arch = "csky")]
mod startup {
    use kernel::port::{Vector, VECTOR_COUNT};

    extern "C" {
        fn xt804_reset();
        fn xt804_fault();
        /// Starts the firmware over from the reset entry, interrupts masked at once.
        pub fn xt804_restart() -> !;
        /// Copies `words` words from `from` to `to` and starts the copy at `entry`,
        /// interrupts masked; it runs from RAM, so it may overwrite the code that calls it.
        pub fn xt804_copy_and_run(from: *const u32, to: *mut u32, words: u32, entry: u32) -> !;
    }

    /// The reset entry's address: the first word of the vector table, where a board's code
    /// image starts.
    pub fn reset_entry() -> u32 {
        xt804_reset as *const () as usize as u32
    }

    /// The vector table: the reset and fault entries of `startup.S`, the kernel port's
    /// context switch and interrupt entry. `startup.S` points VBR here; the linker scripts
    /// place it first and 1 KiB-aligned, as VBR requires.
    #[no_mangle]
    #[link_section = ".vectors"]
    static XT804_VECTORS: [Vector; VECTOR_COUNT] = kernel::port::vectors(xt804_reset, xt804_fault);
}

/// Names the firmware's main (a `fn() -> !`), which `startup.S` calls once the stack, `.data`
/// and `.bss` are ready: `bsp::xt804_entry!(main);` in a C-SKY board's binary.
#[macro_export]
macro_rules! xt804_entry {
    ($main:path) => {
        #[export_name = "xt804_main"]
        extern "C" fn xt804_main() -> ! {
            let main: fn() -> ! = $main;
            main()
        }
    };
}
