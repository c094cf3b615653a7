/* Atomic operations for Rust on the ck804 core, which has no atomic read-modify-write
 * instructions: LLVM turns every Rust atomic into a call to one of these functions (GCC's
 * libatomic interface). The core is single, so an operation made with interrupts masked is
 * atomic. The memory-order arguments need nothing more: masking orders everything, and the
 * "memory" clobbers keep the compiler from moving accesses across. */
#include <stdbool.h>
#include <stdint.h>

#include "FreeRTOS.h"

/* An aligned load or store is one instruction, which an interrupt cannot split. */
#define PORT_ATOMIC_LOAD_STORE(n, type)                                                            \
    type __atomic_load_##n(const volatile void *ptr, int order) {                                  \
        (void)order;                                                                               \
        __asm__ volatile("" ::: "memory");                                                         \
        type value = *(const volatile type *)ptr;                                                  \
        __asm__ volatile("" ::: "memory");                                                         \
        return value;                                                                              \
    }                                                                                              \
    void __atomic_store_##n(volatile void *ptr, type value, int order) {                           \
        (void)order;                                                                               \
        __asm__ volatile("" ::: "memory");                                                         \
        *(volatile type *)ptr = value;                                                             \
        __asm__ volatile("" ::: "memory");                                                         \
    }

/* Replaces the value with `old <op> operand` and returns the old value. */
#define PORT_ATOMIC_FETCH(n, type, name, expr)                                                     \
    type __atomic_fetch_##name##_##n(volatile void *ptr, type operand, int order) {                \
        (void)order;                                                                               \
        uint32_t psr = ulPortSetInterruptMask();                                                   \
        type old = *(volatile type *)ptr;                                                          \
        *(volatile type *)ptr = (type)(expr);                                                      \
        vPortClearInterruptMask(psr);                                                              \
        return old;                                                                                \
    }

#define PORT_ATOMIC_RMW(n, type)                                                                   \
    PORT_ATOMIC_FETCH(n, type, add, old + operand)                                                 \
    PORT_ATOMIC_FETCH(n, type, sub, old - operand)                                                 \
    PORT_ATOMIC_FETCH(n, type, and, old & operand)                                                 \
    PORT_ATOMIC_FETCH(n, type, or, old | operand)                                                  \
    PORT_ATOMIC_FETCH(n, type, xor, old ^ operand)                                                 \
    PORT_ATOMIC_FETCH(n, type, nand, ~(old & operand))                                             \
    type __atomic_exchange_##n(volatile void *ptr, type value, int order) {                        \
        (void)order;                                                                               \
        uint32_t psr = ulPortSetInterruptMask();                                                   \
        type old = *(volatile type *)ptr;                                                          \
        *(volatile type *)ptr = value;                                                             \
        vPortClearInterruptMask(psr);                                                              \
        return old;                                                                                \
    }                                                                                              \
    /* Stores `desired` if the value is `*expected`; otherwise reports the value there. */         \
    bool __atomic_compare_exchange_##n(volatile void *ptr, void *expected, type desired,           \
                                       int success, int failure) {                                 \
        (void)success;                                                                             \
        (void)failure;                                                                             \
        uint32_t psr = ulPortSetInterruptMask();                                                   \
        type current = *(volatile type *)ptr;                                                      \
        bool equal = current == *(type *)expected;                                                 \
        if (equal) {                                                                               \
            *(volatile type *)ptr = desired;                                                       \
        } else {                                                                                   \
            *(type *)expected = current;                                                           \
        }                                                                                          \
        vPortClearInterruptMask(psr);                                                              \
        return equal;                                                                              \
    }

PORT_ATOMIC_LOAD_STORE(1, uint8_t)
PORT_ATOMIC_LOAD_STORE(2, uint16_t)
PORT_ATOMIC_LOAD_STORE(4, uint32_t)
PORT_ATOMIC_RMW(1, uint8_t)
PORT_ATOMIC_RMW(2, uint16_t)
PORT_ATOMIC_RMW(4, uint32_t)

/* A fence (Rust's `fence`, `Arc`'s drop): `sync` completes every earlier memory access before
 * any later one starts, and the clobber keeps the compiler from moving accesses across. */
void __sync_synchronize(void) {
    __asm__ volatile("sync" ::: "memory");
}
