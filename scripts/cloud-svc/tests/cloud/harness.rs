//! The test harness: a private cloud started with `scripts/cloud up` (its own run directory,
//! PKI and free ports) and stopped with `scripts/cloud down` when dropped, devices that speak
//! MQTT over mutual TLS, and an HTTPS client for presigned URLs.
//!
//! Every wait is bounded; a test that waits in vain fails with what it was waiting for.

use std::collections::VecDeque;
use std::io::{ErrorKind, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{self, Receiver};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use cloud_svc::{mqtt, tls};
use rumqttc::{Client, Event, Packet, QoS, SubscribeReasonCode};
use rustls::pki_types::ServerName;
use rustls::{ClientConnection, StreamOwned};
use serde_json::Value;

pub const THING: &str = "w800-demo-1";
pub const OTHER_THING: &str = "w800-demo-2";
/// The longest any single expectation waits.
pub const PATIENCE: Duration = Duration::from_secs(10);
const SCRIPT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../cloud");

/// A running private cloud; `scripts/cloud down` runs when it is dropped, even after a failed
/// assertion.
pub struct Cloud {
    dir: tempfile::TempDir,
    pub mqtt_port: u16,
    pub https_port: u16,
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .map(|address| address.port())
        .expect("a free port")
}

impl Cloud {
    pub fn start() -> Self {
        let cloud = Self {
            dir: tempfile::tempdir().expect("a temporary directory"),
            mqtt_port: free_port(),
            https_port: free_port(),
        };
        cloud.up();
        cloud
    }

    pub fn up(&self) {
        self.script(&["up"]);
    }

    pub fn down(&self) {
        self.script(&["down"]);
    }

    pub fn run_dir(&self) -> PathBuf {
        self.dir.path().join("run")
    }

    pub fn pki(&self) -> PathBuf {
        self.dir.path().join("pki")
    }

    pub fn pki_file(&self, name: &str) -> PathBuf {
        self.pki().join(name)
    }

    /// A scratch file path in the cloud's temporary directory.
    pub fn scratch(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    fn command(&self, args: &[&str]) -> Command {
        let mut command = Command::new("bash");
        command
            .arg(SCRIPT)
            .args(args)
            .env("CLOUD_DIR", self.run_dir())
            .env("CLOUD_PKI_DIR", self.pki())
            .env("CLOUD_MQTT_PORT", self.mqtt_port.to_string())
            .env("CLOUD_HTTPS_PORT", self.https_port.to_string())
            .env("CLOUD_MINUTE_SECS", "1")
            .env("CLOUD_TESTNET", "none")
            .env("CLOUD_SVC_BIN", env!("CARGO_BIN_EXE_cloud-svc"));
        command
    }

    /// Runs `scripts/cloud ARGS` and returns its standard output; panics if it fails.
    pub fn script(&self, args: &[&str]) -> String {
        let output = self.command(args).output().expect("running scripts/cloud");
        assert!(
            output.status.success(),
            "scripts/cloud {args:?} failed:\n{}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
        String::from_utf8(output.stdout).expect("UTF-8 output")
    }

    /// Runs a control command and parses its JSON answer.
    pub fn cli(&self, args: &[&str]) -> Value {
        let stdout = self.script(args);
        serde_json::from_str(&stdout)
            .unwrap_or_else(|error| panic!("{args:?} printed {stdout:?}: {error}"))
    }

    /// Runs a command that must fail; returns its standard error.
    pub fn cli_fails(&self, args: &[&str]) -> String {
        let output = self.command(args).output().expect("running scripts/cloud");
        assert!(!output.status.success(), "scripts/cloud {args:?} succeeded");
        String::from_utf8_lossy(&output.stderr).into_owned()
    }

    /// Writes an image of `size` bytes that differ from offset to offset.
    pub fn image(&self, name: &str, size: usize) -> (PathBuf, Vec<u8>) {
        let mut state: u32 = 0x1234_5678 ^ size as u32;
        let bytes: Vec<u8> = (0..size)
            .map(|_| {
                state ^= state << 13;
                state ^= state >> 17;
                state ^= state << 5;
                state.to_le_bytes()[0]
            })
            .collect();
        let path = self.scratch(name);
        std::fs::write(&path, &bytes).expect("writing the image");
        (path, bytes)
    }

    /// Creates an OTA job for `THING` and returns its id.
    pub fn create_job(&self, job_id: &str, file: &Path, extra: &[&str]) -> Value {
        let file = file.to_str().expect("a UTF-8 path");
        let mut args = vec![
            "create-ota-job",
            "--thing",
            THING,
            "--file",
            file,
            "--job-id",
            job_id,
        ];
        args.extend_from_slice(extra);
        self.cli(&args)
    }

    pub fn execution_status(&self, job_id: &str, thing: &str) -> Value {
        self.cli(&["describe-job", job_id])["executions"][thing].clone()
    }

    /// Waits until the jobs service is subscribed again (after a restart of either side).
    pub fn wait_until_serving(&self) {
        let deadline = Instant::now() + PATIENCE;
        while Instant::now() < deadline {
            if self.cli(&["status"])["mqtt"]["subscribed"] == true {
                return;
            }
            thread::sleep(Duration::from_millis(100));
        }
        panic!("the jobs service did not subscribe again within {PATIENCE:?}");
    }
}

impl Drop for Cloud {
    fn drop(&mut self) {
        // Runs during a panic too, so it must not panic itself.
        match self.command(&["down"]).output() {
            Ok(output) if output.status.success() => {}
            Ok(output) => eprintln!(
                "scripts/cloud down failed: {}",
                String::from_utf8_lossy(&output.stderr)
            ),
            Err(error) => eprintln!("cannot run scripts/cloud down: {error}"),
        }
    }
}

/// What a device's connection reported.
#[derive(Debug)]
enum DeviceEvent {
    Connected,
    Subscribed(Vec<SubscribeReasonCode>),
    Message(String, Value),
    Failed(String),
}

/// An MQTT client with a thing's certificate. Messages are kept in arrival order and taken by
/// topic, so that a test can wait for one topic without losing the others.
pub struct Device {
    pub thing: String,
    client: Client,
    events: Receiver<DeviceEvent>,
    messages: VecDeque<(String, Value)>,
    stop: Arc<AtomicBool>,
    tokens: u32,
}

impl Device {
    /// Connects as `THING` and subscribes to its jobs topics.
    pub fn connect(cloud: &Cloud, thing: &str) -> Self {
        let mut device = Self::connect_with(
            cloud,
            thing,
            &cloud.pki_file(&format!("{thing}.crt")),
            &cloud.pki_file(&format!("{thing}.key")),
        );
        device
            .wait_connected()
            .unwrap_or_else(|error| panic!("{thing} cannot connect: {error}"));
        device.subscribe(&format!("$aws/things/{thing}/jobs/#"));
        device
    }

    /// Starts connecting with any certificate; see [`Device::wait_connected`].
    pub fn connect_with(cloud: &Cloud, client_id: &str, certificate: &Path, key: &Path) -> Self {
        let tls = tls::client_config(&cloud.pki_file("ca.crt"), Some((certificate, key)))
            .expect("a TLS configuration");
        let options = mqtt::options(client_id, "localhost", cloud.mqtt_port, tls);
        let (client, mut connection) = Client::new(options, 16);
        let (sender, events) = mpsc::channel();
        let stop = Arc::new(AtomicBool::new(false));
        let stopped = Arc::clone(&stop);
        thread::spawn(move || {
            for event in connection.iter() {
                if stopped.load(Ordering::Acquire) {
                    return;
                }
                let event = match event {
                    Ok(Event::Incoming(Packet::ConnAck(_))) => DeviceEvent::Connected,
                    Ok(Event::Incoming(Packet::SubAck(ack))) => {
                        DeviceEvent::Subscribed(ack.return_codes)
                    }
                    Ok(Event::Incoming(Packet::Publish(publish))) => {
                        let payload =
                            serde_json::from_slice(&publish.payload).unwrap_or(Value::Null);
                        DeviceEvent::Message(publish.topic, payload)
                    }
                    Ok(_) => continue,
                    Err(error) => {
                        // Reconnection is the test's business: stop here.
                        let _ = sender.send(DeviceEvent::Failed(error.to_string()));
                        return;
                    }
                };
                if sender.send(event).is_err() {
                    return;
                }
            }
        });
        Self {
            thing: client_id.to_owned(),
            client,
            events,
            messages: VecDeque::new(),
            stop,
            tokens: 0,
        }
    }

    /// Waits for the broker's CONNACK, or the connection's failure.
    pub fn wait_connected(&mut self) -> Result<(), String> {
        match self.next_event(PATIENCE) {
            Some(DeviceEvent::Connected) => Ok(()),
            Some(DeviceEvent::Failed(error)) => Err(error),
            other => Err(format!("unexpected {other:?}")),
        }
    }

    pub fn subscribe(&mut self, filter: &str) -> Vec<SubscribeReasonCode> {
        self.client
            .subscribe(filter, QoS::AtLeastOnce)
            .expect("queueing a subscription");
        let deadline = Instant::now() + PATIENCE;
        while let Some(event) = self.next_event(deadline.saturating_duration_since(Instant::now()))
        {
            match event {
                DeviceEvent::Subscribed(codes) => return codes,
                DeviceEvent::Failed(error) => panic!("{} lost its connection: {error}", self.thing),
                _ => {}
            }
        }
        panic!("{} got no SUBACK for {filter}", self.thing);
    }

    pub fn publish(&self, topic: &str, payload: &str) {
        self.client
            .publish(topic, QoS::AtLeastOnce, false, payload.as_bytes())
            .expect("queueing a publication");
    }

    /// Publishes `payload` (a JSON object) on `$aws/things/<thing>/jobs/<operation>` with a new
    /// client token and waits for the answer with that token: ("accepted" | "rejected", body).
    pub fn request(&mut self, operation: &str, payload: Value) -> (String, Value) {
        let (outcome, reply) = self
            .try_request(operation, payload, PATIENCE)
            .unwrap_or_else(|| panic!("no reply to {operation} within {PATIENCE:?}"));
        (outcome, reply)
    }

    pub fn try_request(
        &mut self,
        operation: &str,
        mut payload: Value,
        patience: Duration,
    ) -> Option<(String, Value)> {
        self.tokens += 1;
        let token = format!("{}:{}", self.tokens, self.thing);
        payload["clientToken"] = Value::String(token.clone());
        let topic = format!("$aws/things/{}/jobs/{operation}", self.thing);
        self.publish(&topic, &payload.to_string());
        let accepted = format!("{topic}/accepted");
        let rejected = format!("{topic}/rejected");
        let (reply_topic, reply) = self.take_first(patience, |reply_topic, reply| {
            (reply_topic == accepted || reply_topic == rejected)
                && reply["clientToken"] == token.as_str()
        })?;
        let outcome = reply_topic
            .rsplit('/')
            .next()
            .unwrap_or_default()
            .to_owned();
        Some((outcome, reply))
    }

    /// The next message on `$aws/things/<thing>/jobs/<name>`.
    pub fn expect(&mut self, name: &str) -> Value {
        self.expect_within(name, PATIENCE)
    }

    pub fn expect_within(&mut self, name: &str, patience: Duration) -> Value {
        let topic = format!("$aws/things/{}/jobs/{name}", self.thing);
        self.take_first(patience, |candidate, _| candidate == topic)
            .map(|(_, payload)| payload)
            .unwrap_or_else(|| panic!("{} got nothing on {topic} within {patience:?}", self.thing))
    }

    /// Every message on `$aws/things/<thing>/jobs/<name>` that arrives within `window`.
    pub fn collect(&mut self, name: &str, window: Duration) -> Vec<Value> {
        let topic = format!("$aws/things/{}/jobs/{name}", self.thing);
        let deadline = Instant::now() + window;
        let mut collected = Vec::new();
        while let Some((_, payload)) = self.take_first(
            deadline.saturating_duration_since(Instant::now()),
            |candidate, _| candidate == topic,
        ) {
            collected.push(payload);
        }
        collected
    }

    /// Every message of any topic that arrives within `window`.
    pub fn drain(&mut self, window: Duration) -> Vec<(String, Value)> {
        let deadline = Instant::now() + window;
        while let Some(event) = self.next_event(deadline.saturating_duration_since(Instant::now()))
        {
            if let DeviceEvent::Message(topic, payload) = event {
                self.messages.push_back((topic, payload));
            }
        }
        self.messages.drain(..).collect()
    }

    fn take_first(
        &mut self,
        patience: Duration,
        wanted: impl Fn(&str, &Value) -> bool,
    ) -> Option<(String, Value)> {
        let deadline = Instant::now() + patience;
        loop {
            if let Some(at) = self
                .messages
                .iter()
                .position(|(topic, payload)| wanted(topic, payload))
            {
                return self.messages.remove(at);
            }
            match self.next_event(deadline.saturating_duration_since(Instant::now()))? {
                DeviceEvent::Message(topic, payload) => self.messages.push_back((topic, payload)),
                DeviceEvent::Failed(error) => panic!("{} lost its connection: {error}", self.thing),
                _ => {}
            }
        }
    }

    fn next_event(&self, patience: Duration) -> Option<DeviceEvent> {
        self.events.recv_timeout(patience).ok()
    }
}

impl Drop for Device {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Release);
        // The connection may be gone already.
        let _ = self.client.disconnect();
    }
}

/// A response, with `complete` false if the connection ended before `Content-Length` bytes.
#[derive(Debug)]
pub struct HttpResponse {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
    pub complete: bool,
}

impl HttpResponse {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(header, _)| header.eq_ignore_ascii_case(name))
            .map(|(_, value)| value.as_str())
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

/// One keep-alive HTTPS connection to the cloud's file server, for the host of a URL.
pub struct Https {
    stream: StreamOwned<ClientConnection, TcpStream>,
    host: String,
    received: Vec<u8>,
}

/// Splits `https://host[:port]/target` into the Host header value and the target.
pub fn split_url(url: &str) -> (&str, &str) {
    let rest = url.strip_prefix("https://").expect("an https URL");
    let at = rest.find('/').unwrap_or(rest.len());
    rest.split_at(at)
}

impl Https {
    pub fn connect(cloud: &Cloud, url: &str, read_timeout: Duration) -> Self {
        let (host, _) = split_url(url);
        let name = host.split(':').next().unwrap_or(host).to_owned();
        let tls = tls::client_config(&cloud.pki_file("ca.crt"), None).expect("a TLS configuration");
        let server_name = ServerName::try_from(name).expect("a server name");
        let connection = ClientConnection::new(tls, server_name).expect("a TLS connection");
        let tcp = TcpStream::connect(("127.0.0.1", cloud.https_port))
            .expect("connecting to the file server");
        tcp.set_read_timeout(Some(read_timeout))
            .expect("a read timeout");
        Self {
            stream: StreamOwned::new(connection, tcp),
            host: host.to_owned(),
            received: Vec::new(),
        }
    }

    /// Sends a request for `url`'s target and reads the response.
    pub fn request(&mut self, method: &str, url: &str, headers: &[(&str, &str)]) -> HttpResponse {
        let (_, target) = split_url(url);
        let mut head = format!("{method} {target} HTTP/1.1\r\nHost: {}\r\n", self.host);
        for (name, value) in headers {
            head.push_str(&format!("{name}: {value}\r\n"));
        }
        head.push_str("\r\n");
        self.stream
            .write_all(head.as_bytes())
            .expect("sending a request");
        self.read_response(method == "HEAD")
    }

    fn read_response(&mut self, head_only: bool) -> HttpResponse {
        let open =
            self.fill_until(|received| received.windows(4).any(|window| window == b"\r\n\r\n"));
        assert!(
            open,
            "the server closed the connection before a response head"
        );
        let head_end = self
            .received
            .windows(4)
            .position(|window| window == b"\r\n\r\n")
            .unwrap_or_default()
            + 4;
        let mut parsed_headers = [httparse::EMPTY_HEADER; 32];
        let mut response = httparse::Response::new(&mut parsed_headers);
        response
            .parse(&self.received[..head_end])
            .expect("a valid response head");
        let status = response.code.expect("a status");
        let headers: Vec<(String, String)> = response
            .headers
            .iter()
            .map(|header| {
                (
                    header.name.to_owned(),
                    String::from_utf8_lossy(header.value).into_owned(),
                )
            })
            .collect();
        self.received.drain(..head_end);
        let length: usize = headers
            .iter()
            .find(|(name, _)| name.eq_ignore_ascii_case("content-length"))
            .and_then(|(_, value)| value.parse().ok())
            .unwrap_or_default();
        let length = if head_only { 0 } else { length };
        let complete = self.fill_until(|received| received.len() >= length);
        let take = length.min(self.received.len());
        let body = self.received.drain(..take).collect();
        HttpResponse {
            status,
            headers,
            body,
            complete,
        }
    }

    /// Reads until `done` holds; false if the connection ended or stalled first.
    fn fill_until(&mut self, done: impl Fn(&[u8]) -> bool) -> bool {
        let mut chunk = [0; 16 * 1024];
        while !done(&self.received) {
            match self.stream.read(&mut chunk) {
                Ok(0) => return false,
                Ok(read) => self.received.extend_from_slice(&chunk[..read]),
                Err(error) if error.kind() == ErrorKind::Interrupted => {}
                Err(_) => return false,
            }
            assert!(
                self.received.len() < 64 << 20,
                "the response is larger than any test object"
            );
        }
        true
    }
}

/// GET (or HEAD) on a fresh connection.
pub fn https(cloud: &Cloud, method: &str, url: &str, headers: &[(&str, &str)]) -> HttpResponse {
    Https::connect(cloud, url, PATIENCE).request(method, url, headers)
}

/// The presigned URL in a delivered job document.
pub fn delivered_url(execution: &Value) -> String {
    execution["jobDocument"]["afr_ota"]["files"][0]["update_data_url"]
        .as_str()
        .unwrap_or_else(|| panic!("no update_data_url in {execution}"))
        .to_owned()
}
