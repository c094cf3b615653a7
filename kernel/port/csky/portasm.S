/* FreeRTOS port for the C-SKY ck804 core: the context switch, the interrupt entry and the
 * first task's start. Frame offsets come from port_layout.h (kernel/src/port/layout.rs).
 *
 * Exceptions on this core save nothing but PC and PSR (into EPC and EPSR) and mask
 * interrupts and exceptions; `rte` puts both back. So:
 * - The switch (TSPEND, exception 22, lowest priority) saves the whole context on the
 *   outgoing task's stack, lets vTaskSwitchContext choose the next task on the interrupt
 *   stack, and restores that task's context with `rte`. It only runs from task level: it is
 *   pended by vPortYield and taken when interrupts are on.
 * - An interrupt keeps the registers the handler may change on the interrupted task's stack,
 *   then runs csky_irq_dispatch (the board's) on the interrupt stack. Interrupts stay masked
 *   while it runs, so handlers never nest; a switch it asks for (portYIELD_FROM_ISR) is taken
 *   right after its `rte`. */
#include "port_layout.h"

#if defined(__csky_hard_float__)
#define FRAME_SIZE     PORT_FRAME_SIZE_HARD_FLOAT
#define IRQ_FRAME_SIZE PORT_IRQ_FRAME_SIZE_HARD_FLOAT
#else
#define FRAME_SIZE     PORT_FRAME_SIZE_SOFT_FLOAT
#define IRQ_FRAME_SIZE PORT_IRQ_FRAME_SIZE_SOFT_FLOAT
#endif

/* FCR (rounding, exception enables) and FESR (exception flags), the FPU's state besides its
 * registers, kept at the offsets `fcr` and `fesr` from sp, through r0. */
    .macro  save_fpu_status fcr, fesr
    mfcr    r0, cr<1, 2>
    stw     r0, (sp, \fcr)
    mfcr    r0, cr<2, 2>
    stw     r0, (sp, \fesr)
    .endm

    .macro  restore_fpu_status fcr, fesr
    ldw     r0, (sp, \fcr)
    mtcr    r0, cr<1, 2>
    ldw     r0, (sp, \fesr)
    mtcr    r0, cr<2, 2>
    .endm

/* The interrupt stack's top: where the stack pointer was when the scheduler started. From
 * then on, the stack main() ran on serves interrupt handlers and the scheduler only. */
    .section .bss.port_irq_stack_top, "aw", @nobits
    .align  2
port_irq_stack_top:
    .long   0

    .text

/* void vPortStartFirstTask(void): keeps the interrupt stack's top, then starts the task in
 * pxCurrentTCB by restoring its initial frame. */
    .align  2
    .global vPortStartFirstTask
    .type   vPortStartFirstTask, @function
vPortStartFirstTask:
    mov     r1, sp
    andni   r1, r1, 7
    lrw     r0, port_irq_stack_top
    stw     r1, (r0, 0)
    br      port_restore_context
    .size   vPortStartFirstTask, . - vPortStartFirstTask

/* Exception 22: the context switch. */
    .align  2
    .global csky_port_switch
    .type   csky_port_switch, @function
csky_port_switch:
    subi    sp, sp, FRAME_SIZE
    stm     r0-r13, (sp)
    stw     r15, (sp, PORT_FRAME_R15)
    addi    r0, sp, PORT_FRAME_R16
    stm     r16-r31, (r0)
    mfcr    r0, epsr
    stw     r0, (sp, PORT_FRAME_EPSR)
    mfcr    r0, epc
    stw     r0, (sp, PORT_FRAME_EPC)
#if defined(__csky_hard_float__)
    save_fpu_status PORT_FRAME_FCR, PORT_FRAME_FESR
    addi    r0, sp, PORT_FRAME_FR0
    fstms   fr0-fr15, (r0)
#endif
    lrw     r1, pxCurrentTCB
    ldw     r1, (r1, 0)
    stw     sp, (r1, 0)
    lrw     r0, port_irq_stack_top
    ldw     sp, (r0, 0)
    jbsr    vTaskSwitchContext
    /* Falls through into restoring the task vTaskSwitchContext chose. */

port_restore_context:
    lrw     r1, pxCurrentTCB
    ldw     r1, (r1, 0)
    ldw     sp, (r1, 0)
#if defined(__csky_hard_float__)
    restore_fpu_status PORT_FRAME_FCR, PORT_FRAME_FESR
    addi    r0, sp, PORT_FRAME_FR0
    fldms   fr0-fr15, (r0)
#endif
    ldw     r0, (sp, PORT_FRAME_EPSR)
    mtcr    r0, epsr
    ldw     r0, (sp, PORT_FRAME_EPC)
    mtcr    r0, epc
    addi    r0, sp, PORT_FRAME_R16
    ldm     r16-r31, (r0)
    ldw     r15, (sp, PORT_FRAME_R15)
    ldm     r0-r13, (sp)
    addi    sp, sp, FRAME_SIZE
    rte
    .size   csky_port_switch, . - csky_port_switch

/* Exceptions 32 and up: the VIC's interrupts. */
    .align  2
    .global csky_port_interrupt
    .type   csky_port_interrupt, @function
csky_port_interrupt:
    subi    sp, sp, IRQ_FRAME_SIZE
    stm     r0-r3, (sp)
    stw     r12, (sp, PORT_IRQ_FRAME_R12)
    stw     r13, (sp, PORT_IRQ_FRAME_R12 + 4)
    stw     r15, (sp, PORT_IRQ_FRAME_R15)
    addi    r0, sp, PORT_IRQ_FRAME_R18
    stm     r18-r31, (r0)
#if defined(__csky_hard_float__)
    save_fpu_status PORT_IRQ_FRAME_FCR, PORT_IRQ_FRAME_FESR
    addi    r0, sp, PORT_IRQ_FRAME_FR0
    fstms   fr0-fr7, (r0)
#endif
    /* Onto the interrupt stack, with the interrupted stack pointer as its first word. */
    mov     r1, sp
    lrw     r0, port_irq_stack_top
    ldw     sp, (r0, 0)
    subi    sp, sp, 8
    stw     r1, (sp, 0)
    /* The interrupt's number: the vector being served (PSR bits 22:16) less 32. */
    mfcr    r0, psr
    lsri    r0, r0, 16
    andi    r0, r0, 0x7f
    subi    r0, r0, PORT_FIRST_IRQ_VECTOR
    /* Counted in and out of the handler (port.c, uxPortInterruptNesting), through r2 and r3,
     * which the frame keeps. */
    lrw     r2, uxPortInterruptNesting
    ldw     r3, (r2, 0)
    addi    r3, r3, 1
    stw     r3, (r2, 0)
    jbsr    csky_irq_dispatch
    lrw     r2, uxPortInterruptNesting
    ldw     r3, (r2, 0)
    subi    r3, r3, 1
    stw     r3, (r2, 0)
    ldw     sp, (sp, 0)
#if defined(__csky_hard_float__)
    restore_fpu_status PORT_IRQ_FRAME_FCR, PORT_IRQ_FRAME_FESR
    addi    r0, sp, PORT_IRQ_FRAME_FR0
    fldms   fr0-fr7, (r0)
#endif
    addi    r0, sp, PORT_IRQ_FRAME_R18
    ldm     r18-r31, (r0)
    ldw     r15, (sp, PORT_IRQ_FRAME_R15)
    ldw     r13, (sp, PORT_IRQ_FRAME_R12 + 4)
    ldw     r12, (sp, PORT_IRQ_FRAME_R12)
    ldm     r0-r3, (sp)
    addi    sp, sp, IRQ_FRAME_SIZE
    rte
    .size   csky_port_interrupt, . - csky_port_interrupt
