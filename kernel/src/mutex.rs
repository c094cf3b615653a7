//! A mutex over FreeRTOS's priority-inheriting mutex. Not recursive: locking it again from
//! the task that holds it deadlocks, which is a bug but never undefined behaviour.

use crate::{ffi, isr, time, Error, FOREVER};
use core::cell::UnsafeCell;
use core::ffi::c_void;
use core::marker::PhantomData;
use core::ops::{Deref, DerefMut};
use core::time::Duration;

/// Data shared between tasks, one task at a time.
pub struct Mutex<T: ?Sized> {
    handle: *const c_void,
    data: UnsafeCell<T>,
}

// SAFETY: the data moves between tasks through the lock, hence `T: Send`.
unsafe impl<T: ?Sized + Send> Send for Mutex<T> {}
// SAFETY: the FreeRTOS mutex gives one task at a time access to the data.
unsafe impl<T: ?Sized + Send> Sync for Mutex<T> {}

impl<T> Mutex<T> {
    /// A new, unlocked mutex around `data`.
    pub fn new(data: T) -> Result<Self, Error> {
        // SAFETY: creating a mutex has no preconditions; NULL means out of memory.
        let handle = unsafe { ffi::freertos_rs_create_mutex() };
        if handle.is_null() {
            return Err(Error::OutOfMemory);
        }
        Ok(Mutex {
            handle,
            data: UnsafeCell::new(data),
        })
    }
}

impl<T: ?Sized> Mutex<T> {
    /// Locks, waiting as long as it takes. From a task only.
    pub fn lock(&self) -> MutexGuard<'_, T> {
        match self.lock_for(FOREVER) {
            Some(guard) => guard,
            None => panic!("mutex wait without end timed out"),
        }
    }

    /// Locks, waiting at most `wait`. From a task only.
    pub fn lock_for(&self, wait: Duration) -> Option<MutexGuard<'_, T>> {
        if !isr::task_context_for("Mutex::lock") {
            return None;
        }
        // SAFETY: the handle is valid for the mutex's lifetime.
        let failed = unsafe { ffi::freertos_rs_take_semaphore(self.handle, time::to_ticks(wait)) };
        // `then`, not `then_some`: a guard built eagerly would give back a mutex not taken.
        (failed == 0).then(|| MutexGuard {
            mutex: self,
            _same_task: PhantomData,
        })
    }
}

impl<T: ?Sized> Drop for Mutex<T> {
    fn drop(&mut self) {
        // SAFETY: `&mut self` proves no guard is alive; the handle is deleted once.
        unsafe { ffi::freertos_rs_delete_semaphore(self.handle) }
    }
}

/// Access to the data while the lock is held. It stays in the task that locked (FreeRTOS
/// requires the holder to give the mutex back), hence not `Send`.
pub struct MutexGuard<'a, T: ?Sized> {
    mutex: &'a Mutex<T>,
    _same_task: PhantomData<*const ()>,
}

impl<T: ?Sized> Deref for MutexGuard<'_, T> {
    type Target = T;
    fn deref(&self) -> &T {
        // SAFETY: the lock is held, so no other reference to the data exists.
        unsafe { &*self.mutex.data.get() }
    }
}

impl<T: ?Sized> DerefMut for MutexGuard<'_, T> {
    fn deref_mut(&mut self) -> &mut T {
        // SAFETY: the lock is held and this guard is the only one.
        unsafe { &mut *self.mutex.data.get() }
    }
}

impl<T: ?Sized> Drop for MutexGuard<'_, T> {
    fn drop(&mut self) {
        // SAFETY: this task holds the mutex.
        unsafe { ffi::freertos_rs_give_semaphore(self.mutex.handle) };
    }
}
