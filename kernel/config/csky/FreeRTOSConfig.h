/* FreeRTOS configuration of the C-SKY boards (qemu, w800): our ck804 port, bare metal. */
#ifndef FREERTOS_CONFIG_H
#define FREERTOS_CONFIG_H

/* heap_4 in .bss, sized to what an OTA needs (docs/ram.md): task stacks, both TLS sessions,
 * the agent's buffers and the xz decoder its close borrows come from here. The most measured on
 * the sim (scripts/bench-ota, three links) is the close's 196,200 bytes; 200 KiB leaves 8,600
 * (4 %) for what the bench does not measure: an RSA device key, the chip's alignment. */
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
