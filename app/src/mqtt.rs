//! The MQTT task: a mutual-TLS session to a broker (AWS IoT Core, or the local stand-in), kept
//! alive and reconnected by one task; its owner (the shell's `mqtt` command, the OTA agent)
//! talks to it through a request queue, and incoming messages go to the session's sink (the
//! log for the shell's sessions, the agent's queue for the agent's).

use crate::config::{
    HANDSHAKE_WAIT, MQTT_IN_FLIGHT, MQTT_OUTBOX_SLOT, MQTT_PAYLOAD_MAX, MQTT_PRIORITY,
    MQTT_REPLY_WAIT, MQTT_REQUESTS, MQTT_RX_BUF, MQTT_STACK_WORDS, MQTT_SUBSCRIPTIONS,
    MQTT_TOPIC_MAX, MQTT_TX_BUF,
};
use crate::platform::Platform;
use alloc::boxed::Box;
use alloc::string::{String, ToString};
use core::sync::atomic::{AtomicBool, Ordering};
use core::time::Duration;
use kernel::Queue;
use net::io::{Clock, IoError, Random};
use net::mqtt::{Backoff, Client, Event, Message, MqttError, Options, QoS};
use net::station::Station;
use net::tls::{Credentials, TlsStream};

pub type Topic = heapless::String<MQTT_TOPIC_MAX>;

/// What a session's owner asks the task. Requests travel by value through a FreeRTOS queue
/// (copied into its fixed slots), so the variants' sizes are the bound, not an allocation.
#[allow(clippy::large_enum_variant)]
pub enum Request {
    Subscribe(Topic),
    /// Publishes; `answer` says whether the owner waits for the outcome on the reply queue
    /// (the shell does; the agent, which must not block, does not).
    Publish {
        topic: Topic,
        payload: heapless::Vec<u8, MQTT_PAYLOAD_MAX>,
        qos: QoS,
        answer: bool,
    },
    Disconnect,
}

/// Where a session's incoming messages go. It runs in the MQTT task and must not block.
pub trait MessageSink: Sync {
    fn deliver(&self, message: &Message<'_>);
}

/// The shell's sessions log what arrives.
pub struct LogSink;

impl MessageSink for LogSink {
    fn deliver(&self, message: &Message<'_>) {
        match core::str::from_utf8(message.payload) {
            Ok(text) => log::info!(target: "mqtt", "message on {}: {text}", message.topic),
            Err(_) => {
                log::info!(target: "mqtt", "message on {}: {} bytes", message.topic, message.payload.len())
            }
        }
    }
}

/// The task's answer: done, or why not.
type Reply = Result<(), MqttError>;

/// An owner's handle on its MQTT task.
pub struct Session {
    requests: Queue<Request>,
    replies: Queue<Reply>,
    /// Whether a task serves the queues now. The session itself is made once and reused, so
    /// connecting again allocates nothing new.
    active: AtomicBool,
}

impl Session {
    /// A session without a task yet.
    pub fn new() -> Result<Session, kernel::Error> {
        Ok(Session {
            requests: Queue::new(MQTT_REQUESTS)?,
            replies: Queue::new(1)?,
            active: AtomicBool::new(false),
        })
    }

    /// Whether a task serves the session now.
    pub fn is_active(&self) -> bool {
        self.active.load(Ordering::Acquire)
    }

    /// Hands `request` to the task without waiting; `false` (and the request dropped) when
    /// the queue is full.
    pub fn try_send(&self, request: Request) -> bool {
        self.requests.send(request, Duration::ZERO).is_ok()
    }

    /// Hands `request` (one that asks for an answer) to the task and waits for the answer.
    pub fn request(&self, request: Request) -> Result<(), String> {
        self.requests
            .send(request, MQTT_REPLY_WAIT)
            .map_err(|_| String::from("the MQTT task is busy"))?;
        match self.replies.receive(MQTT_REPLY_WAIT) {
            Some(Ok(())) => Ok(()),
            Some(Err(why)) => Err(why.to_string()),
            None => Err(String::from("the MQTT task did not answer")),
        }
    }

    /// The task's last word: inactive first, then the reply, so that the shell (at a higher
    /// priority) may connect again as soon as it has read it. Nothing touches the session
    /// after this: a new task may own it by the time this one has returned.
    fn finish(&self, reply: Reply) {
        self.active.store(false, Ordering::Release);
        let _ = self.replies.send(reply, MQTT_REPLY_WAIT);
    }
}

/// net's clock over the kernel's.
struct KernelClock;

impl Clock for KernelClock {
    fn now_ms(&self) -> u32 {
        kernel::now_ms()
    }

    fn delay_ms(&self, ms: u32) {
        kernel::delay(Duration::from_millis(u64::from(ms)));
    }
}

/// Jitter for the reconnect backoff, from the board's entropy.
struct BoardRandom(&'static Platform);

impl Random for BoardRandom {
    fn next_u32(&mut self) -> u32 {
        let mut bytes = [0u8; 4];
        self.0.entropy.lock().fill(&mut bytes);
        u32::from_le_bytes(bytes)
    }
}

/// Where the task connects, what it subscribes to first and where messages go.
#[derive(Clone)]
pub struct Target {
    pub station: &'static Station,
    pub credentials: &'static Credentials,
    pub host: String,
    pub port: u16,
    /// Offer AWS IoT's ALPN protocol (MQTT on port 443).
    pub alpn: bool,
    pub client_id: String,
    /// Subscribed once connected (and again after every reconnect).
    pub subscriptions: alloc::vec::Vec<Topic>,
    pub sink: &'static dyn MessageSink,
}

/// Starts the task for `target` on `session` (which must be inactive) and waits until it
/// connected and subscribed, or gave up.
pub fn start(
    platform: &'static Platform,
    target: Target,
    session: &'static Session,
) -> Result<(), String> {
    // Whatever an earlier task left unanswered or unread is stale now.
    while session.requests.receive(Duration::ZERO).is_some() {}
    while session.replies.receive(Duration::ZERO).is_some() {}
    session.active.store(true, Ordering::Release);
    if let Err(e) = kernel::spawn("mqtt", MQTT_STACK_WORDS, MQTT_PRIORITY, move || {
        run(platform, target, session)
    }) {
        session.active.store(false, Ordering::Release);
        return Err(e.to_string());
    }
    match session.replies.receive(HANDSHAKE_WAIT * 6) {
        Some(Ok(())) => Ok(()),
        Some(Err(why)) => Err(why.to_string()),
        None => Err(String::from("the MQTT task did not answer")),
    }
}

fn run(platform: &'static Platform, target: Target, session: &'static Session) {
    let mut rx = Box::new([0u8; MQTT_RX_BUF]);
    let mut tx = Box::new([0u8; MQTT_TX_BUF]);
    let mut outbox = Box::new([0u8; MQTT_IN_FLIGHT * MQTT_OUTBOX_SLOT]);
    let mut client: Client<'_, MQTT_SUBSCRIPTIONS, MQTT_IN_FLIGHT> = Client::new(
        Options::new(&target.client_id),
        &mut rx[..],
        &mut tx[..],
        &mut outbox[..],
    );
    let clock = KernelClock;
    let mut random = BoardRandom(platform);
    let mut backoff = Backoff::new(500, 5_000).with_attempt_limit(5);
    let sink = target.sink;
    let mut on_event = |event: Event<'_>| {
        if let Event::Message(message) = event {
            sink.deliver(&message);
        }
    };
    let alpn = target.alpn.then_some(net::tls::AWS_IOT_MQTT_ALPN);
    let mut open = || {
        TlsStream::connect_with_alpn(
            target.station,
            &target.host,
            target.port,
            alpn,
            target.credentials,
            HANDSHAKE_WAIT,
        )
        .map_err(|e| {
            log::warn!(target: "mqtt", "connecting to {}:{}: {e}", target.host, target.port);
            IoError::Connect
        })
    };
    let mut transport =
        match client.reconnect(&mut open, &mut backoff, &clock, &mut random, &mut on_event) {
            Ok(transport) => transport,
            Err(e) => return session.finish(Err(e)),
        };
    log::info!(target: "mqtt", "connected to {}:{} as {}", target.host, target.port, target.client_id);
    for filter in &target.subscriptions {
        if let Err(e) = client.subscribe(&mut transport, &clock, filter, &mut on_event) {
            log::error!(target: "mqtt", "subscribing to {filter}: {e}");
            let _ = client.disconnect(&mut transport);
            return session.finish(Err(e));
        }
    }
    let _ = session.replies.send(Ok(()), MQTT_REPLY_WAIT);
    loop {
        while let Some(request) = session.requests.receive(Duration::ZERO) {
            let (reply, answer) = match request {
                Request::Subscribe(topic) => (
                    client
                        .subscribe(&mut transport, &clock, &topic, &mut on_event)
                        .map(|_| ()),
                    true,
                ),
                Request::Publish {
                    topic,
                    payload,
                    qos,
                    answer,
                } => {
                    let message = Message {
                        topic: &topic,
                        payload: &payload,
                        qos,
                        retain: false,
                    };
                    let sent =
                        client.publish_and_wait(&mut transport, &clock, &message, &mut on_event);
                    if let Err(e) = &sent {
                        log::warn!(target: "mqtt", "publishing to {topic}: {e}");
                    }
                    (sent, answer)
                }
                Request::Disconnect => {
                    let _ = client.disconnect(&mut transport);
                    log::info!(target: "mqtt", "disconnected");
                    return session.finish(Ok(()));
                }
            };
            if answer {
                let _ = session.replies.send(reply, MQTT_REPLY_WAIT);
            }
        }
        match client.poll(&mut transport, kernel::now_ms()) {
            Ok(Some(event)) => on_event(event),
            Ok(None) => {}
            Err(e) => {
                log::warn!(target: "mqtt", "connection lost: {e}; reconnecting");
                match client.reconnect(&mut open, &mut backoff, &clock, &mut random, &mut on_event)
                {
                    Ok(fresh) => {
                        transport = fresh;
                        log::info!(target: "mqtt", "reconnected, subscriptions restored");
                    }
                    Err(e) => {
                        log::error!(target: "mqtt", "giving up: {e}");
                        session.active.store(false, Ordering::Release);
                        return;
                    }
                }
            }
        }
    }
}
