/* lwIP's operating-system layer on FreeRTOS: semaphores, mutexes, mailboxes, threads, time
 * and the lightweight protection lwIP takes around its pools. Timeouts are in milliseconds;
 * 0 means wait without end. */
#include "lwip/opt.h"
#include "lwip/sys.h"
#include "lwip/err.h"

#include "FreeRTOS.h"
#include "queue.h"
#include "semphr.h"
#include "task.h"

static TickType_t to_ticks(u32_t timeout_ms) {
    if (timeout_ms == 0) {
        return portMAX_DELAY;
    }
    TickType_t ticks = (TickType_t)((timeout_ms + portTICK_PERIOD_MS - 1) / portTICK_PERIOD_MS);
    return ticks == 0 ? 1 : ticks;
}

static u32_t elapsed_ms(TickType_t start) {
    return (u32_t)((xTaskGetTickCount() - start) * portTICK_PERIOD_MS);
}

void sys_init(void) {}

u32_t sys_now(void) { return (u32_t)(xTaskGetTickCount() * portTICK_PERIOD_MS); }

sys_prot_t sys_arch_protect(void) {
    taskENTER_CRITICAL();
    return 0;
}

void sys_arch_unprotect(sys_prot_t pval) {
    (void)pval;
    taskEXIT_CRITICAL();
}

err_t sys_sem_new(sys_sem_t *sem, u8_t count) {
    sem->handle = xSemaphoreCreateCounting(0xFF, count);
    return sem->handle == NULL ? ERR_MEM : ERR_OK;
}

void sys_sem_signal(sys_sem_t *sem) { (void)xSemaphoreGive(sem->handle); }

u32_t sys_arch_sem_wait(sys_sem_t *sem, u32_t timeout_ms) {
    TickType_t start = xTaskGetTickCount();
    if (xSemaphoreTake(sem->handle, to_ticks(timeout_ms)) != pdTRUE) {
        return SYS_ARCH_TIMEOUT;
    }
    return elapsed_ms(start);
}

void sys_sem_free(sys_sem_t *sem) {
    vSemaphoreDelete(sem->handle);
    sem->handle = NULL;
}

err_t sys_mutex_new(sys_mutex_t *mutex) {
    mutex->handle = xSemaphoreCreateMutex();
    return mutex->handle == NULL ? ERR_MEM : ERR_OK;
}

void sys_mutex_lock(sys_mutex_t *mutex) { (void)xSemaphoreTake(mutex->handle, portMAX_DELAY); }

void sys_mutex_unlock(sys_mutex_t *mutex) { (void)xSemaphoreGive(mutex->handle); }

void sys_mutex_free(sys_mutex_t *mutex) {
    vSemaphoreDelete(mutex->handle);
    mutex->handle = NULL;
}

err_t sys_mbox_new(sys_mbox_t *mbox, int size) {
    mbox->handle = xQueueCreate((UBaseType_t)(size > 0 ? size : 1), sizeof(void *));
    return mbox->handle == NULL ? ERR_MEM : ERR_OK;
}

void sys_mbox_post(sys_mbox_t *mbox, void *msg) { (void)xQueueSendToBack(mbox->handle, &msg, portMAX_DELAY); }

err_t sys_mbox_trypost(sys_mbox_t *mbox, void *msg) {
    return xQueueSendToBack(mbox->handle, &msg, 0) == pdTRUE ? ERR_OK : ERR_MEM;
}

err_t sys_mbox_trypost_fromisr(sys_mbox_t *mbox, void *msg) {
    BaseType_t woken = pdFALSE;
    BaseType_t sent = xQueueSendToBackFromISR(mbox->handle, &msg, &woken);
    portYIELD_FROM_ISR(woken);
    return sent == pdTRUE ? ERR_OK : ERR_MEM;
}

u32_t sys_arch_mbox_fetch(sys_mbox_t *mbox, void **msg, u32_t timeout_ms) {
    void *received = NULL;
    TickType_t start = xTaskGetTickCount();
    if (xQueueReceive(mbox->handle, &received, to_ticks(timeout_ms)) != pdTRUE) {
        if (msg != NULL) {
            *msg = NULL;
        }
        return SYS_ARCH_TIMEOUT;
    }
    if (msg != NULL) {
        *msg = received;
    }
    return elapsed_ms(start);
}

u32_t sys_arch_mbox_tryfetch(sys_mbox_t *mbox, void **msg) {
    void *received = NULL;
    if (xQueueReceive(mbox->handle, &received, 0) != pdTRUE) {
        return SYS_MBOX_EMPTY;
    }
    if (msg != NULL) {
        *msg = received;
    }
    return 0;
}

void sys_mbox_free(sys_mbox_t *mbox) {
    vQueueDelete(mbox->handle);
    mbox->handle = NULL;
}

sys_thread_t sys_thread_new(const char *name, lwip_thread_fn thread, void *arg, int stacksize, int prio) {
    TaskHandle_t handle = NULL;
    if (xTaskCreate(thread, name, (configSTACK_DEPTH_TYPE)stacksize, arg, (UBaseType_t)prio, &handle) != pdPASS) {
        LWIP_ASSERT("cannot create an lwIP thread", 0);
    }
    return handle;
}
