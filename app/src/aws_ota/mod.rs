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
//!
//! On a board without a network that offers a stand-in for the cloud (QEMU), the same tasks
//! run over the loopback transport ([`loopback`]): the Jobs messages go to an in-memory Jobs
//! API and the file comes from memory.

mod download;
mod flash;
mod loopback;
mod pool;

use crate::config::{
    HANDSHAKE_WAIT, MQTT_PAYLOAD_MAX, OTA_AGENT_PRIORITY, OTA_AGENT_STACK_WORDS, OTA_BLOCK_BUFFERS,
    OTA_BLOCK_SIZE, OTA_DOWNLOAD_PRIORITY, OTA_DOWNLOAD_STACK_WORDS, OTA_EVENTS,
    OTA_MESSAGE_BUFFERS, OTA_MESSAGE_MAX, OTA_RECONNECT_PAUSE, OTA_SESSION_CHECK,
};
use crate::mqtt::{self, MessageSink, Request, Topic};
use crate::platform::Platform;
use crate::settings::OtaSettings;
use alloc::boxed::Box;
use alloc::format;
use alloc::string::{String, ToString};
use bsp::hal::LoopbackCloud;
use core::cell::Cell;
use core::sync::atomic::{AtomicBool, Ordering};
use core::time::Duration;
use download::{DownloadPort, Downloader, Fetcher, FileSource};
use flash::FlashPlatform;
use kernel::{Mutex, Queue};
use loopback::LoopbackLink;
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

type OtaAgent = Agent<JobsControl, DownloadPort, FlashPlatform, KernelTimer>;

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
    link: JobsLink,
    downloader: &'static Downloader,
    sink: &'static JobsSink,
}

/// Where the agent's Jobs messages go.
#[derive(Clone, Copy)]
enum JobsLink {
    /// An MQTT session to the broker, over the station's network.
    Mqtt {
        session: &'static mqtt::Session,
        station: &'static Station,
        credentials: &'static Credentials,
    },
    /// The in-memory Jobs API of a board without a network.
    Loopback(&'static LoopbackLink),
}

impl OtaService {
    /// Whether the agent task runs.
    pub fn is_running(&self) -> bool {
        self.running.load(Ordering::Acquire)
    }

    /// The station the service connects over; none over the loopback transport.
    pub fn station(&self) -> Option<&'static Station> {
        match self.parts.link {
            JobsLink::Mqtt { station, .. } => Some(station),
            JobsLink::Loopback(_) => None,
        }
    }

    /// Where the agent connects, with the loopback stand-in's view of its job.
    pub fn connection(&self) -> String {
        let settings = &self.settings;
        match self.parts.link {
            JobsLink::Mqtt { .. } => format!("at {}:{}", settings.host, settings.port),
            JobsLink::Loopback(cloud) => format!(
                "over the loopback Jobs API (no network): job {} {}",
                loopback::JOB_ID,
                cloud.describe()
            ),
        }
    }

    /// The thing the agent works for.
    pub fn thing(&self) -> &str {
        &self.settings.thing
    }

    /// The agent's last status; none until it handled its first event.
    pub fn status(&self) -> Option<Status> {
        self.status.lock().clone()
    }

    /// The user aborts the job: it is reported FAILED (`user-abort`), the partial file erased.
    pub fn abort(&self) -> Result<(), String> {
        self.events
            .send(Event::UserAbort, Duration::from_millis(100))
            .map_err(|_| String::from("the OTA agent is busy"))
    }
}

/// The agent's control port: Jobs requests go to the MQTT task's queue (or the loopback
/// stand-in's); the agent never waits for the broker (the Jobs reply is the confirmation it
/// waits for, on its timer).
struct JobsControl(JobsLink);

impl Control for JobsControl {
    fn publish(&mut self, topic: &str, payload: &[u8], qos: Qos) -> Result<(), NotSent> {
        let session = match self.0 {
            JobsLink::Mqtt { session, .. } => session,
            JobsLink::Loopback(cloud) => return cloud.publish(topic, payload),
        };
        if !session.is_active() {
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
        if session.try_send(request) {
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
        self.deliver_payload(message.topic, message.payload);
    }
}

impl JobsSink {
    /// Posts the message `payload` on `topic` to the agent, if it is one of the thing's Jobs
    /// replies and there is room; never waits.
    fn deliver_payload(&self, topic: &str, payload: &[u8]) {
        let Some(kind) = self.topics.classify(topic) else {
            log::warn!(target: "ota", "ignored a message on {topic}");
            return;
        };
        // The sender (AWS, or the agent's own retries) repeats what is lost here.
        let Some(buffer) = self.messages.take_copy(payload, Duration::ZERO) else {
            log::warn!(
                target: "ota",
                "dropped {} bytes on {topic}: no free message buffer of {}",
                payload.len(),
                self.messages.buffer_size()
            );
            return;
        };
        if self
            .events
            .send(Event::from_message(&kind, buffer), Duration::ZERO)
            .is_err()
        {
            log::warn!(target: "ota", "dropped a message on {topic}: the agent's queue is full");
        }
    }
}

/// The version of the code that runs: its compiled-in one. What `app`'s header says is what
/// was installed; the self-test must see that the new code itself runs (the boot reports a
/// header that disagrees as an error).
fn running_version() -> Result<Version, String> {
    Version::new(crate::VERSION)
        .ok_or_else(|| format!("the running version {:?} is too long", crate::VERSION))
}

/// How the agent reaches the cloud.
pub enum Transport {
    /// AWS IoT (or the local cloud) over the station's network: MQTT with `credentials`, the
    /// file over HTTPS checked against `https`.
    Network {
        station: &'static Station,
        credentials: &'static Credentials,
        https: &'static Credentials,
    },
    /// The stand-in for the cloud that a board without a network offers.
    Loopback(LoopbackCloud),
}

impl OtaService {
    /// The service for `settings` over `transport`, with what its tasks share, made once: the
    /// pools, the Jobs link (an MQTT session, or the loopback stand-in's task), the download
    /// task.
    pub fn new(
        platform: &'static Platform,
        transport: Transport,
        settings: OtaSettings,
        thing: ThingName,
    ) -> Result<&'static OtaService, String> {
        let kernel_failed = |e: kernel::Error| e.to_string();
        let topics = Topics::new(thing);
        let (link, source) = match transport {
            Transport::Loopback(cloud) => {
                let link = LoopbackLink::new(
                    platform,
                    cloud.document,
                    cloud.record,
                    topics.thing().clone(),
                )?;
                let link: &'static LoopbackLink = Box::leak(Box::new(link));
                (JobsLink::Loopback(link), FileSource::Memory(cloud.file))
            }
            Transport::Network {
                station,
                credentials,
                https,
            } => {
                let session = Box::leak(Box::new(mqtt::Session::new().map_err(kernel_failed)?));
                (
                    JobsLink::Mqtt {
                        session,
                        station,
                        credentials,
                    },
                    FileSource::Https {
                        station,
                        credentials: https,
                    },
                )
            }
        };
        let events: &'static AgentQueue =
            Box::leak(Box::new(Queue::new(OTA_EVENTS).map_err(kernel_failed)?));
        let messages = Pool::new(OTA_MESSAGE_BUFFERS, OTA_MESSAGE_MAX).map_err(kernel_failed)?;
        let blocks =
            Pool::new(OTA_BLOCK_BUFFERS, OTA_BLOCK_SIZE as usize).map_err(kernel_failed)?;
        let downloader = Downloader::new().map_err(kernel_failed)?;
        let sink: &'static JobsSink = Box::leak(Box::new(JobsSink {
            topics,
            messages,
            events,
        }));
        if let JobsLink::Loopback(cloud) = link {
            cloud.spawn(sink).map_err(kernel_failed)?;
        }
        let service: &'static OtaService = Box::leak(Box::new(OtaService {
            events,
            parts: Parts {
                link,
                downloader,
                sink,
            },
            status: Mutex::new(None).map_err(kernel_failed)?,
            settings,
            running: AtomicBool::new(false),
        }));
        let fetcher = Fetcher {
            downloader,
            source,
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
}

impl OtaService {
    /// Builds an agent over the service's parts and starts its task, which connects the Jobs
    /// session first, then posts itself `Start`. The caller makes sure no agent task runs.
    pub fn start(&'static self, platform: &'static Platform) -> Result<(), String> {
        let running = running_version()?;
        let slots = crate::ota::slots(platform)?;
        self.running.store(true, Ordering::Release);
        let started = spawn_agent(platform, self, running, slots);
        if started.is_err() {
            self.running.store(false, Ordering::Release);
        }
        started
    }
}

fn spawn_agent(
    platform: &'static Platform,
    service: &'static OtaService,
    running: Version,
    slots: bsp::ota::Slots,
) -> Result<(), String> {
    let kernel_failed = |e: kernel::Error| e.to_string();
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
        JobsControl(parts.link),
        DownloadPort(parts.downloader),
        FlashPlatform::new(platform, slots, running),
        KernelTimer {
            timer,
            clock: Cell::new((kernel::now_ms(), u64::from(kernel::now_ms()))),
        },
    );
    let settings = &service.settings;
    let session = match parts.link {
        JobsLink::Mqtt {
            session,
            station,
            credentials,
        } => Some((
            session,
            mqtt::Target {
                station,
                credentials,
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
            },
        )),
        JobsLink::Loopback(_) => None,
    };
    kernel::spawn(
        "ota-agent",
        OTA_AGENT_STACK_WORDS,
        OTA_AGENT_PRIORITY,
        move || run(platform, service, agent, session),
    )
    .map_err(kernel_failed)
}

/// The agent task: connects the Jobs session (when the link is MQTT), starts the agent, then
/// handles one event at a time: a handler's follow-up first, else the next from the queue.
///
/// When the MQTT task gives up on the broker (its reconnects ran out), the agent task connects
/// a new session and asks for the job document again, so a long outage costs no job.
fn run(
    platform: &'static Platform,
    service: &'static OtaService,
    mut agent: OtaAgent,
    session: Option<(&'static mqtt::Session, mqtt::Target)>,
) {
    let connect = |(session, target): &(&'static mqtt::Session, mqtt::Target)| {
        log::info!(target: "ota", "connecting to {}:{} as {}", target.host, target.port, target.client_id);
        mqtt::start(platform, target.clone(), session)
            .map_err(|e| log::error!(target: "ota", "the Jobs session did not start: {e}"))
    };
    if session
        .as_ref()
        .is_some_and(|session| connect(session).is_err())
    {
        service.running.store(false, Ordering::Release);
        return;
    }
    let _ = service.events.send(Event::Start, Duration::ZERO);
    loop {
        if let Some(mqtt) = session.as_ref().filter(|(session, _)| !session.is_active()) {
            log::warn!(target: "ota", "the Jobs session ended");
            if connect(mqtt).is_err() {
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
