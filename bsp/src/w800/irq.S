/* Interrupt masking around the W800 board's flash commands (bsp/src/w800/qflash.rs): the
 * command runs from RAM while the flash is busy, and no interrupt may fetch its handler from
 * the flash meanwhile. PSR bit 6 (IE) enables interrupts (docs/w800.md, "RTOS port"). */

    .text

/* uint32_t w800_irq_save(void): masks interrupts, returns the PSR from before. */
    .align  2
    .global w800_irq_save
    .type   w800_irq_save, @function
w800_irq_save:
    mfcr    r0, psr
    psrclr  ie
    rts
    .size   w800_irq_save, . - w800_irq_save

/* void w800_irq_restore(uint32_t psr): puts back a PSR from w800_irq_save. */
    .align  2
    .global w800_irq_restore
    .type   w800_irq_restore, @function
w800_irq_restore:
    mtcr    r0, psr
    rts
    .size   w800_irq_restore, . - w800_irq_restore
