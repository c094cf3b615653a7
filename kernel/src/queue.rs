//! Queues: FreeRTOS copies items by value; here they are moved in and out as owned values.

use crate::isr::IsrContext;
use crate::{ffi, isr, time, Error};
use core::ffi::c_void;
use core::marker::PhantomData;
use core::mem::{size_of, ManuallyDrop, MaybeUninit};
use core::time::Duration;

/// A bounded FIFO of `T` between tasks (and from interrupts).
pub struct Queue<T> {
    handle: *const c_void,
    _items: PhantomData<T>,
}

// SAFETY: the FreeRTOS queue is internally synchronised; items cross tasks, hence `T: Send`.
unsafe impl<T: Send> Send for Queue<T> {}
// SAFETY: as above; every operation takes `&self` and is a single kernel call.
unsafe impl<T: Send> Sync for Queue<T> {}

impl<T: Send> Queue<T> {
    /// A queue holding at most `capacity` items.
    pub fn new(capacity: u32) -> Result<Self, Error> {
        // SAFETY: creating a queue has no preconditions; a NULL handle means out of memory.
        let handle = unsafe { ffi::freertos_rs_queue_create(capacity, size_of::<T>() as u32) };
        if handle.is_null() {
            return Err(Error::OutOfMemory);
        }
        Ok(Queue {
            handle,
            _items: PhantomData,
        })
    }

    /// Sends `item`, waiting up to `wait` for room. On timeout the item comes back. From a
    /// task only (interrupt handlers have [`Queue::send_from_isr`]).
    pub fn send(&self, item: T, wait: Duration) -> Result<(), T> {
        if !isr::task_context_for("Queue::send") {
            return Err(item);
        }
        let item = ManuallyDrop::new(item);
        // SAFETY: the queue copies size_of::<T>() bytes from `item`; on success the bytes now
        // live in the queue, so ours must not be dropped (ManuallyDrop), and on failure we
        // still own them.
        let failed = unsafe {
            ffi::freertos_rs_queue_send(
                self.handle,
                (&*item as *const T).cast_mut().cast(),
                time::to_ticks(wait),
            )
        };
        if failed == 0 {
            Ok(())
        } else {
            Err(ManuallyDrop::into_inner(item))
        }
    }

    /// Sends from an interrupt handler; never waits. On a full queue the item comes back.
    pub fn send_from_isr(&self, isr: &mut IsrContext, item: T) -> Result<(), T> {
        let item = ManuallyDrop::new(item);
        // SAFETY: as in `send`; `isr` proves we run in interrupt context and collects the
        // "higher priority task woken" flag for the yield at the end of the interrupt.
        let failed = unsafe {
            ffi::freertos_rs_queue_send_isr(
                self.handle,
                (&*item as *const T).cast_mut().cast(),
                isr.woken_flag(),
            )
        };
        if failed == 0 {
            Ok(())
        } else {
            Err(ManuallyDrop::into_inner(item))
        }
    }

    /// Takes the oldest item, waiting up to `wait` for one. From a task only.
    pub fn receive(&self, wait: Duration) -> Option<T> {
        if !isr::task_context_for("Queue::receive") {
            return None;
        }
        let mut slot = MaybeUninit::<T>::uninit();
        // SAFETY: the queue writes exactly size_of::<T>() bytes of an item that was moved in
        // by `send`, so on success `slot` holds a valid, owned `T`.
        let failed = unsafe {
            ffi::freertos_rs_queue_receive(
                self.handle,
                slot.as_mut_ptr().cast(),
                time::to_ticks(wait),
            )
        };
        // SAFETY: initialised by the successful receive above.
        (failed == 0).then(|| unsafe { slot.assume_init() })
    }

    /// The number of items waiting.
    pub fn len(&self) -> u32 {
        // SAFETY: the handle is valid for the queue's lifetime.
        unsafe { ffi::freertos_rs_queue_messages_waiting(self.handle) }
    }

    /// Whether no item is waiting.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl<T> Drop for Queue<T> {
    fn drop(&mut self) {
        // Items still queued are owned values: drop them rather than leak them.
        let mut slot = MaybeUninit::<T>::uninit();
        // SAFETY: nobody else can use the queue any more (we have `&mut self`); each successful
        // receive yields an owned `T`, dropped right away; then the queue is deleted once.
        unsafe {
            while ffi::freertos_rs_queue_receive(self.handle, slot.as_mut_ptr().cast(), 0) == 0 {
                slot.assume_init_drop();
            }
            ffi::freertos_rs_queue_delete(self.handle);
        }
    }
}
