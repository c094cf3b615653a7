//! Sizes and priorities, in one place. Stack sizes are in 32-bit words.

use core::time::Duration;
use kernel::Priority;

/// The longest command line the shell takes, in bytes (the vendor shell's default is 64): room
/// for `httpc get` with a presigned URL of up to 2048 bytes.
pub const LINE_MAX: usize = 2200;
/// The most words a command line may have, the command included.
pub const ARGS_MAX: usize = 10;
/// The most bytes `flash read` dumps at once.
pub const FLASH_READ_MAX: u32 = 4096;
/// The most bytes `flash write` programs at once (one page).
pub const FLASH_WRITE_MAX: usize = 256;
/// Flash below this offset holds the factory-test parameters: the vendor driver refuses to
/// write there (docs/w800.md, "Flash and the QFLASH controller") and so does the shell.
pub const FLASH_PROTECTED_END: u32 = 0x2000;
/// The longest log line; longer messages are cut.
pub const LOG_LINE_MAX: usize = 256;

/// The init task: prints the banner and starts the others.
pub const INIT_STACK_WORDS: u16 = 2048;
/// The shell task (the vendor CLI task has 4096 bytes; ours formats more): `ota verify`
/// stages a file in it (the ECDSA check and the xz dry run used 8.1 KB on ck804ef) and
/// `aws_ota` builds the agent's service (QEMU smoke). Every KB here is one less for the xz
/// decoder that closing a file borrows from the heap.
pub const SHELL_STACK_WORDS: u16 = 2816;
pub const SHELL_PRIORITY: Priority = 5;
/// How long the shell sleeps when the console has nothing, in milliseconds.
pub const CONSOLE_POLL_MS: u64 = 10;
/// How long `free` waits before it reads the heap, for the idle task to free the stacks of
/// tasks that just ended.
pub const FREE_SETTLE: Duration = Duration::from_millis(20);

// Network.

/// How long `wifi connect` waits for DHCP: lwIP's retries back off 2, 4, 8, 16 s, so this
/// covers four rounds on a lossy link.
pub const DHCP_WAIT: Duration = Duration::from_secs(30);
/// How long `ping` waits for each reply.
pub const PING_WAIT: Duration = Duration::from_secs(2);
/// How long `ntp start` waits for the first answer.
pub const NTP_WAIT: Duration = Duration::from_secs(10);
/// How long a TCP connect plus TLS handshake may take.
pub const HANDSHAKE_WAIT: Duration = Duration::from_secs(15);
/// `tls` with repeats: the most handshakes per task and tasks at once, and each task's stack
/// (an RSA or EC handshake in mbedTLS needs about 6 KB of it).
pub const TLS_TIMES_MAX: u32 = 100;
pub const TLS_TASKS_MAX: u32 = 4;
pub const TLS_TASK_STACK_WORDS: u16 = 3072;
pub const TLS_TASK_PRIORITY: Priority = 4;

// MQTT (the jobs channel).

/// The thing name, which AWS IoT expects as the MQTT client identifier.
pub const THING_NAME: &str = "w800-demo-1";
/// Incoming packets: the vendor example's network buffer (4096 + 2048 + 128), as job
/// documents carry presigned URLs of up to 2048 bytes.
pub const MQTT_RX_BUF: usize = 6272;
/// Outgoing packets other than QoS 1 publishes.
pub const MQTT_TX_BUF: usize = 1024;
/// QoS 1 publishes awaiting PUBACK, each in a slot of `MQTT_OUTBOX_SLOT` bytes.
pub const MQTT_IN_FLIGHT: usize = 2;
pub const MQTT_OUTBOX_SLOT: usize = 1024;
/// Topic filters remembered for subscribing again after a reconnect.
pub const MQTT_SUBSCRIPTIONS: usize = 8;
/// The longest topic and payload the shell hands to the MQTT task.
/// A Jobs topic with a 128-character thing name and a 64-character job id fits.
pub const MQTT_TOPIC_MAX: usize = 256;
/// Requests waiting for the MQTT task.
pub const MQTT_REQUESTS: u32 = 8;
pub const MQTT_PAYLOAD_MAX: usize = 512;
/// The MQTT task runs TLS handshakes (mbedTLS keeps its big numbers on the heap).
pub const MQTT_STACK_WORDS: u16 = 2560;
pub const MQTT_PRIORITY: Priority = 4;
/// How long the shell waits for the MQTT task to carry out a request.
pub const MQTT_REPLY_WAIT: Duration = Duration::from_secs(30);

// The OTA agent.

/// The agent's file blocks (AWS's default block size), and how many may be in flight between
/// the download and the flash at once.
pub const OTA_BLOCK_SIZE: u32 = 4096;
pub const OTA_BLOCK_BUFFERS: u32 = 2;
/// Jobs messages waiting for the agent, each in a buffer of `OTA_MESSAGE_MAX` bytes: a job
/// execution with a 2048-byte presigned URL, its signature and ten status details is under
/// 4 KB; a longer message is dropped with a warning.
pub const OTA_MESSAGE_BUFFERS: u32 = 2;
pub const OTA_MESSAGE_MAX: usize = 4096;
/// The agent's queue: every block and message buffer, plus the shell's and the timer's.
pub const OTA_EVENTS: u32 = OTA_BLOCK_BUFFERS + OTA_MESSAGE_BUFFERS + 4;
/// The agent parses job documents into its own buffers (in place: a reply never passes
/// through its stack) and stages the file on its stack (the ECDSA check, the xz dry run): it
/// used 9.4 KB on ck804ef (QEMU smoke, logged at activation).
pub const OTA_AGENT_STACK_WORDS: u16 = 2816;
/// Below the download's, so that the download has closed its connection (and freed its TLS
/// session) by the time the agent closes the file, which lends the xz decoder 49 KB.
pub const OTA_AGENT_PRIORITY: Priority = 3;
/// The download task runs TLS handshakes (mbedTLS keeps its big numbers on the heap).
pub const OTA_DOWNLOAD_STACK_WORDS: u16 = 2048;
pub const OTA_DOWNLOAD_PRIORITY: Priority = 4;
/// How often the idle agent looks whether its MQTT session still runs, and how long it waits
/// between attempts to start a new one after the MQTT task gave up.
pub const OTA_SESSION_CHECK: Duration = Duration::from_secs(5);
pub const OTA_RECONNECT_PAUSE: Duration = Duration::from_secs(30);
/// The loopback transport (boards without a network): the agent's publishes waiting for the
/// in-memory Jobs API's task, which parses one request and writes its reply at a time (it
/// used 10.4 KB of stack on ck804ef).
pub const LOOPBACK_REQUESTS: u32 = 4;
pub const LOOPBACK_STACK_WORDS: u16 = 3072;
/// The longest presigned URL (AWS's limit for `update_data_url`).
pub const OTA_URL_MAX: usize = 2048;

// HTTP (the file channel).

/// Request and response heads: a 2048-byte URL plus headers.
pub const HTTP_HEAD_BUF: usize = 3072;
/// The body is read in pieces of this size.
pub const HTTP_CHUNK: usize = 2048;
/// Inactivity timeout of each read.
pub const HTTP_READ_TIMEOUT_MS: u32 = 10_000;
/// The most connections one download may open (the server may close after each response).
pub const HTTP_MAX_CONNECTIONS: u32 = 64;
