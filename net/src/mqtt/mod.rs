//! An MQTT 3.1.1 client for the AWS IoT Jobs channel.
//!
//! One task owns the [`Client`] and calls [`Client::poll`] in a loop; each call does at most one
//! read (waiting up to [`Options::read_wait_ms`]) and hands back at most one [`Event`]: an
//! incoming message, borrowed from the client's receive buffer until the next call, or the
//! acknowledgement of a QoS 1 publish. Along the way `poll` keeps the session alive: it
//! acknowledges incoming QoS 1 messages, sends PINGREQ when the client has been silent for the
//! keep-alive interval and gives up when no PINGRESP follows, and sends unacknowledged QoS 1
//! PUBLISHes again (with DUP) until their retries run out.
//!
//! [`Client::connect`], [`Client::subscribe`] and [`Client::publish_and_wait`] block until
//! their acknowledgement arrives or times out; messages that arrive meanwhile go to the
//! `on_event` callback they take, so nothing is lost while waiting. [`Client::reconnect`]
//! retries a connection with a [`Backoff`], and every successful connection subscribes again
//! to the topic filters the client remembers, unless the broker kept the session.
//!
//! Memory is bounded and provided by the caller: a receive buffer (the largest incoming
//! packet), a transmit buffer (the largest outgoing packet that is not a QoS 1 PUBLISH), and an
//! outbox split into `IN_FLIGHT` equal slots that keep QoS 1 PUBLISHes until acknowledged.
//! Packets that do not fit are refused with an error naming both sizes, in either direction.
//!
//! Errors from the network, from the broker breaking the protocol, and from timeouts end the
//! connection ([`Client::is_connected`] turns false; reconnect with a new transport). Errors
//! about the caller's own request (a full outbox, a packet too large) leave it as it was.
#![forbid(unsafe_code)]

mod backoff;
#[cfg(test)]
mod tests;

use core::fmt;

pub use self::backoff::Backoff;
pub use crate::wire::mqtt::{ConnectReturnCode, PacketType, QoS};

use crate::io::{Clock, IoError, Random, Transport};
use crate::wire::mqtt::{
    self as wire, ConnectRepr, Packet, PublishRepr, Repr, SubscribeRepr, SubscribeReturnCode,
};

/// The longest topic filter the client remembers for subscribing again after a reconnect.
/// AWS IoT topics are at most 256 bytes.
pub const MAX_TOPIC_FILTER_LEN: usize = 256;

/// Connection parameters and timing.
#[derive(Clone, Copy, Debug)]
pub struct Options<'a> {
    /// The client identifier; AWS IoT expects the thing name.
    pub client_id: &'a str,
    /// Seconds of silence after which the client sends PINGREQ (section 3.1.2.10); 0 turns
    /// keep-alive off.
    pub keep_alive_s: u16,
    /// Start a new session on every connection (section 3.1.2.4).
    pub clean_session: bool,
    pub username: Option<&'a str>,
    pub password: Option<&'a [u8]>,
    /// How long to wait for CONNACK and SUBACK, and for PUBACK before sending a PUBLISH again.
    pub ack_timeout_ms: u32,
    /// How many times an unacknowledged QoS 1 PUBLISH is sent again before giving up.
    pub publish_retries: u8,
    /// How long to wait for PINGRESP.
    pub ping_timeout_ms: u32,
    /// How long one [`Client::poll`] waits for input.
    pub read_wait_ms: u32,
}

impl<'a> Options<'a> {
    /// The AWS IoT parameters of WinnerMicro's OTA example: keep-alive 60 s, clean session,
    /// 5 s for acknowledgements and PINGRESP, 3 retries; polls wait 100 ms.
    pub const fn new(client_id: &'a str) -> Self {
        Self {
            client_id,
            keep_alive_s: 60,
            clean_session: true,
            username: None,
            password: None,
            ack_timeout_ms: 5_000,
            publish_retries: 3,
            ping_timeout_ms: 5_000,
            read_wait_ms: 100,
        }
    }
}

/// Why an MQTT operation failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MqttError {
    /// The transport failed; `IoError::Closed` when the broker closed the connection.
    Io(IoError),
    /// The broker sent bytes that are not a valid MQTT 3.1.1 packet.
    Malformed(wire::Error),
    /// The broker sent a valid packet that makes no sense at this point.
    Protocol(&'static str),
    /// A value the caller gave cannot be sent (an invalid topic, for example).
    Invalid(wire::Error),
    /// The broker refused the connection (CONNACK return code).
    ConnectionRefused(ConnectReturnCode),
    /// The broker refused a subscription (SUBACK return code 0x80).
    SubscribeRejected,
    /// No acknowledgement of this type arrived within [`Options::ack_timeout_ms`].
    AckTimeout(PacketType),
    /// No PINGRESP arrived within [`Options::ping_timeout_ms`].
    PingTimeout,
    /// A QoS 1 PUBLISH went unacknowledged through all its retries.
    PublishNotAcknowledged { packet_id: u16 },
    /// An incoming packet of `len` bytes is larger than the receive buffer.
    IncomingPacketTooLarge { len: usize, capacity: usize },
    /// An outgoing packet of `len` bytes is larger than the buffer or outbox slot for it.
    OutgoingPacketTooLarge { len: usize, capacity: usize },
    /// Every outbox slot holds an unacknowledged QoS 1 PUBLISH.
    InFlightFull,
    /// The client remembers as many subscriptions as it can.
    SubscriptionsFull,
    /// A topic filter longer than [`MAX_TOPIC_FILTER_LEN`].
    TopicFilterTooLong { len: usize },
    /// QoS 2 publishing, which the client does not implement.
    QoS2Unsupported,
    /// The client is not connected.
    NotConnected,
}

impl fmt::Display for MqttError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Io(error) => write!(f, "MQTT transport: {error}"),
            Self::Malformed(error) => write!(f, "malformed MQTT packet from the broker: {error}"),
            Self::Protocol(what) => write!(f, "MQTT protocol violation by the broker: {what}"),
            Self::Invalid(error) => write!(f, "cannot send MQTT packet: {error}"),
            Self::ConnectionRefused(code) => write!(f, "MQTT connection refused: {code}"),
            Self::SubscribeRejected => f.write_str("MQTT subscription rejected by the broker"),
            Self::AckTimeout(kind) => write!(f, "no MQTT {kind} in time"),
            Self::PingTimeout => f.write_str("no MQTT PINGRESP in time"),
            Self::PublishNotAcknowledged { packet_id } => {
                write!(
                    f,
                    "MQTT PUBLISH {packet_id} not acknowledged after all retries"
                )
            }
            Self::IncomingPacketTooLarge { len, capacity } => write!(
                f,
                "incoming MQTT packet of {len} bytes exceeds the {capacity}-byte receive buffer"
            ),
            Self::OutgoingPacketTooLarge { len, capacity } => write!(
                f,
                "outgoing MQTT packet of {len} bytes exceeds its {capacity}-byte buffer"
            ),
            Self::InFlightFull => f.write_str("too many unacknowledged MQTT publishes"),
            Self::SubscriptionsFull => f.write_str("too many MQTT subscriptions"),
            Self::TopicFilterTooLong { len } => write!(
                f,
                "MQTT topic filter of {len} bytes is longer than {MAX_TOPIC_FILTER_LEN}"
            ),
            Self::QoS2Unsupported => f.write_str("MQTT QoS 2 is not supported"),
            Self::NotConnected => f.write_str("MQTT client not connected"),
        }
    }
}

/// An application message, received or to publish.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Message<'a> {
    pub topic: &'a str,
    pub payload: &'a [u8],
    pub qos: QoS,
    pub retain: bool,
}

/// What the client hands to the application.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Event<'a> {
    /// A message arrived on a subscribed topic. At QoS 1 the client has acknowledged it, and
    /// the broker may deliver it more than once.
    Message(Message<'a>),
    /// The broker acknowledged the QoS 1 PUBLISH with this packet identifier.
    Published { packet_id: u16 },
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum State {
    Disconnected,
    /// CONNECT sent, CONNACK awaited.
    Connecting,
    Connected,
}

/// An unacknowledged QoS 1 PUBLISH; its bytes are in the outbox slot of the same index.
#[derive(Clone, Copy, Debug)]
struct InFlight {
    packet_id: u16,
    len: usize,
    sent_ms: u32,
    resends: u8,
}

/// What processing input produced.
enum Step {
    /// Nothing for the caller: no input yet, or a packet the client dealt with itself.
    Idle,
    /// The PUBLISH at the front of the receive buffer is to be delivered.
    Message,
    PubAck(u16),
    SubAck(u16, SubscribeReturnCode),
    ConnAck(bool, ConnectReturnCode),
}

/// The request whose acknowledgement a blocking call waits for.
#[derive(Clone, Copy, PartialEq, Eq)]
enum AckFor {
    Connect,
    Subscribe(u16),
    Publish(u16),
}

/// An MQTT 3.1.1 client that remembers up to `SUBSCRIPTIONS` topic filters and keeps up to
/// `IN_FLIGHT` QoS 1 publishes awaiting acknowledgement. See the module documentation.
pub struct Client<'a, const SUBSCRIPTIONS: usize, const IN_FLIGHT: usize> {
    options: Options<'a>,
    rx: &'a mut [u8],
    /// Bytes received into `rx`.
    rx_len: usize,
    /// Length of the PUBLISH at the front of `rx` last handed out as an event; it is dropped
    /// at the start of the next step.
    rx_delivered: usize,
    tx: &'a mut [u8],
    outbox: &'a mut [u8],
    in_flight: [Option<InFlight>; IN_FLIGHT],
    subscriptions: heapless::Vec<heapless::String<MAX_TOPIC_FILTER_LEN>, SUBSCRIPTIONS>,
    state: State,
    last_sent_ms: u32,
    ping_sent_ms: Option<u32>,
    next_packet_id: u16,
}

impl<'a, const SUBSCRIPTIONS: usize, const IN_FLIGHT: usize> Client<'a, SUBSCRIPTIONS, IN_FLIGHT> {
    /// A disconnected client over the caller's buffers: `rx` bounds incoming packets, `tx`
    /// outgoing ones except QoS 1 PUBLISHes, which go into `outbox.len() / IN_FLIGHT`-byte
    /// slots of `outbox`.
    pub fn new(
        options: Options<'a>,
        rx: &'a mut [u8],
        tx: &'a mut [u8],
        outbox: &'a mut [u8],
    ) -> Self {
        Self {
            options,
            rx,
            rx_len: 0,
            rx_delivered: 0,
            tx,
            outbox,
            in_flight: [None; IN_FLIGHT],
            subscriptions: heapless::Vec::new(),
            state: State::Disconnected,
            last_sent_ms: 0,
            ping_sent_ms: None,
            next_packet_id: 1,
        }
    }

    pub fn is_connected(&self) -> bool {
        self.state == State::Connected
    }

    /// Opens a session over a freshly connected `transport`: sends CONNECT and waits for
    /// CONNACK. If the broker kept the session, unacknowledged QoS 1 PUBLISHes go out again;
    /// otherwise they are dropped (as section 3.1.2.4 requires) and every remembered topic
    /// filter is subscribed to again.
    pub fn connect<T: Transport + ?Sized>(
        &mut self,
        transport: &mut T,
        clock: &dyn Clock,
        on_event: &mut dyn FnMut(Event<'_>),
    ) -> Result<(), MqttError> {
        self.drop_connection();
        self.state = State::Connecting;
        let result = self.open_session(transport, clock, on_event);
        if result.is_err() {
            self.drop_connection();
        }
        result
    }

    /// Connects with a transport from `open`, retrying with `backoff` until a connection
    /// succeeds (then the backoff is reset) or the backoff gives up (then the last error is
    /// returned).
    pub fn reconnect<T: Transport>(
        &mut self,
        open: &mut dyn FnMut() -> Result<T, IoError>,
        backoff: &mut Backoff,
        clock: &dyn Clock,
        random: &mut dyn Random,
        on_event: &mut dyn FnMut(Event<'_>),
    ) -> Result<T, MqttError> {
        loop {
            let attempt = open().map_err(MqttError::Io).and_then(|mut transport| {
                self.connect(&mut transport, clock, on_event)?;
                Ok(transport)
            });
            match attempt {
                Ok(transport) => {
                    backoff.reset();
                    return Ok(transport);
                }
                Err(error) => match backoff.next_delay_ms(random) {
                    Some(delay_ms) => clock.delay_ms(delay_ms),
                    None => return Err(error),
                },
            }
        }
    }

    /// Subscribes to `topic_filter` at QoS 1, waits for the SUBACK, and remembers the filter
    /// for later connections. Returns the QoS the broker granted.
    pub fn subscribe<T: Transport + ?Sized>(
        &mut self,
        transport: &mut T,
        clock: &dyn Clock,
        topic_filter: &str,
        on_event: &mut dyn FnMut(Event<'_>),
    ) -> Result<QoS, MqttError> {
        self.require_connected()?;
        let filter = heapless::String::try_from(topic_filter).map_err(|_| {
            MqttError::TopicFilterTooLong {
                len: topic_filter.len(),
            }
        })?;
        let known = self.subscriptions.contains(&filter);
        if !known && self.subscriptions.is_full() {
            return Err(MqttError::SubscriptionsFull);
        }
        let granted = self.subscribe_and_wait(transport, clock, topic_filter, on_event)?;
        if !known {
            self.subscriptions
                .push(filter)
                .map_err(|_| MqttError::SubscriptionsFull)?;
        }
        Ok(granted)
    }

    /// Publishes `message` without waiting. At QoS 1 the PUBLISH stays in the outbox until
    /// acknowledged, and the packet identifier is returned: [`Event::Published`] reports the
    /// acknowledgement, and `poll` fails with [`MqttError::PublishNotAcknowledged`] when the
    /// retries run out.
    pub fn publish<T: Transport + ?Sized>(
        &mut self,
        transport: &mut T,
        now_ms: u32,
        message: &Message<'_>,
    ) -> Result<Option<u16>, MqttError> {
        self.require_connected()?;
        let mut publish = PublishRepr {
            dup: false,
            qos: message.qos,
            retain: message.retain,
            topic: message.topic,
            packet_id: None,
            payload: message.payload,
        };
        match message.qos {
            QoS::AtMostOnce => {
                self.send(transport, now_ms, &Repr::Publish(publish))?;
                Ok(None)
            }
            QoS::AtLeastOnce => {
                let index = self
                    .in_flight
                    .iter()
                    .position(Option::is_none)
                    .ok_or(MqttError::InFlightFull)?;
                let packet_id = self.free_packet_id();
                publish.packet_id = Some(packet_id);
                let len = encode(&Repr::Publish(publish), self.outbox_slot(index))?;
                self.next_packet_id = packet_id_after(packet_id);
                if let Some(entry) = self.in_flight.get_mut(index) {
                    *entry = Some(InFlight {
                        packet_id,
                        len,
                        sent_ms: now_ms,
                        resends: 0,
                    });
                }
                let packet = self.outbox_slot(index).get(..len).unwrap_or_default();
                let written = transport.write_all(packet);
                self.after_write(written, now_ms)?;
                Ok(Some(packet_id))
            }
            QoS::ExactlyOnce => Err(MqttError::QoS2Unsupported),
        }
    }

    /// Publishes `message` and, at QoS 1, waits until the broker acknowledges it or its
    /// retries run out.
    pub fn publish_and_wait<T: Transport + ?Sized>(
        &mut self,
        transport: &mut T,
        clock: &dyn Clock,
        message: &Message<'_>,
        on_event: &mut dyn FnMut(Event<'_>),
    ) -> Result<(), MqttError> {
        if let Some(packet_id) = self.publish(transport, clock.now_ms(), message)? {
            self.await_ack(transport, clock, AckFor::Publish(packet_id), on_event)?;
        }
        Ok(())
    }

    /// Does the connection's work for now (see the module documentation) and returns what
    /// arrived for the application, if anything.
    pub fn poll<T: Transport + ?Sized>(
        &mut self,
        transport: &mut T,
        now_ms: u32,
    ) -> Result<Option<Event<'_>>, MqttError> {
        self.require_connected()?;
        match self.step(transport, now_ms)? {
            Step::Message => self.delivered_message().map(Some),
            Step::PubAck(packet_id) => Ok(Some(Event::Published { packet_id })),
            // A SUBACK nobody waits for any more changes nothing; a CONNACK only reaches a
            // step while connecting.
            Step::Idle | Step::SubAck(..) | Step::ConnAck(..) => Ok(None),
        }
    }

    /// Sends DISCONNECT (section 3.14) and forgets the connection; the caller closes the
    /// transport.
    pub fn disconnect<T: Transport + ?Sized>(
        &mut self,
        transport: &mut T,
    ) -> Result<(), MqttError> {
        if self.state == State::Disconnected {
            return Ok(());
        }
        let result = encode(&Repr::Disconnect, self.tx).and_then(|len| {
            let packet = self.tx.get(..len).unwrap_or_default();
            transport.write_all(packet).map_err(MqttError::Io)
        });
        self.drop_connection();
        result
    }

    fn open_session<T: Transport + ?Sized>(
        &mut self,
        transport: &mut T,
        clock: &dyn Clock,
        on_event: &mut dyn FnMut(Event<'_>),
    ) -> Result<(), MqttError> {
        let connect = ConnectRepr {
            client_id: self.options.client_id,
            keep_alive_s: self.options.keep_alive_s,
            clean_session: self.options.clean_session,
            username: self.options.username,
            password: self.options.password,
        };
        self.send(transport, clock.now_ms(), &Repr::Connect(connect))?;
        let Step::ConnAck(session_present, return_code) =
            self.await_ack(transport, clock, AckFor::Connect, on_event)?
        else {
            return Err(MqttError::Protocol("CONNACK expected"));
        };
        if return_code != ConnectReturnCode::Accepted {
            return Err(MqttError::ConnectionRefused(return_code));
        }
        self.state = State::Connected;
        let now_ms = clock.now_ms();
        if session_present {
            // Section 4.4: a resumed session sends unacknowledged PUBLISHes again.
            for index in 0..IN_FLIGHT {
                if self.in_flight.get(index).is_some_and(Option::is_some) {
                    self.resend(transport, index, now_ms)?;
                }
            }
            return Ok(());
        }
        self.in_flight = [None; IN_FLIGHT];
        for index in 0..self.subscriptions.len() {
            let Some(filter) = self.subscriptions.get(index).cloned() else {
                break;
            };
            self.subscribe_and_wait(transport, clock, &filter, on_event)?;
        }
        Ok(())
    }

    fn subscribe_and_wait<T: Transport + ?Sized>(
        &mut self,
        transport: &mut T,
        clock: &dyn Clock,
        topic_filter: &str,
        on_event: &mut dyn FnMut(Event<'_>),
    ) -> Result<QoS, MqttError> {
        let packet_id = self.free_packet_id();
        self.next_packet_id = packet_id_after(packet_id);
        let subscribe = SubscribeRepr {
            packet_id,
            topic_filter,
            qos: QoS::AtLeastOnce,
        };
        self.send(transport, clock.now_ms(), &Repr::Subscribe(subscribe))?;
        match self.await_ack(transport, clock, AckFor::Subscribe(packet_id), on_event)? {
            Step::SubAck(_, SubscribeReturnCode::Granted(QoS::ExactlyOnce)) => {
                self.drop_connection();
                Err(MqttError::Protocol("SUBACK grants more than QoS 1"))
            }
            Step::SubAck(_, SubscribeReturnCode::Granted(qos)) => Ok(qos),
            Step::SubAck(_, SubscribeReturnCode::Failure) => Err(MqttError::SubscribeRejected),
            _ => Err(MqttError::Protocol("SUBACK expected")),
        }
    }

    /// Steps until the `awaited` acknowledgement arrives, handing everything else to
    /// `on_event`. CONNACK and SUBACK must come within the acknowledgement timeout; a PUBACK
    /// is bounded by the PUBLISH's retries instead.
    fn await_ack<T: Transport + ?Sized>(
        &mut self,
        transport: &mut T,
        clock: &dyn Clock,
        awaited: AckFor,
        on_event: &mut dyn FnMut(Event<'_>),
    ) -> Result<Step, MqttError> {
        let start_ms = clock.now_ms();
        loop {
            let now_ms = clock.now_ms();
            let timed_out = now_ms.wrapping_sub(start_ms) >= self.options.ack_timeout_ms;
            match awaited {
                AckFor::Connect if timed_out => {
                    self.drop_connection();
                    return Err(MqttError::AckTimeout(PacketType::ConnAck));
                }
                AckFor::Subscribe(_) if timed_out => {
                    self.drop_connection();
                    return Err(MqttError::AckTimeout(PacketType::SubAck));
                }
                _ => {}
            }
            match self.step(transport, now_ms)? {
                Step::Idle => {}
                Step::Message => on_event(self.delivered_message()?),
                Step::PubAck(packet_id) if awaited == AckFor::Publish(packet_id) => {
                    return Ok(Step::PubAck(packet_id));
                }
                Step::PubAck(packet_id) => on_event(Event::Published { packet_id }),
                step @ Step::SubAck(packet_id, _) if awaited == AckFor::Subscribe(packet_id) => {
                    return Ok(step);
                }
                Step::SubAck(..) => {}
                step @ Step::ConnAck(..) => return Ok(step),
            }
        }
    }

    /// Processes input: drops the message delivered last time, keeps the session alive when
    /// connected, reads once if no whole packet is buffered, and handles the packet at the
    /// front of the buffer. Any error ends the connection.
    fn step<T: Transport + ?Sized>(
        &mut self,
        transport: &mut T,
        now_ms: u32,
    ) -> Result<Step, MqttError> {
        let result = self.step_inner(transport, now_ms);
        if result.is_err() {
            self.drop_connection();
        }
        result
    }

    fn step_inner<T: Transport + ?Sized>(
        &mut self,
        transport: &mut T,
        now_ms: u32,
    ) -> Result<Step, MqttError> {
        let delivered = core::mem::take(&mut self.rx_delivered);
        self.consume(delivered);
        if self.state == State::Connected {
            self.retransmit(transport, now_ms)?;
            self.keep_alive(transport, now_ms)?;
        }
        if self.buffered_packet_len()?.is_none() {
            let free = self.rx.get_mut(self.rx_len..).unwrap_or_default();
            match transport.read(free, self.options.read_wait_ms) {
                Ok(0) => return Err(MqttError::Io(IoError::Closed)),
                Ok(received) => self.rx_len = (self.rx_len + received).min(self.rx.len()),
                Err(IoError::Timeout) => return Ok(Step::Idle),
                Err(error) => return Err(MqttError::Io(error)),
            }
        }
        match self.buffered_packet_len()? {
            Some(len) => self.handle_packet(transport, now_ms, len),
            None => Ok(Step::Idle),
        }
    }

    /// The length of the whole packet at the front of the receive buffer, `None` while it has
    /// not all arrived.
    fn buffered_packet_len(&self) -> Result<Option<usize>, MqttError> {
        let capacity = self.rx.len();
        let buffered = self.rx.get(..self.rx_len).unwrap_or_default();
        match wire::packet_len(buffered) {
            Ok(len) if len > capacity => Err(MqttError::IncomingPacketTooLarge { len, capacity }),
            Ok(len) if len <= buffered.len() => Ok(Some(len)),
            Ok(_) => Ok(None),
            // Only a buffer shorter than a fixed header can fill up before the length is known.
            Err(wire::Error::Truncated) if buffered.len() == capacity => {
                Err(MqttError::IncomingPacketTooLarge {
                    len: capacity + 1,
                    capacity,
                })
            }
            Err(wire::Error::Truncated) => Ok(None),
            Err(error) => Err(MqttError::Malformed(error)),
        }
    }

    fn handle_packet<T: Transport + ?Sized>(
        &mut self,
        transport: &mut T,
        now_ms: u32,
        len: usize,
    ) -> Result<Step, MqttError> {
        let packet = Packet::new_unchecked(self.rx.get(..len).unwrap_or_default());
        let repr = Repr::parse(&packet).map_err(MqttError::Malformed)?;
        let step = match (self.state, repr) {
            (
                State::Connecting,
                Repr::ConnAck {
                    session_present,
                    return_code,
                },
            ) => Step::ConnAck(session_present, return_code),
            (State::Connected, Repr::Publish(publish)) => {
                match (publish.qos, publish.packet_id) {
                    (QoS::AtMostOnce, _) => {}
                    (QoS::AtLeastOnce, Some(packet_id)) => {
                        let ack = encode(&Repr::PubAck { packet_id }, self.tx)?;
                        let written = transport.write_all(self.tx.get(..ack).unwrap_or_default());
                        self.after_write(written, now_ms)?;
                    }
                    _ => return Err(MqttError::Protocol("QoS 2 PUBLISH, never subscribed for")),
                }
                // Delivered from the buffer, and dropped at the next step.
                self.rx_delivered = len;
                return Ok(Step::Message);
            }
            (State::Connected, Repr::PubAck { packet_id }) => {
                let slot = self
                    .in_flight
                    .iter_mut()
                    .find(|entry| entry.is_some_and(|publish| publish.packet_id == packet_id));
                match slot {
                    Some(entry) => {
                        *entry = None;
                        Step::PubAck(packet_id)
                    }
                    // A second PUBACK, for a PUBLISH that was sent again.
                    None => Step::Idle,
                }
            }
            (
                State::Connected,
                Repr::SubAck {
                    packet_id,
                    return_code,
                },
            ) => Step::SubAck(packet_id, return_code),
            (State::Connected, Repr::PingResp) => {
                self.ping_sent_ms = None;
                Step::Idle
            }
            _ => return Err(MqttError::Protocol("unexpected packet")),
        };
        self.consume(len);
        Ok(step)
    }

    /// The PUBLISH at the front of the receive buffer, as an event.
    fn delivered_message(&self) -> Result<Event<'_>, MqttError> {
        let packet = Packet::new_unchecked(self.rx.get(..self.rx_delivered).unwrap_or_default());
        match Repr::parse(&packet) {
            Ok(Repr::Publish(publish)) => Ok(Event::Message(Message {
                topic: publish.topic,
                payload: publish.payload,
                qos: publish.qos,
                retain: publish.retain,
            })),
            _ => Err(MqttError::Protocol("no message to deliver")),
        }
    }

    /// Drops `len` handled bytes from the front of the receive buffer.
    fn consume(&mut self, len: usize) {
        let len = len.min(self.rx_len);
        self.rx.copy_within(len..self.rx_len, 0);
        self.rx_len -= len;
    }

    /// Sends again each QoS 1 PUBLISH whose PUBACK is overdue, or fails for the first one
    /// whose retries have run out.
    fn retransmit<T: Transport + ?Sized>(
        &mut self,
        transport: &mut T,
        now_ms: u32,
    ) -> Result<(), MqttError> {
        for index in 0..IN_FLIGHT {
            let Some(Some(publish)) = self.in_flight.get(index).copied() else {
                continue;
            };
            if now_ms.wrapping_sub(publish.sent_ms) < self.options.ack_timeout_ms {
                continue;
            }
            if publish.resends >= self.options.publish_retries {
                if let Some(entry) = self.in_flight.get_mut(index) {
                    *entry = None;
                }
                return Err(MqttError::PublishNotAcknowledged {
                    packet_id: publish.packet_id,
                });
            }
            self.resend(transport, index, now_ms)?;
        }
        Ok(())
    }

    /// Sends the PUBLISH in outbox slot `index` again, with DUP set (section 3.3.1.1).
    fn resend<T: Transport + ?Sized>(
        &mut self,
        transport: &mut T,
        index: usize,
        now_ms: u32,
    ) -> Result<(), MqttError> {
        let Some(Some(publish)) = self.in_flight.get_mut(index) else {
            return Ok(());
        };
        publish.sent_ms = now_ms;
        publish.resends = publish.resends.saturating_add(1);
        let len = publish.len;
        let slot = self.outbox_slot(index);
        let mut packet = Packet::new_unchecked(slot.get_mut(..len).unwrap_or_default());
        packet.set_dup(true);
        let written = transport.write_all(packet.into_inner());
        self.after_write(written, now_ms)
    }

    /// Sends PINGREQ after a keep-alive interval of silence, and fails when its PINGRESP is
    /// overdue (section 3.1.2.10).
    fn keep_alive<T: Transport + ?Sized>(
        &mut self,
        transport: &mut T,
        now_ms: u32,
    ) -> Result<(), MqttError> {
        if self.options.keep_alive_s == 0 {
            return Ok(());
        }
        if let Some(sent_ms) = self.ping_sent_ms {
            if now_ms.wrapping_sub(sent_ms) >= self.options.ping_timeout_ms {
                return Err(MqttError::PingTimeout);
            }
            return Ok(());
        }
        let interval_ms = u32::from(self.options.keep_alive_s) * 1000;
        if now_ms.wrapping_sub(self.last_sent_ms) >= interval_ms {
            self.send(transport, now_ms, &Repr::PingReq)?;
            self.ping_sent_ms = Some(now_ms);
        }
        Ok(())
    }

    /// Encodes `repr` into the transmit buffer and sends it.
    fn send<T: Transport + ?Sized>(
        &mut self,
        transport: &mut T,
        now_ms: u32,
        repr: &Repr<'_>,
    ) -> Result<(), MqttError> {
        let len = encode(repr, self.tx)?;
        let written = transport.write_all(self.tx.get(..len).unwrap_or_default());
        self.after_write(written, now_ms)
    }

    /// Notes a successful write for keep-alive, or ends the connection after a failed one.
    fn after_write(&mut self, written: Result<(), IoError>, now_ms: u32) -> Result<(), MqttError> {
        match written {
            Ok(()) => {
                self.last_sent_ms = now_ms;
                Ok(())
            }
            Err(error) => {
                self.drop_connection();
                Err(MqttError::Io(error))
            }
        }
    }

    fn require_connected(&self) -> Result<(), MqttError> {
        if self.state == State::Connected {
            Ok(())
        } else {
            Err(MqttError::NotConnected)
        }
    }

    /// Forgets the connection: buffered input, the outstanding PINGREQ, and (for a clean
    /// session, which will not be resumed) the unacknowledged publishes.
    fn drop_connection(&mut self) {
        self.state = State::Disconnected;
        self.rx_len = 0;
        self.rx_delivered = 0;
        self.ping_sent_ms = None;
        if self.options.clean_session {
            self.in_flight = [None; IN_FLIGHT];
        }
    }

    /// The next packet identifier not in use by an unacknowledged PUBLISH. The caller that
    /// sends it moves `next_packet_id` past it, so a refused packet uses up no identifier.
    fn free_packet_id(&self) -> u16 {
        let mut packet_id = self.next_packet_id;
        // At most IN_FLIGHT identifiers are in use, so this ends within IN_FLIGHT + 1 turns.
        while self
            .in_flight
            .iter()
            .flatten()
            .any(|publish| publish.packet_id == packet_id)
        {
            packet_id = packet_id_after(packet_id);
        }
        packet_id
    }

    /// Outbox slot `index`, empty if the outbox is too small to hold one per in-flight entry.
    fn outbox_slot(&mut self, index: usize) -> &mut [u8] {
        let slot_len = self.outbox.len() / IN_FLIGHT.max(1);
        let start = index.saturating_mul(slot_len);
        self.outbox
            .get_mut(start..start.saturating_add(slot_len))
            .unwrap_or_default()
    }
}

/// The identifier after `packet_id`, skipping zero, which is not a valid one (section 2.3.1).
const fn packet_id_after(packet_id: u16) -> u16 {
    match packet_id.checked_add(1) {
        Some(next) => next,
        None => 1,
    }
}

/// Encodes `repr` into `buf`, telling a packet too large for the buffer from a value the
/// standard forbids.
fn encode(repr: &Repr<'_>, buf: &mut [u8]) -> Result<usize, MqttError> {
    let capacity = buf.len();
    repr.emit(buf).map_err(|error| match error {
        wire::Error::BufferTooSmall => MqttError::OutgoingPacketTooLarge {
            len: repr.buffer_len(),
            capacity,
        },
        error => MqttError::Invalid(error),
    })
}
