/* Startup of a C-SKY ck804 board (the W800's XT804, QEMU's smartl).
 *
 * The linker scripts (ld/) provide __stack_top, __data_start/__data_end/__data_load and
 * __bss_start/__bss_end; XT804_VECTORS is the vector table (bsp/src/xt804/mod.rs) and
 * xt804_main the firmware's entry (the xt804_entry! macro). */

/* PSR at start: supervisor, exceptions enabled (so that a fault is taken and reported, not
 * a core that stops), interrupts off until the first task runs. */
#define BOOT_PSR 0x80000100

    .text

/* Exception 0, and where a software restart lands: sets up the core and RAM as after a
 * power-on, then runs the firmware. */
    .align  2
    .global xt804_reset
    .type   xt804_reset, @function
xt804_reset:
    lrw     r0, BOOT_PSR
    mtcr    r0, psr
    lrw     r0, XT804_VECTORS
    mtcr    r0, vbr
    lrw     r0, __stack_top
    mov     sp, r0
    /* .data from its load image: on a restart it must start over as well. */
    lrw     r1, __data_load
    lrw     r2, __data_start
    lrw     r3, __data_end
1:  cmphs   r2, r3
    bt      2f
    ldw     r0, (r1, 0)
    stw     r0, (r2, 0)
    addi    r1, r1, 4
    addi    r2, r2, 4
    br      1b
2:  lrw     r2, __bss_start
    lrw     r3, __bss_end
    movi    r0, 0
3:  cmphs   r2, r3
    bt      4f
    stw     r0, (r2, 0)
    addi    r2, r2, 4
    br      3b
4:  jbsr    xt804_main
5:  br      5b
    .size   xt804_reset, . - xt804_reset

/* void xt804_restart(void): starts the firmware over, as a reset would, with interrupts
 * masked from the first instruction on. */
    .align  2
    .global xt804_restart
    .type   xt804_restart, @function
xt804_restart:
    psrclr  ie
    br      xt804_reset
    .size   xt804_restart, . - xt804_restart

/* void xt804_copy_and_run(const uint32_t *from, uint32_t *to, uint32_t words,
 *                         uint32_t entry): copies `words` words and starts the copy at
 * `entry`, interrupts masked: how a board whose code runs from RAM (QEMU's smartl) starts
 * the image its `app` partition holds, as the W800's bootloader does from flash. It overwrites
 * the code it was called from, so it runs from RAM itself: in a .data section, which the
 * startup loads into RAM, and it calls nothing. */
    .section .data.xt804_copy_and_run, "awx"
    .align  2
    .global xt804_copy_and_run
    .type   xt804_copy_and_run, @function
xt804_copy_and_run:
    psrclr  ie
7:  cmpnei  r2, 0
    bf      8f
    ldw     r12, (r0, 0)
    stw     r12, (r1, 0)
    addi    r0, r0, 4
    addi    r1, r1, 4
    subi    r2, r2, 1
    br      7b
8:  jmp     r3
    .size   xt804_copy_and_run, . - xt804_copy_and_run

    .text

/* Every exception the firmware does not expect (a bad access, an illegal instruction, ...):
 * hands the vector, EPC, EPSR and the link register to the board's xt804_fault_handler on the
 * top of the startup stack, which is good even when the faulting stack is not. It does not
 * return. */
    .align  2
    .global xt804_fault
    .type   xt804_fault, @function
xt804_fault:
    mfcr    r0, psr
    lsri    r0, r0, 16
    andi    r0, r0, 0x7f
    mfcr    r1, epc
    mfcr    r2, epsr
    mov     r3, r15
    lrw     r4, __stack_top
    mov     sp, r4
    jbsr    xt804_fault_handler
6:  br      6b
    .size   xt804_fault, . - xt804_fault

/* void abort(void): what LLVM calls for a trap on this core (Rust's abort, unreachable code
 * reached). A trap instruction makes it the fault it is, with the caller in r15. */
    .align  2
    .global abort
    .type   abort, @function
abort:
    trap    0
    br      abort
    .size   abort, . - abort
