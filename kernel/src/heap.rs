//! The FreeRTOS heap (heap_4) as Rust's global allocator, and its figures.

use crate::{ffi, isr};
use core::alloc::{GlobalAlloc, Layout};
use core::mem::size_of;
use core::ptr;

/// What `pvPortMalloc` guarantees (`portBYTE_ALIGNMENT`).
const KERNEL_ALIGN: usize = 8;

/// Rust's allocator over the FreeRTOS heap. Unlike a plain `pvPortMalloc` call it honours
/// alignments above 8 bytes (which `u128` and SIMD types ask for), by over-allocating and
/// keeping the block's real start in the word just before the aligned address.
///
/// A board installs it with `#[global_allocator] static HEAP: kernel::Heap = kernel::Heap;`.
///
/// Interrupt handlers must not use it: debug builds check (see [`crate::MisuseReaction`]).
#[derive(Debug)]
pub struct Heap;

// SAFETY: every pointer handed out is either pvPortMalloc's (aligned to 8, enough for layouts
// up to that) or an address inside an over-allocated block that is aligned as asked and has
// `layout.size()` bytes after it; dealloc undoes exactly what alloc did for the same layout.
unsafe impl GlobalAlloc for Heap {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        if !isr::task_context_for_heap() {
            return ptr::null_mut();
        }
        if layout.align() <= KERNEL_ALIGN {
            // SAFETY: pvPortMalloc is thread safe in task context and before the scheduler.
            return unsafe { ffi::freertos_rs_pvPortMalloc(layout.size() as u32) }
                .cast_mut()
                .cast();
        }
        let Some(total) = layout.size().checked_add(layout.align()) else {
            return ptr::null_mut();
        };
        // SAFETY: as above.
        let raw = unsafe { ffi::freertos_rs_pvPortMalloc(total as u32) }
            .cast_mut()
            .cast::<u8>();
        if raw.is_null() {
            return raw;
        }
        // `raw` is 8-aligned and `align` a multiple of 8, so rounding `raw + 4` up to `align`
        // moves at most `align` bytes: the block has room for the size, and for the stored
        // start in the word below.
        let aligned = (raw as usize + size_of::<usize>()).next_multiple_of(layout.align());
        let offset = aligned - raw as usize;
        // SAFETY: `offset <= align`, so `raw + offset` and the word below it lie in the block.
        unsafe {
            let user = raw.add(offset);
            user.cast::<usize>().sub(1).write_unaligned(raw as usize);
            user
        }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        if !isr::task_context_for_heap() {
            return;
        }
        let start = if layout.align() <= KERNEL_ALIGN {
            ptr
        } else {
            // SAFETY: `alloc` stored the block's start in the word below `ptr`.
            unsafe { ptr.cast::<usize>().sub(1).read_unaligned() as *mut u8 }
        };
        // SAFETY: `start` came from pvPortMalloc and is freed once.
        unsafe { ffi::freertos_rs_vPortFree(start.cast_const().cast()) }
    }
}

/// C's `calloc` over the FreeRTOS heap, for C libraries (mbedTLS) that allocate themselves:
/// `count * size` zeroed bytes aligned to 8, or null.
pub fn c_calloc(count: usize, size: usize) -> *mut core::ffi::c_void {
    if !isr::task_context_for_heap() {
        return ptr::null_mut();
    }
    let Some(total) = count.checked_mul(size) else {
        return ptr::null_mut();
    };
    // SAFETY: pvPortMalloc is thread safe in task context; the block is zeroed before use.
    unsafe {
        let block = ffi::freertos_rs_pvPortMalloc(total as u32)
            .cast_mut()
            .cast::<u8>();
        if !block.is_null() {
            block.write_bytes(0, total);
        }
        block.cast()
    }
}

/// C's `free` for blocks from [`c_calloc`].
///
/// # Safety
/// `block` is null or came from [`c_calloc`] and is not used again.
pub unsafe fn c_free(block: *mut core::ffi::c_void) {
    if !block.is_null() && isr::task_context_for_heap() {
        // SAFETY: per the contract, a live block from pvPortMalloc, freed once.
        unsafe { ffi::freertos_rs_vPortFree(block.cast_const()) }
    }
}

/// Heap figures for the banner and the `free` command.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct HeapStats {
    /// The heap's size (`configTOTAL_HEAP_SIZE`).
    pub total: usize,
    /// Free now.
    pub free: usize,
    /// The least ever free since boot.
    pub min_free: usize,
}

/// Reads the heap figures.
pub fn heap_stats() -> HeapStats {
    // SAFETY: these read heap_4 counters.
    unsafe {
        HeapStats {
            total: ffi::kernel_heap_total(),
            free: ffi::freertos_rs_get_free_heap_size(),
            min_free: ffi::freertos_rs_get_minimum_free_heap_size(),
        }
    }
}
