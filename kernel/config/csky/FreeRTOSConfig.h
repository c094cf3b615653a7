/* FreeRTOS configuration of the C-SKY boards (qemu, w800): our ck804 port, bare metal. */
#ifndef FREERTOS_CONFIG_H
#define FREERTOS_CONFIG_H

/* heap_4 in .bss. The W800 has 288 KiB of RAM (0x2000_0000-0x2004_7FFF) and its SDK reports
 * 226 768 bytes free at boot; 200 KiB leaves room for .data/.bss, the interrupt stack and
 * the RAM the linker scripts keep for the reset-reason word. Task stacks come from here. */
#define configTOTAL_HEAP_SIZE ((size_t)(200 * 1024))

/* Method 2 of the FreeRTOS stack overflow check ("Stack Usage and Stack Overflow Checking"
 * in the FreeRTOS documentation): at every switch away from a task, its saved stack pointer
 * must lie inside its stack and the last 16 bytes of the stack must still hold the fill
 * pattern. A failure calls vApplicationStackOverflowHook (kernel/src/port), which stops the
 * firmware naming the task. */
#define configCHECK_FOR_STACK_OVERFLOW 2

/* No hooks: the idle task spins as FreeRTOS's does (the core's low-power wait is not used). */
#define configUSE_IDLE_HOOK 0
#define configUSE_TICK_HOOK 0

#include "../common.h"

#endif
