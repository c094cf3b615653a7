/* Compiler and platform glue for lwIP: both our targets are 32-bit little-endian GCC. */
#ifndef LWIP_ARCH_CC_H
#define LWIP_ARCH_CC_H

#include <stdint.h>
#include <stddef.h>
/* The C library's fd_set and struct timeval, so that lwIP's sockets.h uses them rather than
 * declaring its own (which would clash wherever the library's headers are included too). */
#include <sys/select.h>
#include <sys/time.h>

#define BYTE_ORDER LITTLE_ENDIAN
#define LWIP_NO_INTTYPES_H 0

/* Diagnostics go nowhere (LWIP_DEBUG is off); an assertion is a bug and stops the firmware
 * through the Rust side, which reports it. */
void lwip_port_assert(const char *message, const char *file, int line);
#define LWIP_PLATFORM_DIAG(x) do { } while (0)
#define LWIP_PLATFORM_ASSERT(x) lwip_port_assert((x), __FILE__, __LINE__)

#endif
