//! The client's state machine against a scripted broker.

use super::*;
use crate::io::fake::{FakeClock, Input, ScriptedTransport};
use crate::wire::mqtt::Packet;

type TestClient = Client<'static, 4, 2>;

const THING: &str = "dev1";
const NOTIFY: &str = "$aws/things/dev1/jobs/notify-next";
const ACCEPTED: &str = "$aws/things/dev1/jobs/$next/get/accepted";

fn leak(len: usize) -> &'static mut [u8] {
    Box::leak(vec![0; len].into_boxed_slice())
}

fn client(options: Options<'static>) -> TestClient {
    Client::new(options, leak(512), leak(512), leak(2 * 256))
}

fn bytes(repr: Repr<'_>) -> Vec<u8> {
    let mut buf = vec![0; repr.buffer_len()];
    repr.emit(&mut buf).unwrap();
    buf
}

fn connack(session_present: bool, return_code: ConnectReturnCode) -> Vec<u8> {
    bytes(Repr::ConnAck {
        session_present,
        return_code,
    })
}

fn accepted() -> Vec<u8> {
    connack(false, ConnectReturnCode::Accepted)
}

fn suback(packet_id: u16, return_code: SubscribeReturnCode) -> Vec<u8> {
    bytes(Repr::SubAck {
        packet_id,
        return_code,
    })
}

fn puback(packet_id: u16) -> Vec<u8> {
    bytes(Repr::PubAck { packet_id })
}

fn incoming(topic: &str, payload: &[u8], packet_id: Option<u16>) -> Vec<u8> {
    bytes(Repr::Publish(PublishRepr {
        dup: false,
        qos: if packet_id.is_some() {
            QoS::AtLeastOnce
        } else {
            QoS::AtMostOnce
        },
        retain: false,
        topic,
        packet_id,
        payload,
    }))
}

fn message<'a>(topic: &'a str, payload: &'a [u8], qos: QoS) -> Message<'a> {
    Message {
        topic,
        payload,
        qos,
        retain: false,
    }
}

/// What the client wrote, one packet per write.
fn sent(transport: &ScriptedTransport) -> Vec<Repr<'_>> {
    transport
        .writes
        .iter()
        .map(|write| Repr::parse(&Packet::new_unchecked(write.as_slice())).unwrap())
        .collect()
}

fn ignore(_: Event<'_>) {}

fn no_jitter() -> u32 {
    0
}

/// A client connected over a scripted transport, with the CONNECT already cleared from the
/// record of writes.
fn connected(options: Options<'static>) -> (TestClient, ScriptedTransport, FakeClock) {
    let clock = FakeClock::default();
    let mut transport = ScriptedTransport::new(&clock);
    transport.push_bytes(&accepted());
    let mut client = client(options);
    client.connect(&mut transport, &clock, &mut ignore).unwrap();
    transport.writes.clear();
    (client, transport, clock)
}

/// Subscribes to each of `filters` in turn (packet ids 1, 2, ...), the broker granting QoS 1.
fn subscribe_granted(
    client: &mut TestClient,
    transport: &mut ScriptedTransport,
    clock: &FakeClock,
    filters: &[&str],
) {
    for (packet_id, filter) in (1..).zip(filters) {
        transport.push_bytes(&suback(
            packet_id,
            SubscribeReturnCode::Granted(QoS::AtLeastOnce),
        ));
        client
            .subscribe(transport, clock, filter, &mut ignore)
            .unwrap();
    }
}

/// Polls until an error, failing the test after `limit_ms` of scripted time.
fn poll_until_error(
    client: &mut TestClient,
    transport: &mut ScriptedTransport,
    clock: &FakeClock,
    limit_ms: u32,
) -> MqttError {
    let start = clock.now_ms();
    loop {
        assert!(
            clock.now_ms() - start <= limit_ms,
            "no error within {limit_ms} ms"
        );
        if let Err(error) = client.poll(transport, clock.now_ms()) {
            return error;
        }
    }
}

/// Polls for `duration_ms` of scripted time, expecting nothing but quiet.
fn poll_for(
    client: &mut TestClient,
    transport: &mut ScriptedTransport,
    clock: &FakeClock,
    duration_ms: u32,
) {
    let end = clock.now_ms() + duration_ms;
    while clock.now_ms() < end {
        assert_eq!(client.poll(transport, clock.now_ms()), Ok(None));
    }
}

#[test]
fn connect_sends_connect_and_accepts_connack() {
    let clock = FakeClock::default();
    let mut transport = ScriptedTransport::new(&clock);
    transport.push_bytes(&accepted());
    let mut client = client(Options::new(THING));
    assert!(!client.is_connected());
    client.connect(&mut transport, &clock, &mut ignore).unwrap();
    assert!(client.is_connected());
    assert_eq!(
        sent(&transport),
        [Repr::Connect(ConnectRepr {
            client_id: THING,
            keep_alive_s: 60,
            clean_session: true,
            username: None,
            password: None,
        })]
    );
}

#[test]
fn connack_return_codes_are_errors() {
    let clock = FakeClock::default();
    let mut transport = ScriptedTransport::new(&clock);
    transport.push_bytes(&connack(false, ConnectReturnCode::NotAuthorized));
    let mut client = client(Options::new(THING));
    assert_eq!(
        client.connect(&mut transport, &clock, &mut ignore),
        Err(MqttError::ConnectionRefused(
            ConnectReturnCode::NotAuthorized
        ))
    );
    assert!(!client.is_connected());
}

#[test]
fn connack_must_come_in_time() {
    let clock = FakeClock::default();
    let mut transport = ScriptedTransport::new(&clock);
    let mut client = client(Options::new(THING));
    assert_eq!(
        client.connect(&mut transport, &clock, &mut ignore),
        Err(MqttError::AckTimeout(PacketType::ConnAck))
    );
    assert!((5_000..5_200).contains(&clock.now_ms()));
    assert!(!client.is_connected());
    assert_eq!(
        MqttError::AckTimeout(PacketType::ConnAck).to_string(),
        "no MQTT CONNACK in time"
    );
}

#[test]
fn publish_before_connack_is_a_protocol_error() {
    let clock = FakeClock::default();
    let mut transport = ScriptedTransport::new(&clock);
    transport.push_bytes(&incoming("t", b"x", None));
    let mut client = client(Options::new(THING));
    assert_eq!(
        client.connect(&mut transport, &clock, &mut ignore),
        Err(MqttError::Protocol("unexpected packet"))
    );
}

#[test]
fn calls_need_a_connection() {
    let clock = FakeClock::default();
    let mut transport = ScriptedTransport::new(&clock);
    let mut client = client(Options::new(THING));
    assert_eq!(client.poll(&mut transport, 0), Err(MqttError::NotConnected));
    let hello = message("t", b"x", QoS::AtMostOnce);
    assert_eq!(
        client.publish(&mut transport, 0, &hello),
        Err(MqttError::NotConnected)
    );
    assert_eq!(
        client.subscribe(&mut transport, &clock, NOTIFY, &mut ignore),
        Err(MqttError::NotConnected)
    );
    assert!(transport.writes.is_empty());
}

#[test]
fn subscribe_sends_qos1_and_checks_the_suback() {
    let (mut client, mut transport, clock) = connected(Options::new(THING));
    transport.push_bytes(&suback(1, SubscribeReturnCode::Granted(QoS::AtLeastOnce)));
    assert_eq!(
        client.subscribe(&mut transport, &clock, NOTIFY, &mut ignore),
        Ok(QoS::AtLeastOnce)
    );
    assert_eq!(
        sent(&transport),
        [Repr::Subscribe(SubscribeRepr {
            packet_id: 1,
            topic_filter: NOTIFY,
            qos: QoS::AtLeastOnce,
        })]
    );
}

#[test]
fn suback_failure_is_an_error_and_the_filter_is_not_remembered() {
    let (mut client, mut transport, clock) = connected(Options::new(THING));
    transport.push_bytes(&suback(1, SubscribeReturnCode::Failure));
    assert_eq!(
        client.subscribe(&mut transport, &clock, NOTIFY, &mut ignore),
        Err(MqttError::SubscribeRejected)
    );
    // The session itself is fine.
    assert!(client.is_connected());

    // A new session subscribes to nothing.
    transport.writes.clear();
    transport.push_bytes(&accepted());
    client.connect(&mut transport, &clock, &mut ignore).unwrap();
    assert_eq!(transport.writes.len(), 1);
}

#[test]
fn suback_with_another_packet_id_does_not_count() {
    let (mut client, mut transport, clock) = connected(Options::new(THING));
    transport.push_bytes(&suback(9, SubscribeReturnCode::Failure));
    assert_eq!(
        client.subscribe(&mut transport, &clock, NOTIFY, &mut ignore),
        Err(MqttError::AckTimeout(PacketType::SubAck))
    );
    assert!(!client.is_connected());
}

#[test]
fn suback_granting_qos2_is_a_protocol_error() {
    let (mut client, mut transport, clock) = connected(Options::new(THING));
    transport.push_bytes(&suback(1, SubscribeReturnCode::Granted(QoS::ExactlyOnce)));
    assert_eq!(
        client.subscribe(&mut transport, &clock, NOTIFY, &mut ignore),
        Err(MqttError::Protocol("SUBACK grants more than QoS 1"))
    );
    assert!(!client.is_connected());
}

#[test]
fn subscriptions_are_bounded() {
    let (mut client, mut transport, clock) = connected(Options::new(THING));
    let filters = ["a/1", "a/2", "a/3", "a/4"];
    subscribe_granted(&mut client, &mut transport, &clock, &filters);
    assert_eq!(
        client.subscribe(&mut transport, &clock, "a/5", &mut ignore),
        Err(MqttError::SubscriptionsFull)
    );
    // Subscribing again to a remembered filter needs no room.
    transport.push_bytes(&suback(5, SubscribeReturnCode::Granted(QoS::AtMostOnce)));
    assert_eq!(
        client.subscribe(&mut transport, &clock, "a/2", &mut ignore),
        Ok(QoS::AtMostOnce)
    );
    let long = "x".repeat(MAX_TOPIC_FILTER_LEN + 1);
    assert_eq!(
        client.subscribe(&mut transport, &clock, &long, &mut ignore),
        Err(MqttError::TopicFilterTooLong {
            len: MAX_TOPIC_FILTER_LEN + 1
        })
    );
    assert!(client.is_connected());
}

#[test]
fn messages_arriving_while_waiting_for_an_ack_reach_on_event() {
    let (mut client, mut transport, clock) = connected(Options::new(THING));
    transport.push_bytes(&incoming(ACCEPTED, b"{\"execution\":{}}", Some(3)));
    transport.push_bytes(&suback(1, SubscribeReturnCode::Granted(QoS::AtLeastOnce)));
    let mut received = Vec::new();
    let mut record = |event: Event<'_>| {
        if let Event::Message(message) = event {
            received.push((message.topic.to_owned(), message.payload.to_vec()));
        }
    };
    client
        .subscribe(&mut transport, &clock, NOTIFY, &mut record)
        .unwrap();
    assert_eq!(
        received,
        [(ACCEPTED.to_owned(), b"{\"execution\":{}}".to_vec())]
    );
    // The QoS 1 message was acknowledged on the way.
    assert_eq!(sent(&transport)[1], Repr::PubAck { packet_id: 3 });
}

#[test]
fn publish_qos0_is_sent_once() {
    let (mut client, mut transport, clock) = connected(Options::new(THING));
    let progress = message("$aws/things/dev1/jobs/j1/update", b"{}", QoS::AtMostOnce);
    assert_eq!(
        client.publish(&mut transport, clock.now_ms(), &progress),
        Ok(None)
    );
    poll_for(&mut client, &mut transport, &clock, 20_000);
    let publishes = sent(&transport)
        .into_iter()
        .filter(|repr| matches!(repr, Repr::Publish(_)))
        .count();
    assert_eq!(publishes, 1);
}

#[test]
fn qos1_publish_is_sent_again_with_dup_until_acknowledged() {
    let (mut client, mut transport, clock) = connected(Options::new(THING));
    let status = message(
        "$aws/things/dev1/jobs/j1/update",
        b"{\"status\":\"IN_PROGRESS\"}",
        QoS::AtLeastOnce,
    );
    assert_eq!(
        client.publish(&mut transport, clock.now_ms(), &status),
        Ok(Some(1))
    );
    poll_for(&mut client, &mut transport, &clock, 5_100);
    // After the acknowledgement timeout, the same packet with DUP.
    let writes = sent(&transport);
    let [Repr::Publish(first), Repr::Publish(again)] = writes[..] else {
        panic!("{writes:?}");
    };
    assert_eq!((first.dup, first.packet_id), (false, Some(1)));
    assert_eq!((again.dup, again.packet_id), (true, Some(1)));
    assert_eq!((again.topic, again.payload), (status.topic, status.payload));

    transport.push_bytes(&puback(1));
    assert_eq!(
        client.poll(&mut transport, clock.now_ms()),
        Ok(Some(Event::Published { packet_id: 1 }))
    );
    // A late PUBACK for the first copy changes nothing, and nothing is sent again.
    transport.push_bytes(&puback(1));
    poll_for(&mut client, &mut transport, &clock, 20_000);
    assert_eq!(transport.writes.len(), 2);
}

#[test]
fn publish_retries_run_out_with_an_error() {
    let mut options = Options::new(THING);
    options.publish_retries = 2;
    options.keep_alive_s = 0;
    let (mut client, mut transport, clock) = connected(options);
    let status = message("t", b"x", QoS::AtLeastOnce);
    client
        .publish(&mut transport, clock.now_ms(), &status)
        .unwrap();
    assert_eq!(
        poll_until_error(&mut client, &mut transport, &clock, 20_000),
        MqttError::PublishNotAcknowledged { packet_id: 1 }
    );
    // The first send, two retries, then the third timeout.
    assert_eq!(transport.writes.len(), 3);
    assert!((15_000..15_200).contains(&clock.now_ms()));
    assert!(!client.is_connected());
}

#[test]
fn publish_and_wait_returns_on_its_puback() {
    let (mut client, mut transport, clock) = connected(Options::new(THING));
    transport.push(Input::Silence);
    transport.push_bytes(&puback(1));
    let status = message("t", b"x", QoS::AtLeastOnce);
    client
        .publish_and_wait(&mut transport, &clock, &status, &mut ignore)
        .unwrap();
    assert!(transport.inputs.is_empty());
}

#[test]
fn in_flight_publishes_are_bounded_and_get_distinct_ids() {
    let (mut client, mut transport, clock) = connected(Options::new(THING));
    let status = message("t", b"x", QoS::AtLeastOnce);
    assert_eq!(client.publish(&mut transport, 0, &status), Ok(Some(1)));
    assert_eq!(client.publish(&mut transport, 0, &status), Ok(Some(2)));
    assert_eq!(
        client.publish(&mut transport, 0, &status),
        Err(MqttError::InFlightFull)
    );
    transport.push_bytes(&puback(2));
    assert_eq!(
        client.poll(&mut transport, clock.now_ms()),
        Ok(Some(Event::Published { packet_id: 2 }))
    );
    assert_eq!(client.publish(&mut transport, 0, &status), Ok(Some(3)));
}

#[test]
fn packet_ids_skip_zero_and_ids_in_flight() {
    let (mut client, mut transport, _clock) = connected(Options::new(THING));
    client.next_packet_id = u16::MAX;
    let status = message("t", b"x", QoS::AtLeastOnce);
    assert_eq!(
        client.publish(&mut transport, 0, &status),
        Ok(Some(u16::MAX))
    );
    client.next_packet_id = u16::MAX;
    assert_eq!(client.publish(&mut transport, 0, &status), Ok(Some(1)));
}

#[test]
fn qos2_publishing_is_refused() {
    let (mut client, mut transport, _clock) = connected(Options::new(THING));
    let exactly_once = message("t", b"x", QoS::ExactlyOnce);
    assert_eq!(
        client.publish(&mut transport, 0, &exactly_once),
        Err(MqttError::QoS2Unsupported)
    );
}

#[test]
fn invalid_topics_are_refused_before_sending() {
    let (mut client, mut transport, _clock) = connected(Options::new(THING));
    let wildcard = message("a/+", b"x", QoS::AtMostOnce);
    assert_eq!(
        client.publish(&mut transport, 0, &wildcard),
        Err(MqttError::Invalid(wire::Error::BadTopic))
    );
    assert!(transport.writes.is_empty());
    assert!(client.is_connected());
}

#[test]
fn incoming_qos1_publish_is_acknowledged_and_delivered() {
    let (mut client, mut transport, clock) = connected(Options::new(THING));
    transport.push_bytes(&incoming(NOTIFY, b"{\"timestamp\":1}", Some(7)));
    let event = client.poll(&mut transport, clock.now_ms()).unwrap();
    assert_eq!(
        event,
        Some(Event::Message(Message {
            topic: NOTIFY,
            payload: b"{\"timestamp\":1}",
            qos: QoS::AtLeastOnce,
            retain: false,
        }))
    );
    assert_eq!(sent(&transport), [Repr::PubAck { packet_id: 7 }]);
}

#[test]
fn packets_split_across_reads_or_sharing_one_are_each_delivered() {
    let (mut client, mut transport, clock) = connected(Options::new(THING));
    let first = incoming("a", b"1", None);
    let second = incoming("b", b"22", None);
    let third = incoming("c", b"333", None);
    let mut stream = [first, second, third].concat();
    // One read with the first packet and half the second; the rest byte by byte.
    let rest = stream.split_off(first_len_and_half(&stream));
    transport.push_bytes(&stream);
    for byte in rest {
        transport.push_bytes(&[byte]);
    }
    let mut topics = Vec::new();
    while topics.len() < 3 {
        if let Some(Event::Message(message)) = client.poll(&mut transport, clock.now_ms()).unwrap()
        {
            topics.push((message.topic.to_owned(), message.payload.to_vec()));
        }
    }
    assert_eq!(
        topics,
        [
            ("a".to_owned(), b"1".to_vec()),
            ("b".to_owned(), b"22".to_vec()),
            ("c".to_owned(), b"333".to_vec())
        ]
    );
}

fn first_len_and_half(stream: &[u8]) -> usize {
    let first = wire::packet_len(stream).unwrap();
    first + wire::packet_len(&stream[first..]).unwrap() / 2
}

#[test]
fn oversized_incoming_packet_is_a_clear_error() {
    let clock = FakeClock::default();
    let mut transport = ScriptedTransport::new(&clock);
    transport.push_bytes(&accepted());
    let mut client: TestClient = Client::new(Options::new(THING), leak(64), leak(64), leak(128));
    client.connect(&mut transport, &clock, &mut ignore).unwrap();
    transport.push_bytes(&incoming("t", &[0; 100], None));
    assert_eq!(
        client.poll(&mut transport, clock.now_ms()),
        Err(MqttError::IncomingPacketTooLarge {
            len: 105,
            capacity: 64
        })
    );
    assert!(!client.is_connected());
}

#[test]
fn oversized_outgoing_packets_are_refused_without_disconnecting() {
    let clock = FakeClock::default();
    let mut transport = ScriptedTransport::new(&clock);
    transport.push_bytes(&accepted());
    let mut client: TestClient = Client::new(Options::new(THING), leak(64), leak(64), leak(128));
    client.connect(&mut transport, &clock, &mut ignore).unwrap();
    let large = [0; 100];
    assert_eq!(
        client.publish(&mut transport, 0, &message("t", &large, QoS::AtMostOnce)),
        Err(MqttError::OutgoingPacketTooLarge {
            len: 105,
            capacity: 64
        })
    );
    // Two in-flight slots of 64 bytes each.
    assert_eq!(
        client.publish(&mut transport, 0, &message("t", &large, QoS::AtLeastOnce)),
        Err(MqttError::OutgoingPacketTooLarge {
            len: 107,
            capacity: 64
        })
    );
    assert!(client.is_connected());
    assert_eq!(
        client.publish(
            &mut transport,
            0,
            &message("t", &large[..50], QoS::AtLeastOnce)
        ),
        Ok(Some(1))
    );
}

#[test]
fn pingreq_after_keep_alive_and_no_pingresp_ends_the_connection() {
    let mut options = Options::new(THING);
    options.keep_alive_s = 2;
    let (mut client, mut transport, clock) = connected(options);
    poll_for(&mut client, &mut transport, &clock, 2_100);
    assert_eq!(sent(&transport), [Repr::PingReq]);
    assert_eq!(
        poll_until_error(&mut client, &mut transport, &clock, 6_000),
        MqttError::PingTimeout
    );
    assert!((7_000..7_200).contains(&clock.now_ms()));
    assert!(!client.is_connected());
}

#[test]
fn pingresp_keeps_the_connection() {
    let mut options = Options::new(THING);
    options.keep_alive_s = 2;
    let (mut client, mut transport, clock) = connected(options);
    for _ in 0..3 {
        poll_for(&mut client, &mut transport, &clock, 2_100);
        transport.push_bytes(&bytes(Repr::PingResp));
    }
    poll_for(&mut client, &mut transport, &clock, 10);
    assert_eq!(sent(&transport), [Repr::PingReq; 3]);
    assert!(client.is_connected());
}

#[test]
fn traffic_postpones_the_ping() {
    let mut options = Options::new(THING);
    options.keep_alive_s = 2;
    let (mut client, mut transport, clock) = connected(options);
    poll_for(&mut client, &mut transport, &clock, 1_500);
    client
        .publish(
            &mut transport,
            clock.now_ms(),
            &message("t", b"x", QoS::AtMostOnce),
        )
        .unwrap();
    poll_for(&mut client, &mut transport, &clock, 1_900);
    assert_eq!(transport.writes.len(), 1);
    poll_for(&mut client, &mut transport, &clock, 200);
    assert_eq!(sent(&transport)[1], Repr::PingReq);
}

#[test]
fn broker_errors_end_the_connection() {
    let cases: [(Vec<u8>, MqttError); 4] = [
        (
            vec![0x30, 0xFF, 0xFF, 0xFF, 0xFF, 0x01],
            MqttError::Malformed(wire::Error::BadRemainingLength),
        ),
        (
            vec![0x30, 0x03, 0x00, 0x01, b'#'],
            MqttError::Malformed(wire::Error::BadTopic),
        ),
        (accepted(), MqttError::Protocol("unexpected packet")),
        (
            bytes(Repr::PingReq),
            MqttError::Protocol("unexpected packet"),
        ),
    ];
    for (input, error) in cases {
        let (mut client, mut transport, clock) = connected(Options::new(THING));
        transport.push_bytes(&input);
        assert_eq!(client.poll(&mut transport, clock.now_ms()), Err(error));
        assert!(!client.is_connected());
    }
}

#[test]
fn transport_failures_end_the_connection() {
    let (mut client, mut transport, clock) = connected(Options::new(THING));
    transport.push(Input::Close);
    assert_eq!(
        client.poll(&mut transport, clock.now_ms()),
        Err(MqttError::Io(IoError::Closed))
    );
    assert!(!client.is_connected());

    let (mut client, mut transport, clock) = connected(Options::new(THING));
    transport.push(Input::Fail(IoError::Reset));
    assert_eq!(
        client.poll(&mut transport, clock.now_ms()),
        Err(MqttError::Io(IoError::Reset))
    );

    let (mut client, mut transport, _clock) = connected(Options::new(THING));
    transport.write_error = Some(IoError::Tls(-0x50));
    assert_eq!(
        client.publish(&mut transport, 0, &message("t", b"x", QoS::AtLeastOnce)),
        Err(MqttError::Io(IoError::Tls(-0x50)))
    );
    assert!(!client.is_connected());
}

#[test]
fn disconnect_sends_disconnect() {
    let (mut client, mut transport, _clock) = connected(Options::new(THING));
    assert_eq!(client.disconnect(&mut transport), Ok(()));
    assert_eq!(sent(&transport), [Repr::Disconnect]);
    assert!(!client.is_connected());
    assert_eq!(client.disconnect(&mut transport), Ok(()));
    assert_eq!(transport.writes.len(), 1);
}

#[test]
fn reconnect_backs_off_then_subscribes_again() {
    let (mut client, mut transport, clock) = connected(Options::new(THING));
    subscribe_granted(&mut client, &mut transport, &clock, &[NOTIFY, ACCEPTED]);
    transport.push(Input::Close);
    assert!(client.poll(&mut transport, clock.now_ms()).is_err());

    let mut attempts = 0;
    let mut open = || {
        attempts += 1;
        if attempts < 3 {
            return Err(IoError::Connect);
        }
        let mut fresh = ScriptedTransport::new(&clock);
        fresh.push_bytes(&accepted());
        fresh.push_bytes(&suback(3, SubscribeReturnCode::Granted(QoS::AtLeastOnce)));
        fresh.push_bytes(&suback(4, SubscribeReturnCode::Granted(QoS::AtLeastOnce)));
        Ok(fresh)
    };
    let mut backoff = Backoff::new(1_000, 8_000);
    let before = clock.now_ms();
    let fresh = client
        .reconnect(&mut open, &mut backoff, &clock, &mut no_jitter, &mut ignore)
        .unwrap();
    // Two failures waited 500 and 1000 ms (zero jitter).
    assert_eq!(clock.now_ms() - before, 1_500);
    assert!(client.is_connected());
    let filters: Vec<_> = sent(&fresh)
        .into_iter()
        .filter_map(|repr| match repr {
            Repr::Subscribe(subscribe) => Some(subscribe.topic_filter),
            _ => None,
        })
        .collect();
    assert_eq!(filters, [NOTIFY, ACCEPTED]);
    // Success reset the backoff.
    assert_eq!(backoff.next_delay_ms(&mut no_jitter), Some(500));
}

#[test]
fn reconnect_gives_up_when_the_backoff_does() {
    let clock = FakeClock::default();
    let mut client = client(Options::new(THING));
    let mut attempts = 0;
    let mut open = || -> Result<ScriptedTransport, IoError> {
        attempts += 1;
        Err(IoError::Dns)
    };
    let mut backoff = Backoff::new(100, 1_000).with_attempt_limit(3);
    assert_eq!(
        client
            .reconnect(&mut open, &mut backoff, &clock, &mut no_jitter, &mut ignore)
            .map(|_| ()),
        Err(MqttError::Io(IoError::Dns))
    );
    assert_eq!(attempts, 4);
}

#[test]
fn resumed_session_sends_unacknowledged_publishes_again() {
    let mut options = Options::new(THING);
    options.clean_session = false;
    let (mut client, mut transport, clock) = connected(options);
    transport.push_bytes(&suback(1, SubscribeReturnCode::Granted(QoS::AtLeastOnce)));
    client
        .subscribe(&mut transport, &clock, NOTIFY, &mut ignore)
        .unwrap();
    let status = message("t", b"x", QoS::AtLeastOnce);
    assert_eq!(client.publish(&mut transport, 0, &status), Ok(Some(2)));
    transport.push(Input::Close);
    assert!(client.poll(&mut transport, clock.now_ms()).is_err());

    // The broker kept the session: the PUBLISH goes again with DUP, no SUBSCRIBE.
    let mut resumed = ScriptedTransport::new(&clock);
    resumed.push_bytes(&connack(true, ConnectReturnCode::Accepted));
    client.connect(&mut resumed, &clock, &mut ignore).unwrap();
    let writes = sent(&resumed);
    let [Repr::Connect(_), Repr::Publish(again)] = writes[..] else {
        panic!("{writes:?}");
    };
    assert_eq!((again.dup, again.packet_id), (true, Some(2)));
    drop(resumed);

    // The broker lost it: the PUBLISH is dropped and the subscription renewed.
    let mut fresh = ScriptedTransport::new(&clock);
    fresh.push_bytes(&accepted());
    fresh.push_bytes(&suback(3, SubscribeReturnCode::Granted(QoS::AtLeastOnce)));
    client.connect(&mut fresh, &clock, &mut ignore).unwrap();
    let writes = sent(&fresh);
    assert!(
        matches!(writes[..], [Repr::Connect(_), Repr::Subscribe(_)]),
        "{writes:?}"
    );
    poll_for(&mut client, &mut fresh, &clock, 20_000);
    assert!(!sent(&fresh)
        .iter()
        .any(|repr| matches!(repr, Repr::Publish(_))));
}

#[test]
fn clean_session_drops_unacknowledged_publishes_on_disconnect() {
    let (mut client, mut transport, clock) = connected(Options::new(THING));
    client
        .publish(&mut transport, 0, &message("t", b"x", QoS::AtLeastOnce))
        .unwrap();
    transport.push(Input::Close);
    assert!(client.poll(&mut transport, clock.now_ms()).is_err());
    assert!(client.in_flight.iter().all(Option::is_none));
}
