/* The few FreeRTOS services the Rust side needs that the freertos-next shim does not offer.
 * Everything here is a thin call into the kernel: the logic stays in Rust. */
#include "FreeRTOS.h"
#include "task.h"
#include "timers.h"

#if defined(__linux__)
#include <limits.h>
#include <linux/futex.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>
#endif

/* The Rust side declares these types as 32-bit (the chip and the i686 sim are 32-bit). */
_Static_assert(sizeof(BaseType_t) == 4, "BaseType_t must be 32-bit");
_Static_assert(sizeof(UBaseType_t) == 4, "UBaseType_t must be 32-bit");
_Static_assert(sizeof(TickType_t) == 4, "TickType_t must be 32-bit");
_Static_assert(sizeof(size_t) == 4, "size_t must be 32-bit");
_Static_assert(sizeof(void *) == 4, "pointers must be 32-bit");

/* Runs a task's Rust body, then deletes the task. The delete happens here, outside any Rust
 * frame: in the POSIX port it ends the thread with pthread_exit, whose forced unwind must not
 * cross Rust code. */
void kernel_run_task_body(void *body);

static void kernel_task_trampoline(void *body) {
    kernel_run_task_body(body);
    vTaskDelete(NULL);
}

/* Creates a task running `body` (a `name` of `name_len` bytes is copied and terminated). */
BaseType_t kernel_spawn(void *body, const char *name, uint32_t name_len, uint32_t stack_words,
                        uint32_t priority) {
    char c_name[configMAX_TASK_NAME_LEN] = {0};
    for (uint32_t i = 0; i < name_len && i < configMAX_TASK_NAME_LEN - 1; i++) {
        c_name[i] = name[i];
    }
    return xTaskCreate(kernel_task_trampoline, c_name, stack_words, body, priority, NULL);
}

/* One row of the task list, with fixed-width fields the Rust side can mirror exactly. */
struct kernel_task_row {
    char name[configMAX_TASK_NAME_LEN];
    uint32_t number;
    uint32_t state;
    uint32_t priority;
    uint32_t stack_high_water_words;
};

/* Fills up to `max` rows; returns the number filled (0 when out of memory). */
uint32_t kernel_task_list(struct kernel_task_row *rows, uint32_t max) {
    UBaseType_t count = uxTaskGetNumberOfTasks();
    TaskStatus_t *status = pvPortMalloc(sizeof(TaskStatus_t) * count);
    if (status == NULL) {
        return 0;
    }
    count = uxTaskGetSystemState(status, count, NULL);
    uint32_t filled = 0;
    for (UBaseType_t i = 0; i < count && filled < max; i++) {
        struct kernel_task_row *row = &rows[filled++];
        for (int c = 0; c < configMAX_TASK_NAME_LEN; c++) {
            row->name[c] = status[i].pcTaskName[c];
            if (row->name[c] == '\0') {
                break;
            }
        }
        row->name[configMAX_TASK_NAME_LEN - 1] = '\0';
        row->number = status[i].xTaskNumber;
        row->state = (uint32_t)status[i].eCurrentState;
        row->priority = status[i].uxCurrentPriority;
        row->stack_high_water_words = status[i].usStackHighWaterMark;
    }
    vPortFree(status);
    return filled;
}

/* Creates a timer. FreeRTOS keeps `name` itself, not a copy: the caller keeps it alive (and
 * NUL-terminated) until the timer is deleted. */
TimerHandle_t kernel_timer_create(const char *name, TickType_t period, BaseType_t auto_reload,
                                  void *id, TimerCallbackFunction_t callback) {
    return xTimerCreate(name, period, auto_reload != 0 ? pdTRUE : pdFALSE, id, callback);
}

/* Deletes a timer and then runs `release(context)` in the timer daemon. The daemon handles its
 * command queue in order, so `release` runs after the delete took effect: the timer's callback
 * can no longer run by then, and its closure may be freed. Returns pdFAIL when the delete could
 * not be queued (then nothing was done); when only the release could not be queued, the
 * closure leaks, which is safe. */
BaseType_t kernel_timer_delete_then(TimerHandle_t timer, PendedFunction_t release, void *context,
                                    TickType_t block) {
    if (xTimerDelete(timer, block) != pdPASS) {
        return pdFAIL;
    }
    (void)xTimerPendFunctionCall(release, context, 0, block);
    return pdPASS;
}

/* The name a timer was created with (FreeRTOS keeps the pointer it was given). */
const char *kernel_timer_name(TimerHandle_t timer) { return pcTimerGetName(timer); }

/* Whether the caller is the timer daemon, where blocking on the daemon's own queue deadlocks. */
BaseType_t kernel_in_timer_daemon(void) {
    return xTaskGetCurrentTaskHandle() == xTimerGetTimerDaemonTaskHandle();
}

#if defined(__linux__)
/* Adds ticks the tick interrupt did not deliver (FreeRTOS's xTaskCatchUpTicks); from a task.
 * The sim's clock task uses it to keep the tick on the host's clock. */
BaseType_t kernel_catch_up_ticks(TickType_t ticks) { return xTaskCatchUpTicks(ticks); }

/* The host's monotonic clock, which the sim's tick follows. */
uint64_t kernel_host_monotonic_ns(void) {
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    return (uint64_t)now.tv_sec * 1000000000u + (uint64_t)now.tv_nsec;
}

/* The sim's idle task sleeps here while `*word` (the pending simulated interrupts) is 0, for at
 * most `timeout_ns`: a raise (kernel_host_wake) or a signal (the tick, which the port sends to
 * the running task's thread: this one) ends the sleep. The futex compares `*word` with 0 in the
 * kernel, so a raise just before the sleep is not missed. */
void kernel_host_idle_sleep(uint32_t *word, uint64_t timeout_ns) {
    struct timespec timeout = {.tv_sec = (time_t)(timeout_ns / 1000000000u),
                               .tv_nsec = (long)(timeout_ns % 1000000000u)};
    (void)syscall(SYS_futex, word, FUTEX_WAIT_PRIVATE, 0u, &timeout, NULL, 0);
}

/* Set while the idle task sleeps without ticks (kernel/src/sim_irq.rs). */
static uint32_t kernel_tickless;

/* Marks the start (`asleep` != 0) and the end of the idle task's sleep without ticks. */
void kernel_host_tickless(int32_t asleep) {
    __atomic_store_n(&kernel_tickless, asleep != 0 ? 1u : 0u, __ATOMIC_SEQ_CST);
    if (asleep == 0) {
        (void)syscall(SYS_futex, &kernel_tickless, FUTEX_WAKE_PRIVATE, INT_MAX, NULL, NULL, 0);
    }
}

/* The POSIX port's tick thread is the one caller of usleep in the sim (port.c,
 * prvTimerTickHandler): it signals a tick to the running task's thread, then sleeps one tick
 * period. While the idle task sleeps without ticks those signals are blocked and dropped (the
 * count is stepped from the host's clock instead), so the thread waits for that sleep to end
 * rather than wake a thousand times a second for nothing. This definition takes the place of
 * the C library's. */
int usleep(useconds_t usec) {
    while (__atomic_load_n(&kernel_tickless, __ATOMIC_SEQ_CST) != 0) {
        (void)syscall(SYS_futex, &kernel_tickless, FUTEX_WAIT_PRIVATE, 1u, NULL, NULL, 0);
    }
    struct timespec period = {.tv_sec = (time_t)(usec / 1000000u),
                              .tv_nsec = (long)(usec % 1000000u) * 1000};
    return nanosleep(&period, NULL);
}

/* Blocks (`masked` != 0) or unblocks the tick's signal (SIGALRM in the POSIX port) on the
 * calling thread: the idle task's tickless sleep. */
void kernel_host_mask_tick(int32_t masked) {
    sigset_t tick;
    sigemptyset(&tick);
    sigaddset(&tick, SIGALRM);
    (void)pthread_sigmask(masked != 0 ? SIG_BLOCK : SIG_UNBLOCK, &tick, NULL);
}

/* Takes the tick signals that came while the calling thread blocked them, without handling
 * them: the ticks slept through are stepped from the host's clock instead. */
void kernel_host_discard_tick(void) {
    sigset_t tick;
    sigemptyset(&tick);
    sigaddset(&tick, SIGALRM);
    struct timespec now = {0, 0};
    (void)sigtimedwait(&tick, NULL, &now);
}

/* Whether the tickless sleep may go on (eTaskConfirmSleepModeStatus); with the scheduler
 * suspended. */
BaseType_t kernel_may_sleep(void) { return eTaskConfirmSleepModeStatus() != eAbortSleep; }

/* Adds the ticks a tickless sleep lasted (vTaskStepTick); with the scheduler suspended. */
void kernel_step_tick(TickType_t ticks) { vTaskStepTick(ticks); }

/* Wakes the idle task from kernel_host_idle_sleep on `word`; from any thread. */
void kernel_host_wake(uint32_t *word) {
    (void)syscall(SYS_futex, word, FUTEX_WAKE_PRIVATE, INT_MAX, NULL, NULL, 0);
}

/* Stops the sim with `why` on stderr, without unwinding: for the allocator, which must not
 * unwind, and whose report must not allocate. */
__attribute__((noreturn)) void kernel_host_abort(const char *why) {
    static const char prefix[] = "kernel: ";
    (void)!write(STDERR_FILENO, prefix, sizeof prefix - 1);
    (void)!write(STDERR_FILENO, why, strlen(why));
    (void)!write(STDERR_FILENO, "\n", 1);
    abort();
}
#endif

uint32_t kernel_tick_rate_hz(void) { return configTICK_RATE_HZ; }
uint32_t kernel_max_priorities(void) { return configMAX_PRIORITIES; }
size_t kernel_heap_total(void) { return configTOTAL_HEAP_SIZE; }

const char *kernel_version(void) { return tskKERNEL_VERSION_NUMBER; }
