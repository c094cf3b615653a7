//! The MQTT client against a real mosquitto broker on loopback (Debian packages `mosquitto`
//! and `mosquitto-clients`).

mod common;

use std::{
    fs,
    process::{Command, Output},
    thread,
    time::{Duration, Instant, SystemTime, UNIX_EPOCH},
};

use common::{free_port, Server, TcpTransport, TempDir};
use net::io::{Clock, Random};
use net::mqtt::{Backoff, Client, Event, Message, MqttError, Options, QoS};

const THING: &str = "dev1";
const JOBS: &str = "$aws/things/dev1/jobs/#";
const NOTIFY: &str = "$aws/things/dev1/jobs/notify-next";
const UPDATE: &str = "$aws/things/dev1/jobs/job-1/update";

/// How long a test waits for something that should happen at once.
const PATIENCE: Duration = Duration::from_secs(5);

type TestClient = Client<'static, 4, 4>;

/// A mosquitto with a plain TCP listener on loopback `port`, anonymous access, no persistence.
struct Broker {
    server: Server,
    port: u16,
}

impl Broker {
    fn start(dir: &TempDir, port: u16) -> Self {
        let config = dir.path().join(format!("mosquitto-{port}.conf"));
        fs::write(
            &config,
            format!(
                "listener {port} 127.0.0.1\nallow_anonymous true\npersistence false\n\
                 log_dest stderr\nlog_type all\n"
            ),
        )
        .unwrap();
        let mut command = Command::new("mosquitto");
        command.arg("-c").arg(&config);
        let log = dir.path().join(format!(
            "mosquitto-{}.log",
            SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .unwrap()
                .as_nanos()
        ));
        Self {
            server: Server::start(command, port, &log),
            port,
        }
    }

    /// Runs `mosquitto_pub` against this broker.
    fn publish(&self, topic: &str, payload: &str) {
        let output = Command::new("mosquitto_pub")
            .args(["-h", "127.0.0.1", "-p", &self.port.to_string(), "-q", "1"])
            .args(["-i", "jobs-emulator", "-t", topic, "-m", payload])
            .output()
            .unwrap();
        assert_success(&output, &self.server.log());
    }
}

fn assert_success(output: &Output, broker_log: &str) {
    assert!(
        output.status.success(),
        "{}{}\nbroker log:\n{broker_log}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}

/// Milliseconds since the clock was made; `delay_ms` sleeps the thread.
struct SystemClock(Instant);

impl Clock for SystemClock {
    fn now_ms(&self) -> u32 {
        // Wraps like the firmware's tick count.
        self.0.elapsed().as_millis() as u32
    }

    fn delay_ms(&self, ms: u32) {
        thread::sleep(Duration::from_millis(u64::from(ms)));
    }
}

/// A xorshift generator seeded from the time of day.
struct XorShift(u32);

impl Random for XorShift {
    fn next_u32(&mut self) -> u32 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 17;
        self.0 ^= self.0 << 5;
        self.0
    }
}

fn leak(len: usize) -> &'static mut [u8] {
    Box::leak(vec![0; len].into_boxed_slice())
}

fn client(client_id: &'static str, rx_len: usize) -> TestClient {
    let mut options = Options::new(client_id);
    options.ack_timeout_ms = 2_000;
    options.read_wait_ms = 50;
    Client::new(options, leak(rx_len), leak(1024), leak(4 * 512))
}

/// A received message, owned.
#[derive(Debug, PartialEq)]
struct Received {
    topic: String,
    payload: String,
    qos: QoS,
}

fn record(received: &mut Vec<Received>, event: Event<'_>) {
    if let Event::Message(message) = event {
        received.push(Received {
            topic: message.topic.to_owned(),
            payload: String::from_utf8_lossy(message.payload).into_owned(),
            qos: message.qos,
        });
    }
}

/// Polls until `received` holds `count` messages, failing after `PATIENCE`.
fn poll_for_messages(
    client: &mut TestClient,
    transport: &mut TcpTransport,
    clock: &SystemClock,
    received: &mut Vec<Received>,
    count: usize,
) {
    let deadline = Instant::now() + PATIENCE;
    while received.len() < count {
        assert!(Instant::now() < deadline, "only {received:?} arrived");
        if let Some(event) = client.poll(transport, clock.now_ms()).unwrap() {
            record(received, event);
        }
    }
}

/// A connected client subscribed to `filter`.
fn connect_and_subscribe(
    broker: &Broker,
    client: &mut TestClient,
    clock: &SystemClock,
    filter: &str,
) -> TcpTransport {
    let mut transport = TcpTransport::connect(broker.port).unwrap();
    client.connect(&mut transport, clock, &mut |_| {}).unwrap();
    let granted = client
        .subscribe(&mut transport, clock, filter, &mut |_| {})
        .unwrap();
    assert_eq!(granted, QoS::AtLeastOnce);
    transport
}

#[test]
fn subscribes_and_receives_its_own_qos0_and_qos1_messages() {
    let dir = TempDir::new("mqtt-own");
    let broker = Broker::start(&dir, free_port());
    let clock = SystemClock(Instant::now());
    let mut client = client("dev1-own", 4096);
    let mut transport = connect_and_subscribe(&broker, &mut client, &clock, JOBS);

    let mut received = Vec::new();
    let zero = Message {
        topic: NOTIFY,
        payload: b"zero",
        qos: QoS::AtMostOnce,
        retain: false,
    };
    assert_eq!(
        client.publish(&mut transport, clock.now_ms(), &zero),
        Ok(None)
    );
    let one = Message {
        topic: UPDATE,
        payload: b"one",
        qos: QoS::AtLeastOnce,
        ..zero
    };
    client
        .publish_and_wait(&mut transport, &clock, &one, &mut |event| {
            record(&mut received, event);
        })
        .unwrap();
    poll_for_messages(&mut client, &mut transport, &clock, &mut received, 2);
    assert_eq!(
        received,
        [
            Received {
                topic: NOTIFY.to_owned(),
                payload: "zero".to_owned(),
                qos: QoS::AtMostOnce
            },
            Received {
                topic: UPDATE.to_owned(),
                payload: "one".to_owned(),
                qos: QoS::AtLeastOnce
            }
        ]
    );
    client.disconnect(&mut transport).unwrap();
}

#[test]
fn mosquitto_pub_reaches_the_client() {
    let dir = TempDir::new("mqtt-pub");
    let broker = Broker::start(&dir, free_port());
    let clock = SystemClock(Instant::now());
    let mut client = client(THING, 4096);
    let mut transport = connect_and_subscribe(&broker, &mut client, &clock, NOTIFY);

    let document = r#"{"timestamp":1,"execution":{"jobId":"job-1"}}"#;
    broker.publish(NOTIFY, document);
    let mut received = Vec::new();
    poll_for_messages(&mut client, &mut transport, &clock, &mut received, 1);
    assert_eq!(
        received,
        [Received {
            topic: NOTIFY.to_owned(),
            payload: document.to_owned(),
            qos: QoS::AtLeastOnce
        }]
    );
    assert!(broker.server.log().contains(&format!("as {THING} ")));
}

#[test]
fn mosquitto_sub_sees_the_client_payload() {
    let dir = TempDir::new("mqtt-sub");
    let broker = Broker::start(&dir, free_port());
    let clock = SystemClock(Instant::now());
    let mut client = client(THING, 1024);
    let mut transport = TcpTransport::connect(broker.port).unwrap();
    client.connect(&mut transport, &clock, &mut |_| {}).unwrap();

    // Retained, so the subscriber gets it whenever its subscription lands.
    let status = Message {
        topic: UPDATE,
        payload: br#"{"status":"IN_PROGRESS"}"#,
        qos: QoS::AtLeastOnce,
        retain: true,
    };
    client
        .publish_and_wait(&mut transport, &clock, &status, &mut |_| {})
        .unwrap();
    let output = Command::new("mosquitto_sub")
        .args(["-h", "127.0.0.1", "-p", &broker.port.to_string()])
        .args(["-t", UPDATE, "-C", "1", "-W", "5", "-v"])
        .output()
        .unwrap();
    assert_success(&output, &broker.server.log());
    assert_eq!(
        String::from_utf8_lossy(&output.stdout),
        format!("{UPDATE} {{\"status\":\"IN_PROGRESS\"}}\n")
    );
}

#[test]
fn keep_alive_pings_hold_the_connection() {
    let dir = TempDir::new("mqtt-ping");
    let broker = Broker::start(&dir, free_port());
    let clock = SystemClock(Instant::now());
    let mut options = Options::new(THING);
    options.keep_alive_s = 1;
    options.ping_timeout_ms = 1_000;
    options.read_wait_ms = 50;
    let mut client: TestClient = Client::new(options, leak(512), leak(512), leak(512));
    let mut transport = TcpTransport::connect(broker.port).unwrap();
    client.connect(&mut transport, &clock, &mut |_| {}).unwrap();

    // mosquitto drops a client silent for 1.5 keep-alive intervals; pings must prevent that.
    let end = Instant::now() + Duration::from_millis(3_500);
    while Instant::now() < end {
        assert_eq!(client.poll(&mut transport, clock.now_ms()), Ok(None));
    }
    assert!(client.is_connected());
    let log = broker.server.log();
    assert!(
        log.matches("Received PINGREQ from dev1").count() >= 2,
        "{log}"
    );
}

#[test]
fn reconnects_with_backoff_after_a_broker_restart_and_subscribes_again() {
    let dir = TempDir::new("mqtt-restart");
    let port = free_port();
    let broker = Broker::start(&dir, port);
    let clock = SystemClock(Instant::now());
    let mut client = client(THING, 4096);
    let mut transport = connect_and_subscribe(&broker, &mut client, &clock, NOTIFY);

    drop(broker);
    let deadline = Instant::now() + PATIENCE;
    let lost = loop {
        assert!(Instant::now() < deadline, "broker loss not noticed");
        if let Err(error) = client.poll(&mut transport, clock.now_ms()) {
            break error;
        }
    };
    assert!(
        matches!(
            lost,
            MqttError::Io(net::io::IoError::Closed | net::io::IoError::Reset)
        ),
        "{lost}"
    );
    assert!(!client.is_connected());

    let restart_dir = &dir;
    let (broker, fresh, attempts) = thread::scope(|scope| {
        let restart = scope.spawn(move || {
            thread::sleep(Duration::from_millis(700));
            Broker::start(restart_dir, port)
        });
        let mut attempts = 0;
        let mut open = || {
            attempts += 1;
            TcpTransport::connect(port)
        };
        let mut backoff = Backoff::new(100, 1_000).with_attempt_limit(12);
        let mut random = XorShift(
            SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .unwrap()
                .subsec_nanos()
                | 1,
        );
        let fresh = client.reconnect(&mut open, &mut backoff, &clock, &mut random, &mut |_| {});
        (restart.join().unwrap(), fresh, attempts)
    });
    let mut transport = fresh.unwrap();
    assert!(client.is_connected());
    assert!(attempts >= 2, "connected at once, without backing off");

    // The new broker knows nothing of the old session: the message arrives only because the
    // client subscribed again.
    broker.publish(NOTIFY, "after restart");
    let mut received = Vec::new();
    poll_for_messages(&mut client, &mut transport, &clock, &mut received, 1);
    assert_eq!(received[0].payload, "after restart");
}

#[test]
fn oversized_incoming_packet_is_a_clear_error() {
    let dir = TempDir::new("mqtt-big");
    let broker = Broker::start(&dir, free_port());
    let clock = SystemClock(Instant::now());
    let mut client = client(THING, 256);
    let mut transport = connect_and_subscribe(&broker, &mut client, &clock, "t/big");

    let output = Command::new("mosquitto_pub")
        .args(["-h", "127.0.0.1", "-p", &broker.port.to_string()])
        .args(["-t", "t/big", "-m", &"x".repeat(1000)])
        .output()
        .unwrap();
    assert_success(&output, &broker.server.log());
    let deadline = Instant::now() + PATIENCE;
    let error = loop {
        assert!(Instant::now() < deadline, "no error");
        if let Err(error) = client.poll(&mut transport, clock.now_ms()) {
            break error;
        }
    };
    // A QoS 0 PUBLISH: 1 type byte, 2 length bytes, 2 + 5 topic bytes, 1000 payload bytes.
    assert_eq!(
        error,
        MqttError::IncomingPacketTooLarge {
            len: 1010,
            capacity: 256
        }
    );
    assert_eq!(
        error.to_string(),
        "incoming MQTT packet of 1010 bytes exceeds the 256-byte receive buffer"
    );
    assert!(!client.is_connected());
}
