/* The station interface and the few lwIP calls the Rust side makes, each taking the core lock
 * itself so that Rust never handles lwIP structures. Frames go out through
 * `net_link_output` (Rust) and come in through `lwip_port_input`. */
#include <string.h>

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

int lwip_port_connect(int s, uint32_t address, uint16_t port) {
    struct sockaddr_in to;
    fill_address(&to, address, port);
    return lwip_connect(s, (struct sockaddr *)&to, sizeof(to));
}

int lwip_port_sendto(int s, const void *data, size_t len, uint32_t address) {
    struct sockaddr_in to;
    fill_address(&to, address, 0);
    return lwip_sendto(s, data, len, 0, (struct sockaddr *)&to, sizeof(to));
}

int lwip_port_send(int s, const void *data, size_t len) { return lwip_send(s, data, len, 0); }
int lwip_port_recv(int s, void *buf, size_t len) { return lwip_recv(s, buf, len, 0); }
int lwip_port_close(int s) { return lwip_close(s); }
int lwip_port_errno(void) { return errno; }

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
