/* FreeRTOS configuration of the sim board: the POSIX port on i686 Linux. */
#ifndef FREERTOS_CONFIG_H
#define FREERTOS_CONFIG_H

/* heap_4 over a static array of the chip's size (config/csky), so that the sim runs out of
 * heap where the W800 would. The sim's host-side buffers (its network's frames, the std
 * runtime's) come from the C library, not from here. */
#define configTOTAL_HEAP_SIZE ((size_t)(200 * 1024))

/* Off: in the POSIX port every task runs on its own thread's stack, which the host guards;
 * the FreeRTOS stack the check would watch only holds the port's record of the thread. */
#define configCHECK_FOR_STACK_OVERFLOW 0

/* The sim's simulated interrupts and idle (kernel/src/sim_irq.rs): the idle hook takes the
 * interrupts raised while the idle task ran or slept, the tick hook those raised while a task
 * ran. When no task is due for two ticks or more, the idle task sleeps without ticks until the
 * next one is due or an interrupt is raised (tickless idle, our own sleep), instead of spinning
 * a host core; the ticks it slept are stepped from the host's clock. */
#define configUSE_IDLE_HOOK 1
#define configUSE_TICK_HOOK 1
#define configUSE_TICKLESS_IDLE 2
#define configEXPECTED_IDLE_TIME_BEFORE_SLEEP 2
#define portSUPPRESS_TICKS_AND_SLEEP(expected_ticks) kernel_sim_sleep(expected_ticks)

#include "../common.h"

void kernel_sim_sleep(uint32_t expected_ticks);

#endif
