//! The jobs service's MQTT side: one connection to the broker with the privileged identity,
//! kept up across broker restarts (it re-subscribes on every new session), and an outbox that
//! publishes what the jobs service says, through the fault knobs.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{Receiver, Sender};
use std::sync::Arc;
use std::thread;
use std::time::Duration;

use rumqttc::{
    Client, Connection, Event, MqttOptions, Packet, QoS, SubscribeFilter, SubscribeReasonCode,
    TlsConfiguration, Transport,
};
use rustls::ClientConfig;

use crate::faults::{Faults, Knob};
use crate::jobs::{Message, MessageKind, REQUEST_TOPICS};

/// AWS IoT's largest MQTT payload; the broker is configured with the same limit.
pub const MAX_PAYLOAD_BYTES: usize = 128 * 1024;
/// Room for the topic and the fixed header around the largest payload.
const MAX_PACKET_BYTES: usize = MAX_PAYLOAD_BYTES + 4096;
const KEEP_ALIVE: Duration = Duration::from_secs(30);
const RECONNECT_DELAY: Duration = Duration::from_millis(500);

/// Options for an MQTT client over mutual TLS.
pub fn options(client_id: &str, host: &str, port: u16, tls: Arc<ClientConfig>) -> MqttOptions {
    let mut options = MqttOptions::new(client_id, host, port);
    options
        .set_transport(Transport::tls_with_config(TlsConfiguration::Rustls(tls)))
        .set_keep_alive(KEEP_ALIVE)
        .set_max_packet_size(MAX_PACKET_BYTES, MAX_PACKET_BYTES);
    options
}

/// Whether the jobs service can hear devices.
#[derive(Debug, Default)]
pub struct LinkStatus {
    connected: AtomicBool,
    subscribed: AtomicBool,
}

impl LinkStatus {
    pub fn connected(&self) -> bool {
        self.connected.load(Ordering::Acquire)
    }

    /// Connected, and the broker granted every request subscription.
    pub fn subscribed(&self) -> bool {
        self.subscribed.load(Ordering::Acquire)
    }
}

pub enum Outgoing {
    /// Subscribe to the request topics (again): a new session has none.
    Subscribe,
    Publish(Message),
}

/// Drives the connection for ever: hands every request to `on_request` and reconnects after a
/// failure. Requests are handled here, in order; replies go to the outbox, so this loop never
/// waits on its own connection.
pub fn run_connection(
    mut connection: Connection,
    link: &LinkStatus,
    outbox: &Sender<Outgoing>,
    mut on_request: impl FnMut(&str, &[u8]),
) {
    // Logged once per kind of failure, not once per retry.
    let mut last_failure = String::new();
    for event in connection.iter() {
        match event {
            Ok(Event::Incoming(Packet::ConnAck(_))) => {
                eprintln!("jobs: connected to the broker");
                last_failure.clear();
                link.connected.store(true, Ordering::Release);
                // The outbox ends only when this process does.
                let _ = outbox.send(Outgoing::Subscribe);
            }
            Ok(Event::Incoming(Packet::SubAck(ack))) => {
                let granted = ack
                    .return_codes
                    .iter()
                    .all(|code| matches!(code, SubscribeReasonCode::Success(_)));
                if !granted {
                    eprintln!(
                        "jobs: the broker refused a subscription: {:?}",
                        ack.return_codes
                    );
                }
                link.subscribed.store(granted, Ordering::Release);
            }
            Ok(Event::Incoming(Packet::Publish(publish))) => {
                on_request(&publish.topic, &publish.payload);
            }
            Ok(_) => {}
            Err(error) => {
                link.connected.store(false, Ordering::Release);
                link.subscribed.store(false, Ordering::Release);
                let failure = error.to_string();
                if failure != last_failure {
                    eprintln!("jobs: no broker connection ({failure}); retrying");
                    last_failure = failure;
                }
                thread::sleep(RECONNECT_DELAY);
            }
        }
    }
}

/// Publishes the outbox for ever, applying the knobs: replies may be dropped or delayed (a
/// delay holds back what follows too, so order is kept), notifications duplicated.
pub fn run_outbox(client: Client, outbox: Receiver<Outgoing>, faults: &Faults) {
    for outgoing in outbox {
        let message = match outgoing {
            Outgoing::Subscribe => {
                let filters = REQUEST_TOPICS
                    .iter()
                    .map(|topic| SubscribeFilter::new((*topic).to_owned(), QoS::AtLeastOnce));
                if let Err(error) = client.subscribe_many(filters) {
                    eprintln!("jobs: cannot subscribe: {error}");
                }
                continue;
            }
            Outgoing::Publish(message) => message,
        };
        let copies = match message.kind {
            MessageKind::Reply => {
                if faults.take(Knob::DropReplies).is_some() {
                    eprintln!("jobs: fault: dropped the reply on {}", message.topic);
                    continue;
                }
                if let Some(delay) = faults.take(Knob::DelayReplies) {
                    thread::sleep(Duration::from_millis(delay));
                }
                1
            }
            MessageKind::Notification => {
                if faults.take(Knob::DuplicateNotifications).is_some() {
                    2
                } else {
                    1
                }
            }
        };
        let payload = message.payload.to_string();
        for _ in 0..copies {
            if let Err(error) =
                client.publish(&message.topic, QoS::AtLeastOnce, false, payload.as_bytes())
            {
                eprintln!("jobs: cannot publish on {}: {error}", message.topic);
            }
        }
    }
}
