//! Tasks: spawning, the scheduler, and the task list.

use crate::{ffi, Error};
use alloc::boxed::Box;
use core::ffi::c_void;

/// A task priority: 0 is the idle task's, higher runs first, below [`max_priority`].
pub type Priority = u8;

/// The number of priorities (`configMAX_PRIORITIES`); valid priorities are below it.
pub fn max_priority() -> Priority {
    // SAFETY: reads a configuration constant.
    let max = unsafe { ffi::kernel_max_priorities() };
    Priority::try_from(max).unwrap_or(Priority::MAX)
}

type TaskBody = Box<dyn FnOnce() + Send>;

/// Called by `kernel_task_trampoline` in glue.c, which deletes the task when this returns
/// (a FreeRTOS task must not return). No handle to the task exists anywhere.
///
/// # Safety
/// `param` is the task's body as [`spawn`] leaked it, and this runs once per task.
#[no_mangle]
unsafe extern "C" fn kernel_run_task_body(param: *mut c_void) {
    // SAFETY: `spawn` passes a `Box<TaskBody>` it leaked for exactly this task, taken once here.
    let body = unsafe { Box::from_raw(param.cast::<TaskBody>()) };
    body();
}

/// Starts a task running `body`, with a stack of `stack_words` 32-bit words. When `body`
/// returns, the task ends. No handle is returned, so nothing can refer to a finished task.
pub fn spawn<F>(name: &str, stack_words: u16, priority: Priority, body: F) -> Result<(), Error>
where
    F: FnOnce() + Send + 'static,
{
    if priority >= max_priority() {
        return Err(Error::InvalidPriority);
    }
    let name = name.as_bytes();
    let name = name.get(..ffi::TASK_NAME_LEN - 1).unwrap_or(name);
    let param = Box::into_raw(Box::new(Box::new(body) as TaskBody));
    // SAFETY: `name` is valid for `name.len()` bytes (glue.c copies and terminates it);
    // `param` is a leaked box that `kernel_run_task_body` takes back.
    let created = unsafe {
        ffi::kernel_spawn(
            param.cast(),
            name.as_ptr(),
            name.len() as u32,
            u32::from(stack_words),
            u32::from(priority),
        )
    };
    if created != 1 {
        // SAFETY: the task was not created, so `param` is still ours.
        drop(unsafe { Box::from_raw(param) });
        return Err(Error::OutOfMemory);
    }
    Ok(())
}

/// Spawns `init` as the first task and starts the scheduler. Never returns.
///
/// `init` runs at the highest priority below the timer daemon's, so it finishes setting up
/// before any task it starts gets to run. On the sim a task at the daemon's priority keeps the
/// tick on the host's clock (see `sim_clock`).
pub fn start<F>(init_stack_words: u16, init: F) -> !
where
    F: FnOnce() + Send + 'static,
{
    if let Err(e) = spawn("init", init_stack_words, init_priority(), init) {
        panic!("cannot create the init task: {e}");
    }
    #[cfg(target_os = "linux")]
    if let Err(e) = crate::sim_clock::start() {
        panic!("cannot create the sim's clock task: {e}");
    }
    // SAFETY: called once, from the main thread, before any task runs.
    unsafe { ffi::freertos_rs_vTaskStartScheduler() }
}

/// The init task's priority: just below the timer daemon's (`configMAX_PRIORITIES - 1`).
pub fn init_priority() -> Priority {
    max_priority().saturating_sub(2)
}

/// The FreeRTOS kernel version (`tskKERNEL_VERSION_NUMBER`), e.g. "V11.2.0".
pub fn kernel_version() -> &'static str {
    // SAFETY: the kernel returns a pointer to its static, NUL-terminated version literal.
    let version = unsafe { core::ffi::CStr::from_ptr(ffi::kernel_version()) };
    version.to_str().unwrap_or("?")
}

/// Lets other tasks of the same priority run.
pub fn yield_now() {
    // SAFETY: taskYIELD from task context.
    unsafe { ffi::freertos_rs_task_yield() }
}

/// What a task is doing (FreeRTOS `eTaskState`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TaskState {
    Running,
    Ready,
    Blocked,
    Suspended,
    Deleted,
    Invalid,
}

impl TaskState {
    fn from_raw(raw: u32) -> TaskState {
        match raw {
            0 => TaskState::Running,
            1 => TaskState::Ready,
            2 => TaskState::Blocked,
            3 => TaskState::Suspended,
            4 => TaskState::Deleted,
            _ => TaskState::Invalid,
        }
    }

    /// A word for the `task` command.
    pub fn as_str(self) -> &'static str {
        match self {
            TaskState::Running => "running",
            TaskState::Ready => "ready",
            TaskState::Blocked => "blocked",
            TaskState::Suspended => "suspended",
            TaskState::Deleted => "deleted",
            TaskState::Invalid => "invalid",
        }
    }
}

/// One task, as the `task` command shows it.
#[derive(Clone, Debug)]
pub struct TaskInfo {
    pub name: heapless::String<{ ffi::TASK_NAME_LEN }>,
    pub number: u32,
    pub state: TaskState,
    pub priority: u32,
    /// The least free stack ever seen, in 32-bit words. In the sim, tasks run on host
    /// threads, so this is about the FreeRTOS stack, not the real one.
    pub stack_high_water_words: u32,
}

/// The most tasks [`task_list`] reports.
pub const TASK_LIST_MAX: usize = 24;

/// A snapshot of every task, ordered by task number (creation order).
pub fn task_list() -> heapless::Vec<TaskInfo, TASK_LIST_MAX> {
    let mut rows = [ffi::TaskRow {
        name: [0; ffi::TASK_NAME_LEN],
        number: 0,
        state: 0,
        priority: 0,
        stack_high_water_words: 0,
    }; TASK_LIST_MAX];
    // SAFETY: `rows` has room for TASK_LIST_MAX rows and glue.c fills at most that many.
    let filled = unsafe { ffi::kernel_task_list(rows.as_mut_ptr(), TASK_LIST_MAX as u32) };
    let mut list: heapless::Vec<TaskInfo, TASK_LIST_MAX> = rows
        .iter()
        .take(filled as usize)
        .map(|row| {
            let len = row
                .name
                .iter()
                .position(|b| *b == 0)
                .unwrap_or(row.name.len());
            let text = core::str::from_utf8(&row.name[..len]).unwrap_or("?");
            let mut name = heapless::String::new();
            for c in text.chars() {
                if name.push(c).is_err() {
                    break;
                }
            }
            TaskInfo {
                name,
                number: row.number,
                state: TaskState::from_raw(row.state),
                priority: row.priority,
                stack_high_water_words: row.stack_high_water_words,
            }
        })
        .collect();
    list.sort_unstable_by_key(|t| t.number);
    list
}
