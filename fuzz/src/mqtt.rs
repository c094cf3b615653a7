//! The MQTT decoder: the packet codec (`net::wire::mqtt`) and the client reading a broker's
//! stream (`net::mqtt::Client`).
//!
//! Input: the two script bytes of [`peer`](crate::peer), then the broker's bytes. Byte 1 picks
//! the client's receive buffer: 4 bytes (shorter than a fixed header), 64 or 1024.
//!
//! Contract: every packet at the front of the stream that `Repr::parse` accepts emits back to
//! the same bytes and parses again to the same `Repr` (the codec's documented promise); the
//! client connects, subscribes, publishes at QoS 1 and polls until the broker's bytes end,
//! without panicking, and everything it writes is one well-formed packet.

use crate::peer::{self, FakeClock, ScriptedPeer};
use net::io::Clock;
use net::mqtt::{Client, Event, Message, Options, QoS};
use net::wire::mqtt::{packet_len, Packet, Repr};

const RECEIVE_BUFFERS: [usize; 3] = [4, 64, 1024];
/// More polls than any input of the fuzzer's length can need; a session that is not over by
/// then is a hang.
const MAX_POLLS: usize = 100_000;

pub fn run(data: &[u8]) -> bool {
    let Some((read_script, options, broker)) = peer::split(data) else {
        return false;
    };
    let accepted = codec(broker);
    session(read_script, options, broker);
    accepted
}

/// The packets at the front of `stream`, cut as a stream reader cuts them.
fn codec(mut stream: &[u8]) -> bool {
    let mut accepted = false;
    while let Ok(len) = packet_len(stream) {
        let Some((bytes, rest)) = stream.split_at_checked(len) else {
            break;
        };
        let packet = Packet::new_checked(bytes).expect("packet_len counted a whole packet");
        assert_eq!(packet.total_len(), len);
        if let Ok(repr) = Repr::parse(&packet) {
            accepted = true;
            assert_eq!(repr.buffer_len(), len, "{repr:?}");
            let mut emitted = vec![0; len];
            assert_eq!(repr.emit(&mut emitted), Ok(len), "{repr:?}");
            assert_eq!(emitted, bytes, "{repr:?} emits other bytes");
            assert_eq!(Repr::parse(&Packet::new_unchecked(&emitted[..])), Ok(repr));
        }
        stream = rest;
    }
    accepted
}

fn session(read_script: u8, options: u8, broker: &[u8]) {
    let clock = FakeClock::default();
    let mut peer = ScriptedPeer::new(read_script, broker, &clock);
    let mut settings = Options::new("w800-fuzz");
    // Short times, so that keep-alive, acknowledgement timeouts and retransmissions happen
    // within the few reads an input has.
    settings.keep_alive_s = 1;
    settings.ack_timeout_ms = 300;
    settings.ping_timeout_ms = 300;
    settings.publish_retries = 1;
    settings.read_wait_ms = 100;
    let mut rx = vec![0; RECEIVE_BUFFERS[usize::from(options) % RECEIVE_BUFFERS.len()]];
    let mut tx = vec![0; 256];
    let mut outbox = vec![0; 512];
    let mut client: Client<'_, 2, 2> = Client::new(settings, &mut rx, &mut tx, &mut outbox);
    let mut on_event = check_event;
    if client.connect(&mut peer, &clock, &mut on_event).is_ok() {
        let _ = client.subscribe(
            &mut peer,
            &clock,
            "$aws/things/w800-fuzz/jobs/notify-next",
            &mut on_event,
        );
        let message = Message {
            topic: "$aws/things/w800-fuzz/jobs/start-next",
            payload: b"{\"clientToken\":\"1\"}",
            qos: QoS::AtLeastOnce,
            retain: false,
        };
        let _ = client.publish(&mut peer, clock.now_ms(), &message);
        let mut polls = 0;
        while client.is_connected() {
            polls += 1;
            assert!(polls < MAX_POLLS, "the session does not end");
            match client.poll(&mut peer, clock.now_ms()) {
                Ok(Some(event)) => check_event(event),
                Ok(None) => {}
                Err(_) => break,
            }
        }
    }
    for bytes in &peer.written {
        let packet = Packet::new_checked(&bytes[..]).expect("the client wrote a whole packet");
        assert_eq!(packet.total_len(), bytes.len(), "one packet per write");
        Repr::parse(&packet).expect("the client wrote a valid packet");
    }
}

/// What the client delivers comes from a valid PUBLISH.
fn check_event(event: Event<'_>) {
    if let Event::Message(message) = event {
        assert!(!message.topic.is_empty());
        assert!(!message.topic.contains(['+', '#']));
        assert!(message.qos <= QoS::AtLeastOnce);
    }
}
