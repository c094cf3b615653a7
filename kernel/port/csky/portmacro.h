/* FreeRTOS port for the C-SKY ck804 core (the W800's XT804, QEMU's smartl): types and macros.
 *
 * Interrupts are masked with PSR.IE only: the core has no priority threshold register the
 * kernel could use, so there is no configMAX_SYSCALL_INTERRUPT_PRIORITY and every interrupt
 * handler may call the FromISR services. The context switch is the VIC's software interrupt
 * (TSPEND, exception 22) at the lowest priority; see port.c and portasm.S. */
#ifndef PORTMACRO_H
#define PORTMACRO_H

#include <stdint.h>

#include "port_layout.h"

#define portCHAR       char
#define portFLOAT      float
#define portDOUBLE     double
#define portLONG       long
#define portSHORT      short
#define portSTACK_TYPE uint32_t
#define portBASE_TYPE  long

typedef portSTACK_TYPE StackType_t;
typedef long BaseType_t;
typedef unsigned long UBaseType_t;

#if configTICK_TYPE_WIDTH_IN_BITS != TICK_TYPE_WIDTH_32_BITS
#error "the C-SKY port has 32-bit ticks"
#endif
typedef uint32_t TickType_t;
#define portMAX_DELAY ((TickType_t)0xffffffffUL)
/* A 32-bit load is one instruction: reading the tick count needs no critical section. */
#define portTICK_TYPE_IS_ATOMIC 1

#define portSTACK_GROWTH    (-1)
#define portTICK_PERIOD_MS  ((TickType_t)1000 / configTICK_RATE_HZ)
#define portBYTE_ALIGNMENT  8
#define portDONT_DISCARD    __attribute__((used))
#define portNOP()           __asm__ volatile("nop")
#define portMEMORY_BARRIER() __asm__ volatile("" ::: "memory")

/* Scheduler utilities. */
void vPortYield(void);
#define portYIELD()                        vPortYield()
#define portEND_SWITCHING_ISR(xSwitchRequired)                                                     \
    do {                                                                                           \
        if ((xSwitchRequired) != pdFALSE) {                                                        \
            vPortYield();                                                                          \
        }                                                                                          \
    } while (0)
#define portYIELD_FROM_ISR(x) portEND_SWITCHING_ISR(x)

/* Whether an interrupt handler is running (port.c). */
BaseType_t xPortIsInsideInterrupt(void);

/* Critical sections. */
void vPortEnterCritical(void);
void vPortExitCritical(void);
#define portENTER_CRITICAL() vPortEnterCritical()
#define portEXIT_CRITICAL()  vPortExitCritical()

#define portDISABLE_INTERRUPTS() __asm__ volatile("psrclr ie" ::: "memory")
#define portENABLE_INTERRUPTS()  __asm__ volatile("psrset ie" ::: "memory")

/* Masks interrupts and returns the PSR from before, for ulPortClearInterruptMask. */
static inline __attribute__((always_inline)) uint32_t ulPortSetInterruptMask(void) {
    uint32_t psr;
    __asm__ volatile("mfcr %0, psr\n\tpsrclr ie" : "=r"(psr)::"memory");
    return psr;
}

/* Unmasks interrupts if they were enabled when `psr` was read; changes no other PSR bit. */
static inline __attribute__((always_inline)) void vPortClearInterruptMask(uint32_t psr) {
    if ((psr & PORT_PSR_IE) != 0) {
        portENABLE_INTERRUPTS();
    }
}

#define portSET_INTERRUPT_MASK_FROM_ISR()       ulPortSetInterruptMask()
#define portCLEAR_INTERRUPT_MASK_FROM_ISR(psr)  vPortClearInterruptMask(psr)

#define portTASK_FUNCTION_PROTO(vFunction, pvParameters) void vFunction(void *pvParameters)
#define portTASK_FUNCTION(vFunction, pvParameters)       void vFunction(void *pvParameters)

#endif
