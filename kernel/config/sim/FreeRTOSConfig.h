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

/* The sim's simulated interrupts (kernel/src/sim_irq.rs): the idle hook sleeps until the next
 * tick or a simulated interrupt instead of spinning a host core, and takes the interrupts
 * raised while it slept; the tick hook takes those raised while a task ran. */
#define configUSE_IDLE_HOOK 1
#define configUSE_TICK_HOOK 1

#include "../common.h"

#endif
