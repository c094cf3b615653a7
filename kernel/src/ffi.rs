//! The C functions this crate calls: the freertos-next shim's and our own `glue.c`.
//! All types are 32-bit, as `glue.c` asserts at compile time.

use core::ffi::{c_char, c_void};

pub use freertos_next::{
    freertos_rs_create_mutex, freertos_rs_delete_semaphore, freertos_rs_get_free_heap_size,
    freertos_rs_get_minimum_free_heap_size, freertos_rs_give_semaphore, freertos_rs_isr_yield,
    freertos_rs_max_wait, freertos_rs_pvPortMalloc, freertos_rs_queue_create,
    freertos_rs_queue_delete, freertos_rs_queue_messages_waiting, freertos_rs_queue_receive,
    freertos_rs_queue_send, freertos_rs_queue_send_isr, freertos_rs_take_semaphore,
    freertos_rs_task_yield, freertos_rs_timer_change_period, freertos_rs_timer_get_id,
    freertos_rs_timer_start, freertos_rs_timer_stop, freertos_rs_vPortFree, freertos_rs_vTaskDelay,
    freertos_rs_vTaskStartScheduler, freertos_rs_xTaskGetTickCount,
};
#[cfg(target_os = "linux")]
pub use freertos_next::{freertos_rs_enter_critical, freertos_rs_exit_critical};

/// `configMAX_TASK_NAME_LEN` in every FreeRTOSConfig.h of ours.
pub const TASK_NAME_LEN: usize = 16;

/// Mirrors `struct kernel_task_row` in `glue.c`.
#[repr(C)]
#[derive(Clone, Copy)]
pub struct TaskRow {
    pub name: [u8; TASK_NAME_LEN],
    pub number: u32,
    pub state: u32,
    pub priority: u32,
    pub stack_high_water_words: u32,
}

/// A function the timer daemon runs (`PendedFunction_t`).
pub type PendedFunction = unsafe extern "C" fn(*mut c_void, u32);
/// A timer's callback (`TimerCallbackFunction_t`).
pub type TimerCallback = unsafe extern "C" fn(*const c_void);

extern "C" {
    pub fn kernel_spawn(
        body: *mut c_void,
        name: *const u8,
        name_len: u32,
        stack_words: u32,
        priority: u32,
    ) -> i32;
    pub fn kernel_task_list(rows: *mut TaskRow, max: u32) -> u32;
    pub fn kernel_timer_create(
        name: *const c_char,
        period: u32,
        auto_reload: i32,
        id: *mut c_void,
        callback: TimerCallback,
    ) -> *const c_void;
    pub fn kernel_timer_delete_then(
        timer: *const c_void,
        release: PendedFunction,
        context: *mut c_void,
        block: u32,
    ) -> i32;
    pub fn kernel_in_timer_daemon() -> i32;
    pub fn kernel_timer_name(timer: *const c_void) -> *const c_char;
    pub fn kernel_tick_rate_hz() -> u32;
    pub fn kernel_max_priorities() -> u32;
    pub fn kernel_heap_total() -> usize;
    pub fn kernel_version() -> *const c_char;
}

#[cfg(target_os = "linux")]
extern "C" {
    pub fn kernel_catch_up_ticks(ticks: u32) -> i32;
    pub fn kernel_host_monotonic_ns() -> u64;
    pub fn kernel_host_abort(why: *const c_char) -> !;
    pub fn kernel_host_idle_sleep(word: *mut u32, timeout_ns: u64);
    pub fn kernel_host_mask_tick(masked: i32);
    pub fn kernel_host_tickless(asleep: i32);
    pub fn kernel_host_discard_tick();
    pub fn kernel_may_sleep() -> i32;
    pub fn kernel_step_tick(ticks: u32);
    pub fn kernel_host_wake(word: *mut u32);
}

#[cfg(target_arch = "csky")]
extern "C" {
    /// Our C-SKY port's interrupt nesting count, as a flag (port.c).
    pub fn xPortIsInsideInterrupt() -> i32;
}

/// FreeRTOS's `configASSERT` lands here: a broken kernel invariant is a bug, so panic.
///
/// # Safety
/// `file` is a NUL-terminated string, as `__FILE__` is.
#[no_mangle]
unsafe extern "C" fn kernel_assert_failed(file: *const c_char, line: i32) {
    // SAFETY: configASSERT passes `__FILE__`, a NUL-terminated string literal.
    let file = unsafe { core::ffi::CStr::from_ptr(file) };
    panic!("FreeRTOS assertion failed at {:?}:{line}", file);
}
