/* Compiled only by the wm-iot-sdk build (bsp/build.rs), against the headers of the user's
 * WinnerMicro SDK and the configuration of their SDK build: checks that what
 * bsp/src/w800/sdk.rs declares by hand (constants, structure layouts, function types)
 * matches that SDK, so that a mismatch stops the build instead of corrupting memory at run
 * time. It defines nothing the firmware uses. */

#include <stddef.h>
#include <stdint.h>
#include "wm_error.h"
#include "wm_netif.h"
#include "wm_nm_api.h"
#include "wm_wifi.h"

_Static_assert(WM_ERR_SUCCESS == 0, "sdk.rs: WM_ERR_SUCCESS");

_Static_assert(WM_NM_INIT == 0, "sdk.rs: nm_state::INIT");
_Static_assert(WM_NM_WIFI_STA_CONNECTING == 1, "sdk.rs: nm_state::CONNECTING");
_Static_assert(WM_NM_WIFI_STA_CONNECTED == 2, "sdk.rs: nm_state::CONNECTED");
_Static_assert(WM_NM_WIFI_STA_DISCONNECTED == 3, "sdk.rs: nm_state::DISCONNECTED");
_Static_assert(WM_NM_WIFI_STA_GOT_IP == 4, "sdk.rs: nm_state::GOT_IP");
_Static_assert(WM_NM_WIFI_STA_GOT_IP6 == 5, "sdk.rs: nm_state::GOT_IP6");
_Static_assert(WM_NM_WIFI_STA_LOST_IP == 6, "sdk.rs: nm_state::LOST_IP");
_Static_assert(WM_NM_EXIT == 10, "sdk.rs: nm_state::EXIT");
_Static_assert(sizeof(wm_nm_state_e) == 4, "sdk.rs: wm_nm_state_e is a C int");

_Static_assert(WM_NETIF_TYPE_WIFI_STA == 0, "sdk.rs: NETIF_TYPE_WIFI_STA");
_Static_assert(sizeof(wm_netif_type_t) == 4, "sdk.rs: wm_netif_type_t is a C int");
_Static_assert(WM_WIFI_IF_STA == 0, "sdk.rs: WIFI_IF_STA");
_Static_assert(sizeof(wm_wifi_interface_t) == 4, "sdk.rs: wm_wifi_interface_t is a C int");

_Static_assert(sizeof(wm_nm_wifi_station_cfg_t) == 8, "sdk.rs: StationConfig size");
_Static_assert(offsetof(wm_nm_wifi_station_cfg_t, ssid) == 0, "sdk.rs: StationConfig.ssid");
_Static_assert(offsetof(wm_nm_wifi_station_cfg_t, password) == 4,
               "sdk.rs: StationConfig.password");

_Static_assert(sizeof(wm_netif_t) == 8, "sdk.rs: NetifHandle size");
_Static_assert(offsetof(wm_netif_t, type) == 0, "sdk.rs: NetifHandle.kind");
_Static_assert(offsetof(wm_netif_t, netif) == 4, "sdk.rs: NetifHandle.netif");

/* The functions, with the exact types sdk.rs gives them (built with
 * -Werror=incompatible-pointer-types). */
int (*const wm_iot_sdk_abi_start)(wm_nm_wifi_station_cfg_t *) = wm_nm_start_wifi_station;
wm_nm_state_e (*const wm_iot_sdk_abi_state)(void) = wm_nm_get_wifi_station_state;
int (*const wm_iot_sdk_abi_stop)(void) = wm_nm_stop_wifi_station;
int (*const wm_iot_sdk_abi_mac)(wm_wifi_interface_t, uint8_t *) = wm_wifi_get_mac;
wm_netif_t *(*const wm_iot_sdk_abi_netif)(wm_netif_type_t) = wm_netif_get_netif;
