/* FreeRTOS port for the C-SKY ck804 core: scheduler start, yield and critical sections.
 *
 * The rest of the port:
 * - portasm.S: the context switch (TSPEND, exception 22), the entry every interrupt vector
 *   points at (it moves the handler onto the interrupt stack), and the first task's start;
 * - atomic.c: the atomic operations LLVM calls on a core without atomic instructions;
 * - kernel/src/port: the initial task frame (pxPortInitialiseStack), the tick, and the
 *   numbers shared by all three (port_layout.h is generated from them).
 *
 * The board sets up the tick source (CoreTIM) and routes its interrupt to the kernel's tick
 * before it starts the scheduler; it also supplies csky_irq_dispatch, which portasm.S calls
 * with the number of the interrupt being served. */
#include "FreeRTOS.h"
#include "task.h"

/* Restores the context of pxCurrentTCB with interrupts on and never returns (portasm.S). */
void vPortStartFirstTask(void) __attribute__((noreturn));

/* How deep the running code is in critical sections. It starts at 1: until the first task
 * runs, interrupts stay off (the reset state), so a critical section left before then (as
 * xTaskCreate does) must not turn them on. The first task starts at depth 0. */
static volatile UBaseType_t uxCriticalNesting = 1;

/* How many interrupt handlers are running: portasm.S counts csky_irq_dispatch in and out
 * (handlers never nest, so it is 0 or 1). kernel::in_isr reads it. */
volatile UBaseType_t uxPortInterruptNesting = 0;

BaseType_t xPortIsInsideInterrupt(void) { return uxPortInterruptNesting != 0 ? pdTRUE : pdFALSE; }

void vPortEnterCritical(void) {
    portDISABLE_INTERRUPTS();
    uxCriticalNesting++;
}

void vPortExitCritical(void) {
    configASSERT(uxCriticalNesting != 0);
    uxCriticalNesting--;
    if (uxCriticalNesting == 0) {
        portENABLE_INTERRUPTS();
    }
}

/* Pends the switch. From a task it is taken at once (or when the critical section it is in
 * ends); from an interrupt handler, once the handler has returned, because interrupts stay
 * masked while it runs and the switch has the lowest priority. */
void vPortYield(void) {
    *(volatile uint32_t *)PORT_VIC_TSPEND = 1;
    __asm__ volatile("sync" ::: "memory");
}

BaseType_t xPortStartScheduler(void) {
    *(volatile uint32_t *)PORT_VIC_TSPR = PORT_TSPR_LOWEST;
    uxCriticalNesting = 0;
    vPortStartFirstTask();
}

/* The firmware never stops the scheduler. */
void vPortEndScheduler(void) {
    configASSERT(pdFALSE);
}
