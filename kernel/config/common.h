/* The FreeRTOS settings every board shares. Values follow the FreeRTOSConfig.h of
 * WinnerMicro's W800 SDK (wm_sdk_w800) where they matter to behaviour: 16 priorities, 1 kHz
 * tick, 8-byte alignment, 32-bit ticks. A board's FreeRTOSConfig.h sets
 * configTOTAL_HEAP_SIZE, configCHECK_FOR_STACK_OVERFLOW, configUSE_IDLE_HOOK and
 * configUSE_TICK_HOOK, then includes this. */
#ifndef FREERTOS_CONFIG_COMMON_H
#define FREERTOS_CONFIG_COMMON_H

#include <stdint.h>

void kernel_assert_failed(const char *file, int line);
#define configASSERT(x)                                                                            \
    do {                                                                                           \
        if ((x) == 0) {                                                                            \
            kernel_assert_failed(__FILE__, __LINE__);                                              \
        }                                                                                          \
    } while (0)

#define configUSE_PREEMPTION                    1
#define configUSE_TIME_SLICING                  1
#define configUSE_PORT_OPTIMISED_TASK_SELECTION 0
#define configTICK_RATE_HZ                      ((TickType_t)1000)
#define configMAX_PRIORITIES                    16
#define configMINIMAL_STACK_SIZE                ((unsigned short)256)
#define configMAX_TASK_NAME_LEN                 16
#define configTICK_TYPE_WIDTH_IN_BITS           TICK_TYPE_WIDTH_32_BITS
#define configIDLE_SHOULD_YIELD                 1
#define configSTACK_DEPTH_TYPE                  uint32_t

#define configSUPPORT_DYNAMIC_ALLOCATION 1
#define configSUPPORT_STATIC_ALLOCATION  0
#define configAPPLICATION_ALLOCATED_HEAP 0

#define configUSE_MALLOC_FAILED_HOOK   0

#define configUSE_MUTEXES             1
#define configUSE_RECURSIVE_MUTEXES   0
#define configUSE_COUNTING_SEMAPHORES 1
#define configUSE_TASK_NOTIFICATIONS  1
#define configUSE_EVENT_GROUPS        1
#define configUSE_QUEUE_SETS          0
#define configQUEUE_REGISTRY_SIZE     0
#define configUSE_CO_ROUTINES         0
#define configUSE_TRACE_FACILITY      1
/* Slot 0: lwIP's socket error of the task (net/lwip-sys/port/glue.c). */
#define configNUM_THREAD_LOCAL_STORAGE_POINTERS 1
#define configUSE_STATS_FORMATTING_FUNCTIONS 0
#define configGENERATE_RUN_TIME_STATS 0

#define configUSE_TIMERS             1
#define configTIMER_TASK_PRIORITY    (configMAX_PRIORITIES - 1)
#define configTIMER_QUEUE_LENGTH     16
#define configTIMER_TASK_STACK_DEPTH 512

#define INCLUDE_vTaskPrioritySet            0
#define INCLUDE_uxTaskPriorityGet           1
#define INCLUDE_vTaskDelete                 1
#define INCLUDE_vTaskSuspend                1
#define INCLUDE_vTaskDelayUntil             1
#define INCLUDE_vTaskDelay                  1
#define INCLUDE_xTaskGetSchedulerState      1
#define INCLUDE_xTaskGetCurrentTaskHandle   1
#define INCLUDE_uxTaskGetStackHighWaterMark 1
#define INCLUDE_xTaskGetIdleTaskHandle      0
#define INCLUDE_eTaskGetState               1
#define INCLUDE_xTimerPendFunctionCall      1
#define INCLUDE_HeapFreeSize                1

#endif
