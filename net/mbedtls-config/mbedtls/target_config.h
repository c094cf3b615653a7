/*
 * What the firmware takes of mbedTLS 2.28, on top of the configuration mbedtls-sys-auto
 * generates (which enables nearly every module). That configuration includes this file when
 * TARGET_LIKE_MBED is defined (.cargo/config.toml), after its own lines and before
 * check_config.h, so everything left out here is left out of the library and its bindings.
 *
 * The firmware is a TLS 1.2 client (net/src/tls.rs) that offers ECDHE with AES-GCM only
 * (TLS_ECDHE_{ECDSA,RSA}_WITH_AES_{128_GCM_SHA256,256_GCM_SHA384}), checks X.509 chains with
 * RSA or ECDSA signatures (AWS IoT's and Amazon's roots: RSA 2048, P-256, P-384), parses PEM
 * keys (RSA or EC, unencrypted), signs with ECDSA P-256 and verifies code signatures. Why
 * leave the rest out: on the W800 every module is flash the image must carry, and in the sim
 * the executable must fit the `app` partition (docs/sim-boot.md). The list follows
 * include/mbedtls/config.h of mbedTLS 2.28 (https://github.com/Mbed-TLS/mbedtls/blob/
 * mbedtls-2.28/include/mbedtls/config.h).
 *
 * Cargo does not see this file change: after an edit, remove the build of mbedtls-sys-auto
 * (`target/<triple>/<profile>/build/mbedtls-sys-auto-*` and its `.fingerprint` entry) so that
 * the library and its bindings are made again. A fresh clone always builds them with it.
 */
#ifndef W800_MBEDTLS_TARGET_CONFIG_H
#define W800_MBEDTLS_TARGET_CONFIG_H

/* mbedTLS allocates through w800_tls_calloc / w800_tls_free (the FreeRTOS heap, net/src/tls.rs),
 * not the C library's malloc, which is unsafe to call from tasks of the FreeRTOS POSIX port. */
#define MBEDTLS_PLATFORM_C
#define MBEDTLS_PLATFORM_MEMORY
#define MBEDTLS_PLATFORM_CALLOC_MACRO w800_tls_calloc
#define MBEDTLS_PLATFORM_FREE_MACRO w800_tls_free

/* ECDSA signatures are deterministic (RFC 6979): the device key's nonces never depend on the
 * random source. */
#define MBEDTLS_ECDSA_DETERMINISTIC

/* Records we send are at most 4 KB (our largest is the client's certificate chain); received
 * ones stay 16 KB, as servers without max_fragment_length send them (docs/ram.md). */
#define MBEDTLS_SSL_OUT_CONTENT_LEN 4096

/* AES's tables are constants in flash, not built in RAM at start: 8.5 KB of RAM less
 * (docs/ram.md). */
#define MBEDTLS_AES_ROM_TABLES

/* Key exchanges other than ECDHE, and what only they need. */
#undef MBEDTLS_KEY_EXCHANGE_PSK_ENABLED
#undef MBEDTLS_KEY_EXCHANGE_DHE_PSK_ENABLED
#undef MBEDTLS_KEY_EXCHANGE_ECDHE_PSK_ENABLED
#undef MBEDTLS_KEY_EXCHANGE_RSA_PSK_ENABLED
#undef MBEDTLS_KEY_EXCHANGE_RSA_ENABLED
#undef MBEDTLS_KEY_EXCHANGE_DHE_RSA_ENABLED
#undef MBEDTLS_KEY_EXCHANGE_ECDH_ECDSA_ENABLED
#undef MBEDTLS_KEY_EXCHANGE_ECDH_RSA_ENABLED
#undef MBEDTLS_DHM_C
#undef MBEDTLS_ECJPAKE_C

/* Ciphers and modes other than AES-GCM (CTR_DRBG needs only AES itself). */
#undef MBEDTLS_ARC4_C
#undef MBEDTLS_ARIA_C
#undef MBEDTLS_BLOWFISH_C
#undef MBEDTLS_CAMELLIA_C
#undef MBEDTLS_CCM_C
#undef MBEDTLS_CHACHA20_C
#undef MBEDTLS_CHACHAPOLY_C
#undef MBEDTLS_POLY1305_C
#undef MBEDTLS_DES_C
#undef MBEDTLS_XTEA_C
#undef MBEDTLS_CMAC_C
#undef MBEDTLS_NIST_KW_C
#undef MBEDTLS_CIPHER_MODE_CFB
#undef MBEDTLS_CIPHER_MODE_OFB
#undef MBEDTLS_CIPHER_MODE_XTS
#undef MBEDTLS_CIPHER_MODE_CTR

/* Digests no certificate or suite of ours uses. */
#undef MBEDTLS_MD2_C
#undef MBEDTLS_MD4_C
#undef MBEDTLS_RIPEMD160_C
#undef MBEDTLS_HKDF_C

/* Curves other than the NIST ones AWS's certificates use. */
#undef MBEDTLS_ECP_DP_SECP192R1_ENABLED
#undef MBEDTLS_ECP_DP_SECP224R1_ENABLED
#undef MBEDTLS_ECP_DP_SECP192K1_ENABLED
#undef MBEDTLS_ECP_DP_SECP224K1_ENABLED
#undef MBEDTLS_ECP_DP_SECP256K1_ENABLED
#undef MBEDTLS_ECP_DP_BP256R1_ENABLED
#undef MBEDTLS_ECP_DP_BP384R1_ENABLED
#undef MBEDTLS_ECP_DP_BP512R1_ENABLED
#undef MBEDTLS_ECP_DP_CURVE25519_ENABLED
#undef MBEDTLS_ECP_DP_CURVE448_ENABLED

/* A client only: no server side, no DTLS, no session cache or cookies. */
#undef MBEDTLS_SSL_SRV_C
#undef MBEDTLS_SSL_CACHE_C
#undef MBEDTLS_SSL_TICKET_C
#undef MBEDTLS_SSL_COOKIE_C
#undef MBEDTLS_SSL_PROTO_DTLS
#undef MBEDTLS_SSL_DTLS_ANTI_REPLAY
#undef MBEDTLS_SSL_DTLS_BADMAC_LIMIT
#undef MBEDTLS_SSL_DTLS_CLIENT_PORT_REUSE
#undef MBEDTLS_SSL_DTLS_HELLO_VERIFY
#undef MBEDTLS_SSL_CONTEXT_SERIALIZATION
#undef MBEDTLS_SSL_TRUNCATED_HMAC
#undef MBEDTLS_SSL_EXPORT_KEYS

/* Nothing is written as a certificate, a request or a PEM key; no CRL or CSR is read; keys
 * are not encrypted, and no key is made for RSA. */
#undef MBEDTLS_X509_CREATE_C
#undef MBEDTLS_X509_CRT_WRITE_C
#undef MBEDTLS_X509_CSR_WRITE_C
#undef MBEDTLS_X509_CSR_PARSE_C
#undef MBEDTLS_X509_CRL_PARSE_C
#undef MBEDTLS_PK_WRITE_C
#undef MBEDTLS_PEM_WRITE_C
#undef MBEDTLS_PKCS5_C
#undef MBEDTLS_PKCS12_C
#undef MBEDTLS_PK_RSA_ALT_SUPPORT
#undef MBEDTLS_GENPRIME

/* Test data and texts: the library's self-tests, its test certificates, its error and
 * feature strings (errors are reported by number). */
#undef MBEDTLS_SELF_TEST
#undef MBEDTLS_CERTS_C
#undef MBEDTLS_ERROR_C
#undef MBEDTLS_VERSION_FEATURES

#endif /* W800_MBEDTLS_TARGET_CONFIG_H */
