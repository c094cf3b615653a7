/* FreeRTOS configuration of the sim board: the POSIX port on i686 Linux. */
#ifndef FREERTOS_CONFIG_H
#define FREERTOS_CONFIG_H

/* heap_4 over a static array sized like the free heap the W800 SDK reports at boot
 * (226 768 bytes) plus room for the host-side allocations of the sim's std runtime. */
#define configTOTAL_HEAP_SIZE ((size_t)(256 * 1024))

#include "../common.h"

#endif
