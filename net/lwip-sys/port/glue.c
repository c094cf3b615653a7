/* The station interface and the few lwIP calls the Rust side makes, each taking the core lock
 * itself so that Rust never handles lwIP structures. Frames go out through
 * `net_link_output` (Rust) and come in through `lwip_port_input`. */
#include <stdint.h>
#include <string.h>

#include "FreeRTOS.h"
#include "task.h"

#include "lwip/apps/sntp.h"
#include "lwip/dhcp.h"
#include "lwip/dns.h"
#include "lwip/etharp.h"
#include "lwip/netdb.h"
#include "lwip/netif.h"
#include "lwip/sockets.h"
#include "lwip/tcpip.h"
#include "netif/ethernet.h"

#define FRAME_MAX 1514

/* What the socket calls below return on failure (lwip-sys mirrors these). */
#define PORT_ERR_TIMEOUT (-1) /* the wait ran out */
#define PORT_ERR_CLOSED  (-2) /* the peer closed or reset, or the socket is not connected */
#define PORT_ERR_REFUSED (-3) /* the peer refused or is unreachable */
#define PORT_ERR_OTHER   (-4)

/* The thread-local storage slot that holds the calling task's socket error (see
 * lwip_port_set_errno and configNUM_THREAD_LOCAL_STORAGE_POINTERS). */
#define ERRNO_SLOT 0

/* Implemented in Rust: hands one Ethernet frame to the link; `link` is what was given to
 * `lwip_port_netif_add`. Returns 0 when the frame was taken (or deliberately dropped). */
extern int net_link_output(void *link, const uint8_t *frame, size_t len);

static struct netif station;
static uint32_t rand_state = 0x2545F491u;

unsigned int lwip_port_rand(void) {
    /* xorshift32: lwIP wants unpredictable ports, DNS IDs and ISNs, seeded from the board's
     * entropy by lwip_port_init. */
    uint32_t x = rand_state;
    x ^= x << 13;
    x ^= x >> 17;
    x ^= x << 5;
    rand_state = x;
    return x;
}

static void tcpip_ready(void *arg) { sys_sem_signal((sys_sem_t *)arg); }

/* Starts the tcpip thread and returns once it runs. */
int lwip_port_init(uint32_t seed) {
    rand_state = seed != 0 ? seed : 0x2545F491u;
    sys_sem_t ready;
    if (sys_sem_new(&ready, 0) != ERR_OK) {
        return -1;
    }
    tcpip_init(tcpip_ready, &ready);
    sys_arch_sem_wait(&ready, 0);
    sys_sem_free(&ready);
    return 0;
}

static err_t station_linkoutput(struct netif *netif, struct pbuf *p) {
    uint8_t frame[FRAME_MAX];
    if (p->tot_len > sizeof(frame)) {
        return ERR_BUF;
    }
    u16_t len = pbuf_copy_partial(p, frame, p->tot_len, 0);
    return net_link_output(netif->state, frame, len) == 0 ? ERR_OK : ERR_IF;
}

static err_t station_init(struct netif *netif) {
    netif->name[0] = 'w';
    netif->name[1] = 'l';
    netif->output = etharp_output;
    netif->linkoutput = station_linkoutput;
    netif->mtu = 1500;
    netif->hwaddr_len = ETH_HWADDR_LEN;
    netif->flags = NETIF_FLAG_BROADCAST | NETIF_FLAG_ETHARP | NETIF_FLAG_ETHERNET;
    netif_set_hostname(netif, "w800");
    return ERR_OK;
}

/* Adds the station interface (administratively up, link down) as the default route. */
int lwip_port_netif_add(void *link, const uint8_t mac[6]) {
    int result = 0;
    LOCK_TCPIP_CORE();
    memcpy(station.hwaddr, mac, ETH_HWADDR_LEN);
    if (netif_add(&station, IP4_ADDR_ANY4, IP4_ADDR_ANY4, IP4_ADDR_ANY4, link, station_init, tcpip_input) == NULL) {
        result = -1;
    } else {
        netif_set_default(&station);
        netif_set_up(&station);
        /* Keep the NTP servers DHCP offers (option 42), for `ntp start` without a name. */
        sntp_servermode_dhcp(1);
    }
    UNLOCK_TCPIP_CORE();
    return result;
}

/* One received frame; copied, so the caller's buffer is free again on return. */
int lwip_port_input(const uint8_t *frame, size_t len) {
    if (len > FRAME_MAX) {
        return -1;
    }
    struct pbuf *p = pbuf_alloc(PBUF_RAW, (u16_t)len, PBUF_POOL);
    if (p == NULL) {
        return -1;
    }
    pbuf_take(p, frame, (u16_t)len);
    if (station.input(p, &station) != ERR_OK) {
        pbuf_free(p);
        return -1;
    }
    return 0;
}

/* Link up starts DHCP; link down stops it and drops the address. */
void lwip_port_link(int up) {
    LOCK_TCPIP_CORE();
    if (up) {
        netif_set_link_up(&station);
        dhcp_start(&station);
    } else {
        dhcp_release_and_stop(&station);
        netif_set_link_down(&station);
    }
    UNLOCK_TCPIP_CORE();
}

struct lwip_port_netif_info {
    uint32_t ip, netmask, gateway, dns[2];
    uint8_t mac[6];
    uint8_t link_up, dhcp_bound;
};

void lwip_port_netif_info(struct lwip_port_netif_info *info) {
    LOCK_TCPIP_CORE();
    info->ip = ip4_addr_get_u32(netif_ip4_addr(&station));
    info->netmask = ip4_addr_get_u32(netif_ip4_netmask(&station));
    info->gateway = ip4_addr_get_u32(netif_ip4_gw(&station));
    for (int i = 0; i < 2; i++) {
        const ip_addr_t *dns = dns_getserver((u8_t)i);
        info->dns[i] = ip4_addr_get_u32(ip_2_ip4(dns));
    }
    memcpy(info->mac, station.hwaddr, 6);
    info->link_up = netif_is_link_up(&station) ? 1 : 0;
    info->dhcp_bound = dhcp_supplied_address(&station) ? 1 : 0;
    UNLOCK_TCPIP_CORE();
}

/* Resolves `name` (blocking, through the tcpip thread); the address is in network order. */
int lwip_port_resolve(const char *name, uint32_t *address) {
    ip_addr_t resolved;
    if (netconn_gethostbyname(name, &resolved) != ERR_OK) {
        return -1;
    }
    *address = ip4_addr_get_u32(ip_2_ip4(&resolved));
    return 0;
}

/* A socket of `type` (1 TCP stream, 2 ICMP raw) with receive/send timeouts in ms. */
int lwip_port_socket(int type, int timeout_ms) {
    int s = type == 1 ? lwip_socket(AF_INET, SOCK_STREAM, IPPROTO_TCP) : lwip_socket(AF_INET, SOCK_RAW, IP_PROTO_ICMP);
    if (s < 0) {
        return -1;
    }
    lwip_setsockopt(s, SOL_SOCKET, SO_RCVTIMEO, &timeout_ms, sizeof(timeout_ms));
    lwip_setsockopt(s, SOL_SOCKET, SO_SNDTIMEO, &timeout_ms, sizeof(timeout_ms));
    if (type == 1) {
        /* Nagle off: a TLS handshake writes its flights in pieces (ClientKeyExchange, then
         * ChangeCipherSpec and Finished), and Nagle would hold the second until the server
         * acknowledged the first, which it delays: a round trip and ~40 ms per handshake
         * (docs/performance.md, "Where the time goes"). Every write here is a whole record or
         * MQTT packet, so nothing is gained by coalescing. */
        int on = 1;
        lwip_setsockopt(s, IPPROTO_TCP, TCP_NODELAY, &on, sizeof(on));
    }
    return s;
}

int lwip_port_set_recv_timeout(int s, int timeout_ms) {
    return lwip_setsockopt(s, SOL_SOCKET, SO_RCVTIMEO, &timeout_ms, sizeof(timeout_ms));
}

static void fill_address(struct sockaddr_in *to, uint32_t address, uint16_t port) {
    memset(to, 0, sizeof(*to));
    to->sin_len = sizeof(*to);
    to->sin_family = AF_INET;
    to->sin_port = lwip_htons(port);
    to->sin_addr.s_addr = address;
}

/* lwIP's set_errno (lwipopts.h): the error of the socket call the calling task just made,
 * kept per task. newlib's `errno` is one global on the chip, which another task can change
 * between a failed call and the read of its error. */
void lwip_port_set_errno(int err) {
    if (err != 0) {
        vTaskSetThreadLocalStoragePointer(NULL, ERRNO_SLOT, (void *)(intptr_t)err);
    }
}

static void clear_error(void) { vTaskSetThreadLocalStoragePointer(NULL, ERRNO_SLOT, NULL); }

/* The calling task's last socket error, as one of the PORT_ERR_ codes. */
static int last_error(void) {
    int err = (int)(intptr_t)pvTaskGetThreadLocalStoragePointer(NULL, ERRNO_SLOT);
    switch (err) {
    case EAGAIN:
#if EWOULDBLOCK != EAGAIN
    case EWOULDBLOCK:
#endif
    case ETIMEDOUT:
        return PORT_ERR_TIMEOUT;
    case ECONNRESET:
    case ECONNABORTED:
    case ENOTCONN:
    case EPIPE:
        return PORT_ERR_CLOSED;
    case ECONNREFUSED:
    case EHOSTUNREACH:
        return PORT_ERR_REFUSED;
    default:
        return PORT_ERR_OTHER;
    }
}

/* Connects, giving up after `timeout_ms`: lwIP's own connect waits until the SYN retries run
 * out (about 39 s with TCP_SYNMAXRTX 12), so the socket is non-blocking while it connects. */
int lwip_port_connect(int s, uint32_t address, uint16_t port, int timeout_ms) {
    struct sockaddr_in to;
    fill_address(&to, address, port);
    clear_error();
    if (lwip_fcntl(s, F_SETFL, O_NONBLOCK) != 0) {
        return PORT_ERR_OTHER;
    }
    if (lwip_connect(s, (struct sockaddr *)&to, sizeof(to)) != 0) {
        if ((int)(intptr_t)pvTaskGetThreadLocalStoragePointer(NULL, ERRNO_SLOT) != EINPROGRESS) {
            return PORT_ERR_REFUSED;
        }
        fd_set writable, failed;
        FD_ZERO(&writable);
        FD_ZERO(&failed);
        FD_SET(s, &writable);
        FD_SET(s, &failed);
        struct timeval wait = {.tv_sec = timeout_ms / 1000, .tv_usec = (timeout_ms % 1000) * 1000};
        int ready = lwip_select(s + 1, NULL, &writable, &failed, &wait);
        if (ready == 0) {
            return PORT_ERR_TIMEOUT;
        }
        int err = 0;
        socklen_t len = sizeof(err);
        if (ready < 0 || lwip_getsockopt(s, SOL_SOCKET, SO_ERROR, &err, &len) != 0 || err != 0) {
            return PORT_ERR_REFUSED;
        }
        struct sockaddr_in peer;
        socklen_t peer_len = sizeof(peer);
        if (lwip_getpeername(s, (struct sockaddr *)&peer, &peer_len) != 0) {
            return PORT_ERR_REFUSED;
        }
    }
    return lwip_fcntl(s, F_SETFL, 0) == 0 ? 0 : PORT_ERR_OTHER;
}

int lwip_port_sendto(int s, const void *data, size_t len, uint32_t address) {
    struct sockaddr_in to;
    fill_address(&to, address, 0);
    return lwip_sendto(s, data, len, 0, (struct sockaddr *)&to, sizeof(to));
}

/* Sends up to `len` bytes: how many were taken, or a PORT_ERR_ code. */
int lwip_port_send(int s, const void *data, size_t len) {
    clear_error();
    int n = lwip_send(s, data, len, 0);
    return n >= 0 ? n : last_error();
}

/* Receives up to `len` bytes: how many came (0: the peer closed), or a PORT_ERR_ code. */
int lwip_port_recv(int s, void *buf, size_t len) {
    clear_error();
    int n = lwip_recv(s, buf, len, 0);
    return n >= 0 ? n : last_error();
}

int lwip_port_close(int s) { return lwip_close(s); }

/* SNTP in poll mode with the DHCP-supplied servers, or `server` (a name, kept by the caller
 * for good) when given. */
void lwip_port_sntp_start(const char *server) {
    LOCK_TCPIP_CORE();
    if (sntp_enabled()) {
        sntp_stop();
    }
    sntp_setoperatingmode(SNTP_OPMODE_POLL);
    sntp_servermode_dhcp(server == NULL ? 1 : 0);
    if (server != NULL) {
        sntp_setservername(0, server);
    }
    sntp_init();
    UNLOCK_TCPIP_CORE();
}

/* The SNTP server `index`: its name if set by name, else its address (network order). */
int lwip_port_sntp_server(int index, const char **name, uint32_t *address) {
    LOCK_TCPIP_CORE();
    *name = sntp_getservername((u8_t)index);
    const ip_addr_t *addr = sntp_getserver((u8_t)index);
    *address = addr == NULL ? 0 : ip4_addr_get_u32(ip_2_ip4(addr));
    UNLOCK_TCPIP_CORE();
    return (*name != NULL || *address != 0) ? 0 : -1;
}
