//! `aws_ota`: the AWS IoT OTA agent on the device, as the vendor's example starts it from the
//! shell. Three tasks around one queue of events, as AWS's OTA library designs it:
//!
//! ```text
//!  shell --Start/UserAbort--> [agent task] <--Jobs messages-- [mqtt task] <-- TLS (MQTT)
//!                              |    ^                             ^
//!                              |    +--file blocks-- [download task] <-- TLS (HTTPS Range)
//!                              v                                  |
//!                     platform layer (bsp::ota)       publishes --+
//! ```
//!
//! The decisions are `ota_agent`'s (pure, tested on the host); this module gives it its ports
//! (publishing through the MQTT task, downloading through the download task, the flash through
//! `bsp::ota`, a FreeRTOS timer), and moves events: Jobs messages and file blocks travel in
//! buffers from two small pools, so memory does not grow with what the network sends.

mod download;
mod flash;
mod pool;

use crate::config::{
    HANDSHAKE_WAIT, MQTT_PAYLOAD_MAX, OTA_AGENT_PRIORITY, OTA_AGENT_STACK_WORDS, OTA_BLOCK_BUFFERS,
    OTA_BLOCK_SIZE, OTA_DOWNLOAD_PRIORITY, OTA_DOWNLOAD_STACK_WORDS, OTA_EVENTS,
    OTA_MESSAGE_BUFFERS, OTA_MESSAGE_MAX, OTA_RECONNECT_PAUSE, OTA_SESSION_CHECK,
};
use crate::mqtt::{self, MessageSink, Request, Topic};
use crate::network::{credentials, station};
use crate::platform::Platform;
use crate::services::Services;
use crate::settings::OtaSettings;
use crate::shell::command::{CommandError, CommandResult, Context};
use alloc::boxed::Box;
use alloc::format;
use alloc::string::{String, ToString};
use bsp::hal::ResetReason;
use core::cell::Cell;
use core::sync::atomic::{AtomicBool, Ordering};
use core::time::Duration;
use download::{DownloadPort, Downloader, Fetcher};
use flash::FlashPlatform;
use kernel::{Mutex, Queue};
use net::mqtt::{Message, QoS};
use net::station::Station;
use net::tls::Credentials;
use ota_agent::jobs::{ThingName, Topics};
use ota_agent::ports::{Control, NotSent, Qos, Timer};
use ota_agent::version::Version;
use ota_agent::{Agent, Config, Event, Status};
use pool::{Pool, PoolBuf};

/// The agent's one queue of events.
pub type AgentQueue = Queue<Event<PoolBuf>>;

type OtaAgent = Agent<MqttControl, DownloadPort, FlashPlatform, KernelTimer>;

/// The service, made by the first `aws_ota` with everything its tasks share; a later
/// `aws_ota` (after the agent gave up connecting) starts a new agent task on the same parts,
/// so that retrying allocates nothing new.
pub struct OtaService {
    events: &'static AgentQueue,
    parts: Parts,
    /// The agent's last status, for `ota status` (the agent itself belongs to its task).
    status: Mutex<Option<Status>>,
    /// Where it connects, for `ota status`.
    settings: OtaSettings,
    /// Whether the agent task runs.
    running: AtomicBool,
}

/// What the agent's tasks share for the life of the firmware.
struct Parts {
    session: &'static mqtt::Session,
    downloader: &'static Downloader,
    sink: &'static JobsSink,
}

impl OtaService {
    /// Posts `event` to the agent (the shell's `Start`, `UserAbort`).
    fn post(&self, event: Event<PoolBuf>) -> Result<(), CommandError> {
        self.events
            .send(event, Duration::from_millis(100))
            .map_err(|_| CommandError::Failed(String::from("the OTA agent is busy")))
    }
}

/// The agent's control port: Jobs requests go to the MQTT task's queue; the agent never waits
/// for the broker (the Jobs reply is the confirmation it waits for, on its timer).
struct MqttControl(&'static mqtt::Session);

impl Control for MqttControl {
    fn publish(&mut self, topic: &str, payload: &[u8], qos: Qos) -> Result<(), NotSent> {
        if !self.0.is_active() {
            return Err(NotSent);
        }
        let request = Request::Publish {
            topic: Topic::try_from(topic).map_err(|_| NotSent)?,
            payload: heapless::Vec::<u8, MQTT_PAYLOAD_MAX>::from_slice(payload)
                .map_err(|_| NotSent)?,
            qos: match qos {
                Qos::AtMostOnce => QoS::AtMostOnce,
                Qos::AtLeastOnce => QoS::AtLeastOnce,
            },
            answer: false,
        };
        if self.0.try_send(request) {
            Ok(())
        } else {
            Err(NotSent)
        }
    }
}

/// The agent's request timer: a FreeRTOS one-shot that posts `RequestTimer`; and the clock,
/// widened to 64 bits so it does not wrap after 49 days.
struct KernelTimer {
    timer: kernel::Timer,
    /// The last 32-bit reading and the 64-bit time it stood for.
    clock: Cell<(u32, u64)>,
}

impl Timer for KernelTimer {
    fn start(&mut self, ms: u32) {
        // One tick more: the agent takes a timer that fires early for a stale one.
        let period = Duration::from_millis(u64::from(ms) + 1);
        if let Err(e) = self.timer.change_period(period, HANDSHAKE_WAIT) {
            log::error!(target: "ota", "request timer: {e:?}");
        }
    }

    fn stop(&mut self) {
        let _ = self.timer.stop(HANDSHAKE_WAIT);
    }

    fn now_ms(&self) -> u64 {
        let now = kernel::now_ms();
        let (last, wide) = self.clock.get();
        let wide = wide + u64::from(now.wrapping_sub(last));
        self.clock.set((now, wide));
        wide
    }
}

/// The MQTT task's sink: this thing's Jobs messages, copied into pool buffers, become events.
struct JobsSink {
    topics: Topics,
    messages: &'static Pool,
    events: &'static AgentQueue,
}

impl MessageSink for JobsSink {
    fn deliver(&self, message: &Message<'_>) {
        let Some(topic) = self.topics.classify(message.topic) else {
            log::warn!(target: "ota", "ignored a message on {}", message.topic);
            return;
        };
        // The sender (AWS, or the agent's own retries) repeats what is lost here.
        let Some(buffer) = self.messages.take_copy(message.payload, Duration::ZERO) else {
            log::warn!(
                target: "ota",
                "dropped {} bytes on {}: no free message buffer of {}",
                message.payload.len(),
                message.topic,
                self.messages.buffer_size()
            );
            return;
        };
        if self
            .events
            .send(Event::from_message(&topic, buffer), Duration::ZERO)
            .is_err()
        {
            log::warn!(target: "ota", "dropped a message on {}: the agent's queue is full", message.topic);
        }
    }
}

/// The version of the code that runs: the `app` header's (what the bootloader, or the boot
/// stage, installed and started), else the compiled-in one.
fn running_version(platform: &Platform) -> Result<Version, String> {
    let text = crate::layout::app_header(platform)
        .map(|header| String::from(header.version.as_str()))
        .unwrap_or_else(|_| String::from(crate::VERSION));
    Version::new(&text).ok_or_else(|| format!("the running version {text:?} is not comparable"))
}

/// The HTTPS server's trust anchor, parsed once (the MQTT server's when the board has no
/// separate one).
fn https_credentials(services: &Services) -> Result<&'static Credentials, CommandError> {
    let platform = services.platform;
    let mut parsed = services.https_tls.lock();
    if let Some(credentials) = *parsed {
        return Ok(credentials);
    }
    let Some(root_ca) = platform.credentials.and_then(|c| c.https_root_ca) else {
        return credentials(services);
    };
    let entropy = platform
        .secure_entropy
        .ok_or_else(|| CommandError::Failed(String::from("no random source fit for TLS keys")))?;
    let loaded = Credentials::load(root_ca, None, entropy)
        .map_err(|e| CommandError::Failed(format!("HTTPS trust anchor: {e}")))?;
    *parsed = Some(loaded);
    Ok(loaded)
}

/// `aws_ota`: starts the agent (and its MQTT and download tasks) and returns to the prompt.
pub fn aws_ota(ctx: &mut Context<'_>, args: &[&str]) -> CommandResult {
    if !args.is_empty() {
        return Err(CommandError::Usage);
    }
    start_agent(ctx)
}

/// After a restart into a new image (reset reason `ota`), the agent starts by itself as soon as
/// the network and the clock are there (`ntp start`), so the self-test needs no command.
pub fn start_for_self_test(ctx: &mut Context<'_>) -> CommandResult {
    let pending = ctx.platform.reset.last_reason() == ResetReason::Ota;
    let running = ctx
        .services
        .aws_ota
        .lock()
        .is_some_and(|service| service.running.load(Ordering::Acquire));
    if !pending || running {
        return Ok(());
    }
    writeln!(ctx.out, "aws_ota: the new image awaits its self-test")?;
    start_agent(ctx)
}

fn start_agent(ctx: &mut Context<'_>) -> CommandResult {
    let (platform, services) = (ctx.platform, ctx.services);
    let station = station(services)?;
    let interface = station.interface();
    if !interface.dhcp_bound {
        return Err(CommandError::Failed(String::from(
            "no IP address: 'wifi connect' first",
        )));
    }
    if station.sntp_last().is_none() {
        return Err(CommandError::Failed(String::from(
            "the clock is not set (certificates cannot be checked): 'ntp start' first",
        )));
    }
    let mut slot = services.aws_ota.lock();
    if let Some(service) = *slot {
        if service.running.load(Ordering::Acquire) {
            return Err(CommandError::Failed(String::from(
                "the OTA agent runs already ('ota status')",
            )));
        }
    }
    let settings = OtaSettings::parse(platform.ota.settings)
        .map_err(|e| CommandError::Failed(e.to_string()))?;
    let thing = ThingName::new(settings.thing.as_str())
        .map_err(|e| CommandError::Failed(format!("thing name: {e:?}")))?;
    let running = running_version(platform).map_err(CommandError::Failed)?;
    let mqtt_credentials = credentials(services)?;
    let https = https_credentials(services)?;
    let slots = crate::ota::slots(platform).map_err(CommandError::Failed)?;
    let service: &'static OtaService = match *slot {
        Some(service) => service,
        None => new_service(station, https, settings.clone(), Topics::new(thing))?,
    };
    *slot = Some(service);
    service.running.store(true, Ordering::Release);
    drop(slot);
    let started = start(platform, station, service, running, mqtt_credentials, slots);
    if let Err(e) = started {
        service.running.store(false, Ordering::Release);
        return Err(e);
    }
    writeln!(
        ctx.out,
        "aws_ota: agent started for {} at {}:{}",
        settings.thing, settings.host, settings.port
    )?;
    Ok(())
}

/// The service and what its tasks share, made once: the pools, the MQTT session, the
/// download task.
fn new_service(
    station: &'static Station,
    https: &'static Credentials,
    settings: OtaSettings,
    topics: Topics,
) -> Result<&'static OtaService, CommandError> {
    let kernel_failed = |e: kernel::Error| CommandError::Failed(e.to_string());
    let events: &'static AgentQueue =
        Box::leak(Box::new(Queue::new(OTA_EVENTS).map_err(kernel_failed)?));
    let messages = Pool::new(OTA_MESSAGE_BUFFERS, OTA_MESSAGE_MAX).map_err(kernel_failed)?;
    let blocks = Pool::new(OTA_BLOCK_BUFFERS, OTA_BLOCK_SIZE as usize).map_err(kernel_failed)?;
    let downloader = Downloader::new().map_err(kernel_failed)?;
    let service: &'static OtaService = Box::leak(Box::new(OtaService {
        events,
        parts: Parts {
            session: Box::leak(Box::new(mqtt::Session::new().map_err(kernel_failed)?)),
            downloader,
            sink: Box::leak(Box::new(JobsSink {
                topics,
                messages,
                events,
            })),
        },
        status: Mutex::new(None).map_err(kernel_failed)?,
        settings,
        running: AtomicBool::new(false),
    }));
    let fetcher = Fetcher {
        downloader,
        station,
        credentials: https,
        blocks,
        events,
    };
    kernel::spawn(
        "ota-http",
        OTA_DOWNLOAD_STACK_WORDS,
        OTA_DOWNLOAD_PRIORITY,
        move || download::run(fetcher),
    )
    .map_err(kernel_failed)?;
    Ok(service)
}

/// Builds an agent over the service's parts and starts its task, which connects the Jobs
/// session first, then posts itself `Start`.
fn start(
    platform: &'static Platform,
    station: &'static Station,
    service: &'static OtaService,
    running: Version,
    mqtt_credentials: &'static Credentials,
    slots: bsp::ota::Slots,
) -> Result<(), CommandError> {
    let kernel_failed = |e: kernel::Error| CommandError::Failed(e.to_string());
    let parts = &service.parts;
    let events = service.events;
    let timer = kernel::Timer::new("ota", Duration::from_secs(1), false, move || {
        let _ = events.send(Event::RequestTimer, Duration::ZERO);
    })
    .map_err(kernel_failed)?;
    let mut token_prefix = [0u8; 4];
    platform.entropy.lock().fill(&mut token_prefix);
    let config = Config {
        block_size: OTA_BLOCK_SIZE,
        token_prefix: u32::from_le_bytes(token_prefix),
        ..Config::default()
    };
    let topics = parts.sink.topics.clone();
    let agent = Agent::new(
        config,
        topics.clone(),
        MqttControl(parts.session),
        DownloadPort(parts.downloader),
        FlashPlatform::new(platform, slots, running),
        KernelTimer {
            timer,
            clock: Cell::new((kernel::now_ms(), u64::from(kernel::now_ms()))),
        },
    );
    let settings = &service.settings;
    let target = mqtt::Target {
        station,
        credentials: mqtt_credentials,
        host: String::from(settings.host.as_str()),
        port: settings.port,
        alpn: settings.alpn,
        client_id: String::from(settings.thing.as_str()),
        subscriptions: topics
            .subscriptions()
            .iter()
            .filter_map(|filter| Topic::try_from(filter.as_str()).ok())
            .collect(),
        sink: parts.sink,
    };
    kernel::spawn(
        "ota-agent",
        OTA_AGENT_STACK_WORDS,
        OTA_AGENT_PRIORITY,
        move || run(platform, service, agent, target),
    )
    .map_err(kernel_failed)
}

/// The agent task: connects the Jobs session, starts the agent, then handles one event at a
/// time: a handler's follow-up first, else the next from the queue.
///
/// When the MQTT task gives up on the broker (its reconnects ran out), the agent task connects
/// a new session and asks for the job document again, so a long outage costs no job.
fn run(
    platform: &'static Platform,
    service: &'static OtaService,
    mut agent: OtaAgent,
    target: mqtt::Target,
) {
    let session = service.parts.session;
    let connect = || {
        log::info!(target: "ota", "connecting to {}:{} as {}", target.host, target.port, target.client_id);
        mqtt::start(platform, target.clone(), session)
            .map_err(|e| log::error!(target: "ota", "the Jobs session did not start: {e}"))
    };
    if connect().is_err() {
        service.running.store(false, Ordering::Release);
        return;
    }
    let _ = service.events.send(Event::Start, Duration::ZERO);
    loop {
        if !session.is_active() {
            log::warn!(target: "ota", "the Jobs session ended");
            if connect().is_err() {
                kernel::delay(OTA_RECONNECT_PAUSE);
                continue;
            }
            let _ = service
                .events
                .send(Event::RequestJobDocument, Duration::ZERO);
        }
        let event = match agent.take_signal() {
            Some(signal) => Event::from(signal),
            None => match service.events.receive(OTA_SESSION_CHECK) {
                Some(event) => event,
                None => continue,
            },
        };
        agent.handle(event);
        *service.status.lock() = Some(agent.status());
    }
}

/// `ota status` (the agent's part) and `ota abort`.
pub fn agent_status(ctx: &mut Context<'_>) -> CommandResult {
    let Some(service) = *ctx.services.aws_ota.lock() else {
        writeln!(ctx.out, "agent: not started ('aws_ota')")?;
        return Ok(());
    };
    if !service.running.load(Ordering::Acquire) {
        writeln!(ctx.out, "agent: stopped ('aws_ota' starts it again)")?;
        return Ok(());
    }
    let Some(status) = service.status.lock().clone() else {
        writeln!(ctx.out, "agent: connecting")?;
        return Ok(());
    };
    let settings = &service.settings;
    writeln!(
        ctx.out,
        "agent: {:?}, {} at {}:{}",
        status.state, settings.thing, settings.host, settings.port
    )?;
    if let Some(job) = &status.job_id {
        writeln!(
            ctx.out,
            "job {}: {} of {} bytes, {} of {} blocks, {} B/s",
            job.as_str(),
            status.bytes_done,
            status.bytes_total,
            status.blocks_done,
            status.blocks_total,
            status.rate
        )?;
    }
    let stats = status.stats;
    writeln!(
        ctx.out,
        "Received: {} Queued: {} Processed: {} Dropped: {}",
        stats.received, stats.queued, stats.processed, stats.dropped
    )?;
    Ok(())
}

/// `ota abort`: the job is reported FAILED (`user-abort`) and the partial file erased.
pub fn abort(ctx: &mut Context<'_>) -> CommandResult {
    let Some(service) = *ctx.services.aws_ota.lock() else {
        return Err(CommandError::Failed(String::from(
            "the OTA agent is not running",
        )));
    };
    service.post(Event::UserAbort)?;
    writeln!(ctx.out, "ota: abort requested")?;
    Ok(())
}
