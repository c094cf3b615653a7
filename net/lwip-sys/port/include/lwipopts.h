/* lwIP options of the firmware (the same on the sim and the chip). lwIP 2.1.3, NO_SYS=0 on
 * FreeRTOS, sockets API, core locking. Sizes are kept near the W800 SDK's (docs/w800.md, "The
 * vendor's AWS OTA example": TCP MAXRTX 12); the receive window is sized for the OTA download's
 * links, within the receive pool (docs/performance.md, "The receive window and its RAM"). */
#ifndef LWIPOPTS_H
#define LWIPOPTS_H

#define NO_SYS                      0
#define SYS_LIGHTWEIGHT_PROT        1
#define LWIP_TCPIP_CORE_LOCKING     1
#define LWIP_TCPIP_CORE_LOCKING_INPUT 0
#define LWIP_ERRNO_STDINCLUDE       1
#define LWIP_TIMEVAL_PRIVATE        0

#define TCPIP_THREAD_NAME           "tcpip"
#define TCPIP_THREAD_STACKSIZE      1024
#define TCPIP_THREAD_PRIO           8
#define TCPIP_MBOX_SIZE             16
#define DEFAULT_THREAD_STACKSIZE    1024
#define DEFAULT_THREAD_PRIO         4
#define DEFAULT_RAW_RECVMBOX_SIZE   8
#define DEFAULT_UDP_RECVMBOX_SIZE   8
/* One entry per received segment until the task reads it: room for a full window (TCP_WND)
 * of segments and then some, since a segment the mailbox refuses stalls the connection. The
 * mailbox is a FreeRTOS queue of pointers: 4 bytes of heap per entry and TCP connection. */
#define DEFAULT_TCP_RECVMBOX_SIZE   32
#define DEFAULT_ACCEPTMBOX_SIZE     4

/* Memory: lwIP's own heap and pools, not the FreeRTOS heap; all static (.bss). MEM_SIZE holds
 * what is sent until it is acknowledged (at most TCP_SND_BUF per connection) and the headers
 * lwIP makes: 12 KB holds the two connections of an OTA (MQTT and the download) with full send
 * buffers; the most it held during an OTA on the sim was 2,168 bytes (docs/ram.md). Every
 * received frame takes one PBUF_POOL buffer (1,552 bytes with its pbuf) until the task reads
 * its data, so the pool bounds the receive windows: 24 buffers (37 KB) hold one TCP_WND of 20
 * segments and leave 4 for the other connection, ARP, DHCP and DNS. The pool stays reserved:
 * with received frames in the FreeRTOS heap, a full heap drops every segment, the missing one's
 * retransmission too while later ones wait out of order, and the download stalls (docs/ram.md,
 * "Tried and not kept: lwIP in the FreeRTOS heap"). */
#define MEM_ALIGNMENT               4
#define MEM_SIZE                    (12 * 1024)
#define MEMP_NUM_PBUF               16
#define MEMP_NUM_UDP_PCB            6
#define MEMP_NUM_TCP_PCB            6
#define MEMP_NUM_TCP_PCB_LISTEN     2
#define MEMP_NUM_TCP_SEG            32
#define MEMP_NUM_NETBUF             8
#define MEMP_NUM_NETCONN            10
#define MEMP_NUM_SYS_TIMEOUT        (LWIP_NUM_SYS_TIMEOUT_INTERNAL + 2)
#define PBUF_POOL_SIZE              24
#define PBUF_POOL_BUFSIZE           1536

/* Protocols. */
#define LWIP_ARP                    1
#define LWIP_ETHERNET               1
#define LWIP_IPV4                   1
#define LWIP_IPV6                   0
#define LWIP_ICMP                   1
#define LWIP_RAW                    1
#define LWIP_UDP                    1
#define LWIP_TCP                    1
#define LWIP_DHCP                   1
#define LWIP_DHCP_DOES_ACD_CHECK    0
#define DHCP_DOES_ARP_CHECK         0
#define LWIP_DNS                    1
#define DNS_MAX_SERVERS             2
#define LWIP_DHCP_GET_NTP_SRV       1
#define LWIP_DHCP_MAX_NTP_SERVERS   2
#define LWIP_NETIF_LINK_CALLBACK    1
#define LWIP_NETIF_STATUS_CALLBACK  1
#define LWIP_NETIF_HOSTNAME         1

/* TCP: the vendor's retransmission limits. The receive window covers the bandwidth-delay
 * product of the OTA download's links with a sixth to spare (10 Mbit/s x 20 ms = 25,000 bytes;
 * 1 Mbit/s x 150 ms = 18,750), so the server never waits for it; a window of 4 segments
 * capped the download at 5,840 bytes per round trip, 22-52 % of those links' limits. It
 * costs no static RAM: its data sits in PBUF_POOL buffers, which must hold it (lwIP's sanity
 * check: TCP_WND <= PBUF_POOL_SIZE x (PBUF_POOL_BUFSIZE - headers), 35,568 bytes here). */
#define TCP_MSS                     1460
#define TCP_WND                     (20 * TCP_MSS)
#define TCP_SND_BUF                 (4 * TCP_MSS)
#define TCP_SND_QUEUELEN            (4 * TCP_SND_BUF / TCP_MSS)
#define TCP_MAXRTX                  12
#define TCP_SYNMAXRTX               12
#define LWIP_TCP_KEEPALIVE          1

/* APIs. */
#define LWIP_NETCONN                1
#define LWIP_SOCKET                 1
#define LWIP_COMPAT_SOCKETS         0
#define LWIP_POSIX_SOCKETS_IO_NAMES 0
#define LWIP_SOCKET_SELECT          1
#define LWIP_SOCKET_POLL            0
#define LWIP_SO_RCVTIMEO            1
#define LWIP_SO_SNDTIMEO            1
#define LWIP_SO_SNDRCVTIMEO_NONSTANDARD 1
#define LWIP_NETIF_API              1

/* SNTP (apps/sntp): servers from DHCP or set by name; the time goes to the firmware's clock. */
#define SNTP_SERVER_DNS             1
#define SNTP_GET_SERVERS_FROM_DHCP  1
#define SNTP_MAX_SERVERS            2
void lwip_port_set_system_time(unsigned int sec, unsigned int usec);
#define SNTP_SET_SYSTEM_TIME_US(sec, us) lwip_port_set_system_time((sec), (us))
#define SNTP_UPDATE_DELAY           3600000
#define SNTP_STARTUP_DELAY          0

/* Socket errors are kept per task (port/glue.c), not in the C library's one global errno. */
void lwip_port_set_errno(int err);
#define set_errno(err)              lwip_port_set_errno(err)

#define LWIP_RAND()                 lwip_port_rand()
unsigned int lwip_port_rand(void);

#define LWIP_STATS                  0
#define LWIP_DEBUG                  0

#endif
