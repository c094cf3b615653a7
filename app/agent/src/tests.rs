//! The agent on the host, with a fake for every port: the whole flow, each failure, the
//! cloud's quirks, and every row of the table.

use crate::event::{DownloadError, Event, EventKind, Signal};
use crate::jobs::{JobId, JobStatus, JobsTopic, ThingName, Topics};
use crate::loopback::{ExecutionRecord, LoopbackJobs};
use crate::ports::{Control, Download, FileKey, FileRequest, Kept, NotSent, Platform, Qos, Timer};
use crate::reason::{Reason, ReasonCode};
use crate::table::{self, State, TABLE};
use crate::version::Version;
use crate::{Agent, Config, Outcome, Stay};
use std::format;
use std::rc::Rc;
use std::string::{String, ToString};
use std::vec;
use std::vec::Vec;

const THING: &str = "w800-demo-1";
const PREFIX: &str = "$aws/things/w800-demo-1/jobs/";
const BLOCK: usize = 256;
const IMAGE_LEN: usize = 2000;
const URL: &str = "https://bucket.s3.amazonaws.com/app_ota.img?X-Amz-Signature=1";
const URL2: &str = "https://bucket.s3.amazonaws.com/app_ota.img?X-Amz-Signature=2";

// The fakes.

#[derive(Debug, Clone, PartialEq)]
struct Published {
    topic: String,
    payload: String,
    qos: Qos,
}

#[derive(Default)]
struct FakeControl {
    sent: Vec<Published>,
    offline: bool,
}

impl Control for FakeControl {
    fn publish(&mut self, topic: &str, payload: &[u8], qos: Qos) -> Result<(), NotSent> {
        if self.offline {
            return Err(NotSent);
        }
        self.sent.push(Published {
            topic: topic.to_string(),
            payload: String::from_utf8(payload.to_vec()).unwrap(),
            qos,
        });
        Ok(())
    }
}

#[derive(Debug, Clone, PartialEq)]
struct Started {
    transfer: u32,
    url: String,
    offset: u32,
    size: u32,
}

#[derive(Default)]
struct FakeDownload {
    starts: Vec<Started>,
    stops: u32,
    refuse: bool,
}

impl Download for FakeDownload {
    fn start(&mut self, request: &FileRequest<'_>) -> Result<(), NotSent> {
        if self.refuse {
            return Err(NotSent);
        }
        assert_eq!(request.block_size as usize, BLOCK);
        assert_eq!(request.offset as usize % BLOCK, 0);
        self.starts.push(Started {
            transfer: request.transfer,
            url: request.url.to_string(),
            offset: request.offset,
            size: request.size,
        });
        Ok(())
    }

    fn stop(&mut self) {
        self.stops += 1;
    }
}

/// The platform layer over a RAM "partition". A file's first 16 bytes are its version (NUL
/// padded); its signature is FNV-1a 64 of the whole file.
struct FakePlatform {
    capacity: u32,
    running: String,
    file: Vec<u8>,
    header_in: bool,
    created: Option<u32>,
    creates: u32,
    aborts: u32,
    staged: Option<String>,
    activations: u32,
    accept_unsigned: bool,
    fail_create: Option<Reason>,
    fail_write: Option<Reason>,
    fail_activate: Option<Reason>,
    signatures: Vec<Vec<u8>>,
    /// The key of the file being received, and how many bytes from its start are in (what
    /// the firmware's journal keeps across a restart).
    journal: Option<(String, u64, u32)>,
    prefix: u32,
    resumes: u32,
    /// The reason the file was given up for, kept with the journal.
    verdict: Option<Reason>,
    fails: u32,
    /// How often the image was committed.
    commits: u32,
    /// The verdicts confirmed to the platform, `true` for passed.
    confirmations: Vec<bool>,
    /// What [`Platform::rolled_back`] says.
    rolled_back: Option<Version>,
    /// The version the image the boot stage installed from the journaled file replaced.
    installed: Option<String>,
    /// Stale files dropped.
    forgets: u32,
}

impl FakePlatform {
    fn new(running: &str) -> Self {
        FakePlatform {
            capacity: 4096,
            running: running.to_string(),
            file: vec![0xFF; 4096],
            header_in: false,
            created: None,
            creates: 0,
            aborts: 0,
            staged: None,
            activations: 0,
            accept_unsigned: false,
            fail_create: None,
            fail_write: None,
            fail_activate: None,
            signatures: Vec::new(),
            journal: None,
            prefix: 0,
            resumes: 0,
            verdict: None,
            fails: 0,
            commits: 0,
            confirmations: Vec::new(),
            rolled_back: None,
            installed: None,
            forgets: 0,
        }
    }

    /// What the board has after power comes back during a download: the partition and its
    /// journal as they were, nothing open.
    fn power_cut(&self) -> FakePlatform {
        let mut next = FakePlatform::new(&self.running);
        next.capacity = self.capacity;
        next.file = self.file.clone();
        next.header_in = self.header_in;
        next.journal = self.journal.clone();
        next.prefix = self.prefix;
        next.verdict = self.verdict.clone();
        next
    }

    /// What the board has after power comes back with a file staged: the boot stage
    /// installed it, its version runs, the journal still names the job and the version it
    /// replaced.
    fn power_cut_after_staging(&self) -> FakePlatform {
        let mut next = self.reboot();
        next.journal = self.journal.clone();
        next.installed = Some(self.running.clone());
        next
    }

    /// What the board has after the reboot: the staged image installed, if there was one.
    fn reboot(&self) -> FakePlatform {
        let mut next = FakePlatform::new(self.staged.as_deref().unwrap_or(&self.running));
        next.capacity = self.capacity;
        next
    }

    fn contents(&self, len: usize) -> &[u8] {
        &self.file[..len]
    }
}

impl Platform for FakePlatform {
    fn capacity(&self) -> u32 {
        self.capacity
    }

    fn create_file(&mut self, key: &FileKey<'_>) -> Result<(), Reason> {
        let size = key.size;
        if size > self.capacity {
            return Err(Reason::with(ReasonCode::Oversize, format_args!("{size}")));
        }
        if let Some(reason) = self.fail_create.clone() {
            return Err(reason);
        }
        self.file.fill(0xFF);
        self.header_in = false;
        self.staged = None;
        self.created = Some(size);
        self.creates += 1;
        self.journal = Some((key.job_id.to_string(), key.execution, size));
        self.prefix = 0;
        Ok(())
    }

    fn resume_file(&mut self, key: &FileKey<'_>) -> Kept {
        let ours = (key.job_id.to_string(), key.execution, key.size);
        if self.journal.as_ref() != Some(&ours) {
            return Kept::Nothing;
        }
        if let Some(reason) = self.verdict.clone() {
            return Kept::Failed(reason);
        }
        if let Some(version) = &self.installed {
            return Kept::Installed(Version::new(version).unwrap());
        }
        self.created = Some(key.size);
        self.resumes += 1;
        Kept::Prefix(self.prefix)
    }

    fn write_block(&mut self, offset: u32, data: &[u8]) -> Result<(), Reason> {
        assert!(self.created.is_some(), "write before create");
        if let Some(reason) = self.fail_write.clone() {
            return Err(reason);
        }
        let at = offset as usize;
        self.file[at..at + data.len()].copy_from_slice(data);
        if offset == 0 {
            self.header_in = true;
        }
        if offset == self.prefix {
            self.prefix += data.len() as u32;
        }
        Ok(())
    }

    fn file_version(&mut self) -> Result<Option<Version>, Reason> {
        if !self.header_in {
            return Ok(None);
        }
        let field = &self.file[..16];
        let text = core::str::from_utf8(&field[..field.iter().position(|&b| b == 0).unwrap_or(16)])
            .map_err(|_| Reason::with(ReasonCode::Image, format_args!("bad header")))?;
        Ok(Some(Version::new(text).unwrap()))
    }

    fn close_file(&mut self, signature: &[u8]) -> Result<(), Reason> {
        let size = self.created.expect("close before create") as usize;
        self.signatures.push(signature.to_vec());
        let unsigned_ok = signature.is_empty() && self.accept_unsigned;
        if !unsigned_ok && signature != sign(&self.file[..size]) {
            return Err(Reason::with(
                ReasonCode::Signature,
                format_args!("signature does not verify"),
            ));
        }
        self.staged = Some(self.file_version().unwrap().unwrap().to_string());
        Ok(())
    }

    fn fail_file(&mut self, reason: &Reason) -> Result<(), Reason> {
        self.fails += 1;
        self.staged = None;
        self.header_in = false;
        if self.journal.is_some() && self.verdict.is_none() {
            self.verdict = Some(reason.clone());
        }
        Ok(())
    }

    fn commit_image(&mut self) {
        self.commits += 1;
    }

    fn confirm_image(&mut self, passed: bool) {
        self.confirmations.push(passed);
    }

    fn rolled_back(&mut self) -> Option<Version> {
        self.rolled_back.clone()
    }

    fn forget_file(&mut self) {
        if self.journal.is_some() || self.installed.is_some() {
            self.forgets += 1;
        }
        self.journal = None;
        self.verdict = None;
        self.installed = None;
    }

    fn abort(&mut self) -> Result<(), Reason> {
        self.journal = None;
        self.verdict = None;
        self.file.fill(0xFF);
        self.header_in = false;
        self.created = None;
        self.staged = None;
        self.rolled_back = None;
        self.aborts += 1;
        Ok(())
    }

    fn running_version(&self) -> Version {
        Version::new(&self.running).unwrap()
    }

    fn activate(&mut self) -> Result<(), Reason> {
        if let Some(reason) = self.fail_activate.clone() {
            return Err(reason);
        }
        assert!(self.staged.is_some(), "activate without a staged image");
        self.activations += 1;
        Ok(())
    }
}

#[derive(Default)]
struct FakeTimer {
    now: u64,
    deadline: Option<u64>,
}

impl Timer for FakeTimer {
    fn start(&mut self, ms: u32) {
        self.deadline = Some(self.now + u64::from(ms));
    }

    fn stop(&mut self) {
        self.deadline = None;
    }

    fn now_ms(&self) -> u64 {
        self.now
    }
}

// Images, signatures and the cloud's messages.

fn image(version: &str, len: usize) -> Vec<u8> {
    let mut bytes: Vec<u8> = (0..len).map(|i| (i * 7 + 3) as u8).collect();
    bytes[..16].fill(0);
    bytes[..version.len()].copy_from_slice(version.as_bytes());
    bytes
}

fn sign(file: &[u8]) -> Vec<u8> {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for &b in file {
        hash ^= u64::from(b);
        hash = hash.wrapping_mul(0x0100_0000_01b3);
    }
    hash.to_be_bytes().to_vec()
}

fn base64(bytes: &[u8]) -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for chunk in bytes.chunks(3) {
        let group = chunk
            .iter()
            .enumerate()
            .fold(0u32, |acc, (i, &b)| acc | u32::from(b) << (16 - 8 * i));
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(ALPHABET[(group >> (18 - 6 * i) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// An `afr_ota` document for `file` at `url`, signed unless `signature` is `Some("")`.
fn document(file: &[u8], url: &str, protocols: &str, signature: Option<&str>) -> String {
    let signature = match signature {
        Some("") => String::new(),
        Some(text) => format!(r#","sig-sha256-ecdsa":"{text}""#),
        None => format!(r#","sig-sha256-ecdsa":"{}""#, base64(&sign(file))),
    };
    format!(
        r#"{{"afr_ota":{{"protocols":[{protocols}],"files":[{{"filepath":"app_ota.img","filesize":{},"fileid":0,"certfile":"code-signing.crt","update_data_url":"{}","auth_scheme":"aws.s3.presigned"{signature}}}]}}}}"#,
        file.len(),
        url.replace('/', "\\/"),
    )
}

fn execution(job: &str, status: &str, version: u64, details: &str, doc: &str) -> String {
    format!(
        r#"{{"timestamp":1739165753,"execution":{{"jobId":"{job}","thingName":"{THING}","status":"{status}","statusDetails":{details},"queuedAt":1739165736,"versionNumber":{version},"executionNumber":1,"jobDocument":{doc}}}}}"#
    )
}

/// `job-1` as `start-next` gives it after the restart for its update: `IN_PROGRESS`, its
/// `self_test` ready, `updatedBy` 0.9.3, its document for `file` at `url`.
fn in_self_test(file: &[u8], url: &str) -> String {
    execution(
        "job-1",
        "IN_PROGRESS",
        9,
        r#"{"self_test":"ready","updatedBy":"0.9.3"}"#,
        &document(file, url, r#""HTTP""#, None),
    )
}

fn no_execution() -> String {
    r#"{"timestamp":1739165800}"#.to_string()
}

/// The job id of an update's topic.
fn job_of(update: &Published) -> &str {
    update
        .topic
        .strip_prefix(PREFIX)
        .and_then(|rest| rest.strip_suffix("/update"))
        .expect("an update topic")
}

/// The value of `"key":` in a flat JSON text written by the agent.
fn field<'a>(json: &'a str, key: &str) -> Option<&'a str> {
    let at = json.find(&format!("\"{key}\":"))? + key.len() + 3;
    let rest = &json[at..];
    if let Some(quoted) = rest.strip_prefix('"') {
        return Some(&quoted[..quoted.find('"')?]);
    }
    Some(&rest[..rest.find([',', '}'])?])
}

// The harness.

type TestAgent = Agent<FakeControl, FakeDownload, FakePlatform, FakeTimer>;
type Buf = Vec<u8>;

struct Harness {
    agent: TestAgent,
    topics: Topics,
}

fn config() -> Config {
    Config {
        block_size: BLOCK as u32,
        progress_step_percent: 25,
        progress_interval_ms: 1_000_000,
        max_download_retries: 3,
        token_prefix: 0x2a,
        ..Config::default()
    }
}

impl Harness {
    fn new() -> Self {
        Harness::with(config(), FakePlatform::new("0.9.3"))
    }

    fn with(config: Config, platform: FakePlatform) -> Self {
        let topics = Topics::new(ThingName::new(THING).unwrap());
        let agent = Agent::new(
            config,
            topics.clone(),
            FakeControl::default(),
            FakeDownload::default(),
            platform,
            FakeTimer::default(),
        );
        Harness { agent, topics }
    }

    /// Handles `event` and then the signals it caused; the event's own outcome.
    fn send(&mut self, event: Event<Buf>) -> Outcome {
        let outcome = self.agent.handle(event);
        while let Some(signal) = self.agent.take_signal() {
            self.agent.handle(Event::<Buf>::from(signal));
        }
        outcome
    }

    fn state(&self) -> State {
        self.agent.state()
    }

    /// The next signal the agent posted, as its event.
    fn signal(&mut self) -> Event<Buf> {
        Event::from(self.agent.take_signal().expect("a signal"))
    }

    /// Handles the next signal alone.
    fn handle_signal(&mut self) -> Outcome {
        let event = self.signal();
        self.agent.handle(event)
    }

    /// A message from the cloud on `$aws/things/<thing>/jobs/<suffix>`.
    fn message(&mut self, suffix: &str, payload: &str) -> Outcome {
        let topic = format!("{PREFIX}{suffix}");
        let kind: JobsTopic = self.topics.classify(&topic).expect("a jobs topic");
        self.send(Event::from_message(&kind, payload.as_bytes().to_vec()))
    }

    fn sent(&mut self) -> &Vec<Published> {
        &self.agent.control().sent
    }

    fn take_sent(&mut self) -> Vec<Published> {
        core::mem::take(&mut self.agent.control().sent)
    }

    fn last_sent(&mut self) -> Published {
        self.sent().last().expect("something published").clone()
    }

    /// The updates published for `job`.
    fn updates(&mut self, job: &str) -> Vec<Published> {
        let topic = format!("{PREFIX}{job}/update");
        self.sent()
            .iter()
            .filter(|p| p.topic == topic)
            .cloned()
            .collect()
    }

    fn last_update(&mut self, job: &str) -> Published {
        self.updates(job).pop().expect("an update")
    }

    /// The cloud accepts `update`.
    fn accept(&mut self, update: &Published) -> Outcome {
        let job = job_of(update).to_string();
        let token = field(&update.payload, "clientToken").unwrap().to_string();
        self.message(
            &format!("{job}/update/accepted"),
            &format!(r#"{{"timestamp":1739166000,"clientToken":"{token}"}}"#),
        )
    }

    /// The cloud rejects `update` with `code` (and an execution state the agent does not
    /// rely on).
    fn reject(&mut self, update: &Published, code: &str) -> Outcome {
        let job = job_of(update).to_string();
        let token = field(&update.payload, "clientToken").unwrap().to_string();
        self.message(
            &format!("{job}/update/rejected"),
            &format!(
                r#"{{"code":"{code}","message":"m","clientToken":"{token}","executionState":{{"status":"IN_PROGRESS","versionNumber":99}}}}"#
            ),
        )
    }

    fn accept_last_update(&mut self, job: &str) -> Outcome {
        let update = self.last_update(job);
        self.accept(&update)
    }

    fn reject_last_update(&mut self, job: &str, code: &str) -> Outcome {
        let update = self.last_update(job);
        self.reject(&update, code)
    }

    fn downloads(&mut self) -> Vec<Started> {
        self.agent.download().starts.clone()
    }

    fn transfer(&mut self) -> u32 {
        self.downloads().last().expect("a download").transfer
    }

    fn block(&mut self, file: &[u8], index: usize) -> Outcome {
        let transfer = self.transfer();
        let start = index * BLOCK;
        let end = (start + BLOCK).min(file.len());
        self.send(Event::ReceivedFileBlock {
            transfer,
            offset: start as u32,
            data: file[start..end].to_vec(),
        })
    }

    fn download_error(&mut self, error: DownloadError) -> Outcome {
        let transfer = self.transfer();
        self.send(Event::DownloadError { transfer, error })
    }

    /// Fires the request timer when it is due.
    fn fire_timer(&mut self) -> Outcome {
        let timer = self.agent.timer();
        let deadline = timer.deadline.take().expect("the timer is armed");
        timer.now = timer.now.max(deadline);
        self.send(Event::RequestTimer)
    }

    fn advance(&mut self, ms: u64) {
        self.agent.timer().now += ms;
    }

    /// Start, and a job offered in reply to `start-next`: the agent ends up downloading.
    fn start_with(&mut self, job: &str, version: u64, doc: &str) {
        assert_eq!(
            self.send(Event::Start),
            Outcome::Moved(State::RequestingJob)
        );
        assert_eq!(self.state(), State::WaitingForJob);
        let request = self.last_sent();
        assert_eq!(request.topic, format!("{PREFIX}start-next"));
        let token = field(&request.payload, "clientToken").unwrap().to_string();
        let reply = execution(job, "IN_PROGRESS", version, "{}", doc).replacen(
            "{\"timestamp\"",
            &format!("{{\"clientToken\":\"{token}\",\"timestamp\""),
            1,
        );
        self.message("start-next/accepted", &reply);
    }
}

fn v2() -> Vec<u8> {
    image("0.9.4", IMAGE_LEN)
}

fn blocks(file: &[u8]) -> usize {
    file.len().div_ceil(BLOCK)
}

// The whole flow.

#[test]
fn v1_to_v2_with_blocks_out_of_order_a_resume_and_the_self_test() {
    let file = v2();
    let mut h = Harness::new();
    h.start_with("job-1", 2, &document(&file, URL, r#""MQTT","HTTP""#, None));
    assert_eq!(h.state(), State::WaitingForFileBlock);
    assert_eq!(h.agent.platform().created, Some(IMAGE_LEN as u32));
    assert_eq!(
        h.downloads(),
        vec![Started {
            transfer: 1,
            url: URL.to_string(),
            offset: 0,
            size: IMAGE_LEN as u32
        }]
    );

    // Blocks out of order, a duplicate among them.
    for index in [0, 2, 1, 2, 5] {
        h.block(&file, index);
    }
    assert_eq!(h.agent.status().blocks_done, 4);
    // The first block brought the first progress update, at QoS 0 with expectedVersion.
    let progress = h.updates("job-1");
    assert_eq!(progress.len(), 1);
    assert_eq!(progress[0].qos, Qos::AtMostOnce);
    assert_eq!(field(&progress[0].payload, "status"), Some("IN_PROGRESS"));
    assert_eq!(field(&progress[0].payload, "receive"), Some("256/2000"));
    assert_eq!(field(&progress[0].payload, "expectedVersion"), Some("2"));
    h.accept_last_update("job-1");

    // The connection drops: after the back-off the download resumes at the first hole.
    assert_eq!(
        h.download_error(DownloadError::Interrupted),
        Outcome::Moved(State::RequestingFileBlock)
    );
    h.fire_timer();
    assert_eq!(h.state(), State::WaitingForFileBlock);
    let resumed = h.downloads().pop().unwrap();
    assert_eq!((resumed.transfer, resumed.offset), (2, 3 * BLOCK as u32));
    for index in 3..blocks(&file) {
        h.block(&file, index);
    }
    assert_eq!(h.agent.platform().contents(IMAGE_LEN), &file[..]);

    // Progress went out at 25 % steps; then self_test ready at QoS 1, after the close.
    assert_eq!(h.state(), State::ClosingFile);
    let updates = h.updates("job-1");
    let ready = updates.last().unwrap();
    assert_eq!(ready.qos, Qos::AtLeastOnce);
    assert_eq!(field(&ready.payload, "self_test"), Some("ready"));
    assert_eq!(field(&ready.payload, "updatedBy"), Some("0.9.3"));
    assert_eq!(field(&ready.payload, "expectedVersion"), Some("3"));
    assert_eq!(h.agent.platform().signatures, vec![sign(&file)]);
    assert_eq!(
        h.agent.platform().activations,
        0,
        "not before the update is accepted"
    );

    // The service accepts: the image is activated.
    assert_eq!(
        h.accept_last_update("job-1"),
        Outcome::Moved(State::Stopped)
    );
    assert_eq!(h.agent.platform().activations, 1);
    assert_eq!(h.agent.platform().aborts, 0);

    // The reboot: a new agent on the new image finds the job in self-test.
    let platform = h.agent.platform().reboot();
    assert_eq!(platform.running, "0.9.4");
    let mut h = Harness::with(config(), platform);
    h.send(Event::Start);
    h.message("start-next/accepted", &in_self_test(&file, URL2));
    assert_eq!(h.state(), State::WaitingForJob);
    assert!(h.downloads().is_empty(), "the file is not downloaded again");
    let done = h.last_update("job-1");
    assert_eq!(field(&done.payload, "status"), Some("SUCCEEDED"));
    assert_eq!(field(&done.payload, "reason"), Some("accepted 0.9.4"));
    assert_eq!(field(&done.payload, "updatedBy"), Some("0.9.3"));
    assert_eq!(field(&done.payload, "expectedVersion"), Some("9"));
    assert_eq!(done.qos, Qos::AtLeastOnce);

    // Confirmed: the agent asks for the next job, and there is none.
    h.take_sent();
    h.accept(&done);
    assert_eq!(h.last_sent().topic, format!("{PREFIX}start-next"));
    assert_eq!(
        h.message("start-next/accepted", &no_execution()),
        Outcome::Stayed(Stay::NoJob)
    );
    assert_eq!(h.state(), State::WaitingForJob);
    assert_eq!(
        h.agent.timer().deadline,
        None,
        "nothing to ask until notify-next"
    );
    let status = h.agent.status();
    assert_eq!(status.stats.dropped, 0);
}

/// Runs a job to a failure, and checks that it ends FAILED with `reason`, the file given up at
/// once (nothing of it can install) and erased once the report is accepted, and the agent
/// asking for the next job then.
fn assert_failed(h: &mut Harness, job: &str, reason: &str) {
    assert_eq!(h.state(), State::WaitingForJob);
    let update = h.last_update(job);
    assert_eq!(
        field(&update.payload, "status"),
        Some("FAILED"),
        "{update:?}"
    );
    assert_eq!(field(&update.payload, "reason"), Some(reason));
    assert_eq!(update.qos, Qos::AtLeastOnce);
    assert_eq!(h.agent.platform().staged, None);
    assert!(
        !h.agent.platform().header_in,
        "nothing of the file can install"
    );
    h.take_sent();
    h.accept(&update);
    assert_eq!(h.agent.platform().created, None, "the file is erased");
    assert_eq!(h.agent.platform().journal, None);
    assert_eq!(h.last_sent().topic, format!("{PREFIX}start-next"));
}

#[test]
fn a_bad_signature_fails_the_job() {
    let file = v2();
    let mut h = Harness::new();
    h.start_with(
        "job-1",
        2,
        &document(&file, URL, r#""HTTP""#, Some("AAAAAAAAAAA=")),
    );
    for index in 0..blocks(&file) {
        h.block(&file, index);
    }
    assert_failed(&mut h, "job-1", "signature: signature does not verify");
    assert_eq!(h.agent.platform().aborts, 1);
    assert_eq!(h.agent.platform().activations, 0);
}

#[test]
fn one_flipped_byte_fails_the_job() {
    let file = v2();
    let mut flipped = file.clone();
    flipped[1000] ^= 0x10;
    let mut h = Harness::new();
    h.start_with("job-1", 2, &document(&file, URL, r#""HTTP""#, None));
    for index in 0..blocks(&file) {
        h.block(&flipped, index);
    }
    assert_failed(&mut h, "job-1", "signature: signature does not verify");
}

#[test]
fn an_oversize_file_is_refused_before_any_erase() {
    let file = image("0.9.4", 5000);
    let mut h = Harness::new();
    h.start_with("job-1", 2, &document(&file, URL, r#""HTTP""#, None));
    assert_failed(
        &mut h,
        "job-1",
        "oversize: 5000 bytes, partition holds 4096",
    );
    assert_eq!(h.agent.platform().creates, 0);
    assert_eq!(h.agent.platform().aborts, 0);
    assert!(h.downloads().is_empty());
}

#[test]
fn a_file_over_the_block_bitmap_is_refused() {
    let file = image("0.9.4", 300_000);
    let mut platform = FakePlatform::new("0.9.3");
    platform.capacity = 1_000_000;
    let mut h = Harness::with(config(), platform);
    h.start_with("job-1", 2, &document(&file, URL, r#""HTTP""#, None));
    assert_failed(
        &mut h,
        "job-1",
        "oversize: 300000 bytes is over 1024 blocks",
    );
}

#[test]
fn a_malformed_or_foreign_document_fails_with_the_parse_error() {
    for (doc, reason) in [
        (
            r#"{"afr_ota":{"protocols":["HTTP"],"files":[{"fileid":0,"update_data_url":"https://h/p"}]}}"#,
            "doc-parse: no filesize",
        ),
        (
            r#"{"operation":"reboot"}"#,
            "doc-parse: not an afr_ota document",
        ),
        (
            r#"{"afr_ota":{"protocols":["HTTP"],"files":[{"filesize":"10","fileid":0}]}}"#,
            "doc-parse: wrong JSON type",
        ),
        (
            r#"{"afr_ota":{"protocols":["HTTP"],"files":[{"filesize":10,"fileid":0}]}}"#,
            "doc-parse: no update_data_url",
        ),
        (
            r#"{"afr_ota":{"protocols":["HTTP"],"files":[{"filesize":10,"fileid":0,"update_data_url":"https://h/p","sig-sha256-ecdsa":"not base64!"}]}}"#,
            "doc-parse: sig-sha256-ecdsa is not base64",
        ),
    ] {
        let mut h = Harness::new();
        h.start_with("job-1", 2, doc);
        // The report names the version the execution had.
        let update = h.last_update("job-1");
        assert_eq!(field(&update.payload, "expectedVersion"), Some("2"));
        assert_failed(&mut h, "job-1", reason);
        assert_eq!(h.agent.platform().creates, 0);
    }
}

#[test]
fn a_document_without_http_or_signature_is_refused() {
    let file = v2();
    let mut h = Harness::new();
    h.start_with("job-1", 2, &document(&file, URL, r#""MQTT""#, None));
    assert_failed(&mut h, "job-1", "protocol: HTTP not offered");

    let mut h = Harness::new();
    h.start_with("job-1", 2, &document(&file, URL, r#""HTTP""#, Some("")));
    assert_failed(&mut h, "job-1", "unsigned: no sig-sha256-ecdsa");
}

#[test]
fn a_build_that_allows_unsigned_images_closes_with_no_signature() {
    let file = v2();
    let mut platform = FakePlatform::new("0.9.3");
    platform.accept_unsigned = true;
    let config = Config {
        allow_unsigned: true,
        ..config()
    };
    let mut h = Harness::with(config, platform);
    h.start_with("job-1", 2, &document(&file, URL, r#""HTTP""#, Some("")));
    for index in 0..blocks(&file) {
        h.block(&file, index);
    }
    assert_eq!(h.state(), State::ClosingFile);
    assert_eq!(h.agent.platform().signatures, vec![Vec::<u8>::new()]);
}

#[test]
fn an_image_not_newer_is_refused_at_its_header() {
    let file = image("0.9.3", IMAGE_LEN);
    let mut h = Harness::new();
    h.start_with("job-1", 2, &document(&file, URL, r#""HTTP""#, None));
    h.block(&file, 0);
    assert_failed(
        &mut h,
        "job-1",
        "version-not-newer: 0.9.3 is not newer than 0.9.3",
    );
    assert_eq!(
        h.agent.download().stops,
        1,
        "the download is stopped at once"
    );
    // Blocks still queued from the stopped download are dropped.
    assert_eq!(h.block(&file, 1), Outcome::Dropped);

    // A build that allows downgrades takes it.
    let config = Config {
        allow_downgrade: true,
        ..config()
    };
    let mut h = Harness::with(config, FakePlatform::new("0.9.3"));
    h.start_with("job-1", 2, &document(&file, URL, r#""HTTP""#, None));
    for index in 0..blocks(&file) {
        h.block(&file, index);
    }
    assert_eq!(h.state(), State::ClosingFile);
}

#[test]
fn download_errors_that_are_not_retried_fail_the_job() {
    let mut code = crate::S3Code::new();
    code.push_str("SignatureDoesNotMatch").unwrap();
    for (error, reason) in [
        (
            DownloadError::Forbidden(code),
            "download: 403 SignatureDoesNotMatch",
        ),
        (
            DownloadError::NotPartial,
            "download: 200 to a Range request",
        ),
        (
            DownloadError::BadContentRange,
            "download: wrong Content-Range",
        ),
        (DownloadError::TooLong, "download: more bytes than filesize"),
        (DownloadError::Status(404), "download: HTTP 404"),
        (DownloadError::BadUrl, "download: URL cannot be fetched"),
    ] {
        let file = v2();
        let mut h = Harness::new();
        h.start_with("job-1", 2, &document(&file, URL, r#""HTTP""#, None));
        h.block(&file, 0);
        assert_eq!(
            h.download_error(error),
            Outcome::Moved(State::WaitingForJob)
        );
        assert_failed(&mut h, "job-1", reason);
        assert_eq!(h.agent.platform().aborts, 1);
    }
}

#[test]
fn blocks_that_contradict_the_request_fail_the_job() {
    let file = v2();
    let mut h = Harness::new();
    h.start_with("job-1", 2, &document(&file, URL, r#""HTTP""#, None));
    let transfer = h.transfer();
    h.send(Event::ReceivedFileBlock {
        transfer,
        offset: 7 * BLOCK as u32,
        data: vec![0; BLOCK],
    });
    assert_failed(
        &mut h,
        "job-1",
        "download: more bytes than filesize: 256 at 1792 of 2000",
    );

    let mut h = Harness::new();
    h.start_with("job-1", 2, &document(&file, URL, r#""HTTP""#, None));
    let transfer = h.transfer();
    h.send(Event::ReceivedFileBlock {
        transfer,
        offset: 0,
        data: vec![0; 100],
    });
    assert_failed(&mut h, "job-1", "download: bad block: 100 bytes at 0");
}

#[test]
fn a_flash_error_fails_the_job() {
    let file = v2();
    let mut h = Harness::new();
    h.start_with("job-1", 2, &document(&file, URL, r#""HTTP""#, None));
    h.agent.platform().fail_write = Some(Reason::with(
        ReasonCode::Flash,
        format_args!("program failed at 0x131000"),
    ));
    h.block(&file, 0);
    assert_failed(&mut h, "job-1", "flash: program failed at 0x131000");

    let mut platform = FakePlatform::new("0.9.3");
    platform.fail_create = Some(Reason::with(
        ReasonCode::Flash,
        format_args!("erase failed"),
    ));
    let mut h = Harness::with(config(), platform);
    h.start_with("job-1", 2, &document(&file, URL, r#""HTTP""#, None));
    assert_failed(&mut h, "job-1", "flash: erase failed");
    assert!(h.downloads().is_empty());
}

#[test]
fn retries_without_progress_are_bounded() {
    let file = v2();
    let mut h = Harness::new();
    h.start_with("job-1", 2, &document(&file, URL, r#""HTTP""#, None));
    h.block(&file, 0);
    let mut backoffs = Vec::new();
    for _ in 0..3 {
        assert_eq!(
            h.download_error(DownloadError::Interrupted),
            Outcome::Moved(State::RequestingFileBlock)
        );
        let timer = h.agent.timer();
        backoffs.push(timer.deadline.unwrap() - timer.now);
        h.fire_timer();
        assert_eq!(h.downloads().last().unwrap().offset, BLOCK as u32);
    }
    assert_eq!(backoffs, vec![1000, 2000, 4000], "the back-off doubles");
    h.download_error(DownloadError::Interrupted);
    assert_failed(
        &mut h,
        "job-1",
        "download: 3 retries used up (connection interrupted)",
    );
}

#[test]
fn a_silent_download_is_restarted_by_the_timer() {
    let file = v2();
    let mut h = Harness::new();
    h.start_with("job-1", 2, &document(&file, URL, r#""HTTP""#, None));
    h.block(&file, 0);
    h.block(&file, 1);
    assert_eq!(h.agent.timer().deadline, Some(30_000), "block wait armed");
    // A timer event from an earlier arming is not this one.
    assert_eq!(
        h.send(Event::RequestTimer),
        Outcome::Stayed(Stay::StaleTimer)
    );
    assert_eq!(h.fire_timer(), Outcome::Moved(State::RequestingFileBlock));
    assert_eq!(h.agent.download().stops, 1);
    h.fire_timer();
    assert_eq!(h.downloads().last().unwrap().offset, 2 * BLOCK as u32);
    // Blocks of the stopped transfer are not written.
    let stale = h.downloads()[0].transfer;
    assert_eq!(
        h.send(Event::ReceivedFileBlock {
            transfer: stale,
            offset: 2 * BLOCK as u32,
            data: file[2 * BLOCK..3 * BLOCK].to_vec()
        }),
        Outcome::Stayed(Stay::Stale)
    );
    assert_eq!(h.agent.status().blocks_done, 2);
}

#[test]
fn an_expired_url_is_refreshed_and_the_download_goes_on_from_the_same_offset() {
    let file = v2();
    let mut h = Harness::new();
    h.start_with("job-1", 2, &document(&file, URL, r#""HTTP""#, None));
    for index in 0..3 {
        h.block(&file, index);
    }
    h.take_sent();
    assert_eq!(
        h.download_error(DownloadError::UrlExpired),
        Outcome::Moved(State::WaitingForJob)
    );
    let request = h.last_sent();
    assert_eq!(request.topic, format!("{PREFIX}$next/get"));
    assert!(field(&request.payload, "clientToken").is_some());
    // The document comes back with a fresh URL.
    h.message(
        "$next/get/accepted",
        &execution(
            "job-1",
            "IN_PROGRESS",
            3,
            "{}",
            &document(&file, URL2, r#""HTTP""#, None),
        ),
    );
    assert_eq!(h.state(), State::WaitingForFileBlock);
    assert_eq!(h.agent.platform().creates, 1, "the partial file is kept");
    let resumed = h.downloads().pop().unwrap();
    assert_eq!(
        (resumed.url.as_str(), resumed.offset),
        (URL2, 3 * BLOCK as u32)
    );
    for index in 3..blocks(&file) {
        h.block(&file, index);
    }
    assert_eq!(h.state(), State::ClosingFile);
    assert_eq!(h.agent.platform().contents(IMAGE_LEN), &file[..]);
}

#[test]
fn a_url_that_keeps_expiring_fails_the_job() {
    let file = v2();
    let mut h = Harness::new();
    h.start_with("job-1", 2, &document(&file, URL, r#""HTTP""#, None));
    for _ in 0..3 {
        h.download_error(DownloadError::UrlExpired);
        h.message(
            "$next/get/accepted",
            &execution(
                "job-1",
                "IN_PROGRESS",
                2,
                "{}",
                &document(&file, URL, r#""HTTP""#, None),
            ),
        );
        assert_eq!(h.state(), State::WaitingForFileBlock);
    }
    h.download_error(DownloadError::UrlExpired);
    assert_failed(
        &mut h,
        "job-1",
        "download: URL expired 4 times without progress",
    );
}

#[test]
fn a_version_mismatch_is_resolved_by_reading_the_execution_again() {
    let file = v2();
    let mut h = Harness::new();
    h.start_with("job-1", 2, &document(&file, URL, r#""HTTP""#, None));
    h.block(&file, 0);
    // The progress update meets a version the agent has not seen.
    let progress = h.last_update("job-1");
    h.take_sent();
    assert_eq!(
        h.reject(&progress, "VersionMismatch"),
        Outcome::Stayed(Stay::ReadingVersion)
    );
    assert_eq!(
        h.state(),
        State::WaitingForFileBlock,
        "the download goes on"
    );
    assert_eq!(h.last_sent().topic, format!("{PREFIX}$next/get"));
    h.message(
        "$next/get/accepted",
        &execution(
            "job-1",
            "IN_PROGRESS",
            5,
            "{}",
            &document(&file, URL, r#""HTTP""#, None),
        ),
    );
    for index in 1..blocks(&file) {
        h.block(&file, index);
    }
    let ready = h.last_update("job-1");
    assert_eq!(field(&ready.payload, "self_test"), Some("ready"));
    assert_eq!(field(&ready.payload, "expectedVersion"), Some("5"));

    // self_test ready meets a mismatch too: read again, then the same update goes out again.
    let token = field(&ready.payload, "clientToken").unwrap().to_string();
    h.take_sent();
    h.reject(&ready, "VersionMismatch");
    assert_eq!(h.state(), State::ClosingFile);
    assert_eq!(h.last_sent().topic, format!("{PREFIX}$next/get"));
    h.message(
        "$next/get/accepted",
        &execution(
            "job-1",
            "IN_PROGRESS",
            7,
            "{}",
            &document(&file, URL, r#""HTTP""#, None),
        ),
    );
    let again = h.last_update("job-1");
    assert_eq!(field(&again.payload, "self_test"), Some("ready"));
    assert_eq!(field(&again.payload, "expectedVersion"), Some("7"));
    assert_eq!(field(&again.payload, "clientToken"), Some(token.as_str()));
    assert_eq!(
        h.accept_last_update("job-1"),
        Outcome::Moved(State::Stopped)
    );
    assert_eq!(h.agent.platform().activations, 1);
}

#[test]
fn a_cancel_while_downloading_aborts_and_waits_for_the_next_job() {
    let file = v2();
    // The job vanishes from notify-next.
    let mut h = Harness::new();
    h.start_with("job-1", 2, &document(&file, URL, r#""HTTP""#, None));
    h.block(&file, 0);
    h.take_sent();
    assert_eq!(
        h.message("notify-next", &no_execution()),
        Outcome::Moved(State::RequestingJob)
    );
    assert_eq!(h.state(), State::WaitingForJob);
    assert_eq!(h.agent.platform().aborts, 1);
    assert_eq!(h.agent.platform().created, None);
    assert_eq!(h.agent.download().stops, 1);
    assert!(
        h.updates("job-1").is_empty(),
        "a canceled job is not updated"
    );
    assert_eq!(h.last_sent().topic, format!("{PREFIX}start-next"));
    assert_eq!(h.block(&file, 1), Outcome::Dropped);

    // The update is rejected because the job was canceled.
    let mut h = Harness::new();
    h.start_with("job-1", 2, &document(&file, URL, r#""HTTP""#, None));
    h.block(&file, 0);
    assert_eq!(
        h.reject_last_update("job-1", "InvalidStateTransition"),
        Outcome::Moved(State::RequestingJob)
    );
    assert_eq!(h.state(), State::WaitingForJob);
    assert_eq!(h.agent.platform().aborts, 1);
}

#[test]
fn a_cancel_after_the_close_erases_the_staged_file() {
    let file = v2();
    let mut h = Harness::new();
    h.start_with("job-1", 2, &document(&file, URL, r#""HTTP""#, None));
    for index in 0..blocks(&file) {
        h.block(&file, index);
    }
    assert!(h.agent.platform().staged.is_some());
    h.reject_last_update("job-1", "TerminalStateReached");
    assert_eq!(h.state(), State::WaitingForJob);
    assert_eq!(h.agent.platform().staged, None);
    assert_eq!(h.agent.platform().activations, 0);
}

#[test]
fn duplicate_notifications_of_the_running_job_are_ignored() {
    let file = v2();
    let mut h = Harness::new();
    let doc = document(&file, URL, r#""HTTP""#, None);
    h.start_with("job-1", 2, &doc);
    h.block(&file, 0);
    let notify = execution("job-1", "IN_PROGRESS", 2, "{}", &doc);
    for _ in 0..2 {
        assert_eq!(
            h.message("notify-next", &notify),
            Outcome::Stayed(Stay::Duplicate)
        );
    }
    assert_eq!(h.state(), State::WaitingForFileBlock);
    assert_eq!(h.downloads().len(), 1);
    assert_eq!(h.agent.platform().creates, 1);
    for index in 1..blocks(&file) {
        h.block(&file, index);
    }
    assert_eq!(h.state(), State::ClosingFile);
}

#[test]
fn a_duplicate_brings_the_newest_version_it_has_seen() {
    // notify-next (QUEUED, version 1) overtakes the start-next reply (IN_PROGRESS, 2).
    let file = v2();
    let doc = document(&file, URL, r#""HTTP""#, None);
    let mut h = Harness::new();
    h.send(Event::Start);
    h.message("notify-next", &execution("job-1", "QUEUED", 1, "{}", &doc));
    assert_eq!(h.state(), State::WaitingForFileBlock);
    h.message(
        "start-next/accepted",
        &execution("job-1", "IN_PROGRESS", 2, "{}", &doc),
    );
    h.message("notify-next", &execution("job-1", "QUEUED", 1, "{}", &doc));
    h.block(&file, 0);
    assert_eq!(
        field(&h.last_update("job-1").payload, "expectedVersion"),
        Some("2")
    );
}

#[test]
fn a_second_job_queued_behind_the_first_runs_after_it() {
    let file = image("0.9.3", IMAGE_LEN);
    let second = image("0.9.5", IMAGE_LEN);
    let mut h = Harness::new();
    h.start_with("job-1", 2, &document(&file, URL, r#""HTTP""#, None));
    h.block(&file, 0);
    // job-1 fails (not newer); once that is accepted, start-next brings job-2.
    assert_failed(
        &mut h,
        "job-1",
        "version-not-newer: 0.9.3 is not newer than 0.9.3",
    );
    h.message(
        "start-next/accepted",
        &execution(
            "job-2",
            "IN_PROGRESS",
            2,
            "{}",
            &document(&second, URL2, r#""HTTP""#, None),
        ),
    );
    assert_eq!(h.state(), State::WaitingForFileBlock);
    assert_eq!(h.downloads().last().unwrap().url, URL2);
    for index in 0..blocks(&second) {
        h.block(&second, index);
    }
    assert_eq!(h.state(), State::ClosingFile);
    assert_eq!(
        field(&h.last_update("job-2").payload, "self_test"),
        Some("ready")
    );
}

#[test]
fn a_notification_of_the_next_job_ends_a_reported_one() {
    // The FAILED update's reply is lost, but notify-next names the next job: the first
    // is over, the second is taken.
    let file = image("0.9.3", IMAGE_LEN);
    let second = image("0.9.5", IMAGE_LEN);
    let mut h = Harness::new();
    h.start_with("job-1", 2, &document(&file, URL, r#""HTTP""#, None));
    h.block(&file, 0);
    assert_eq!(h.state(), State::WaitingForJob);
    // A late duplicate of job-1 is not taken again.
    assert_eq!(
        h.message(
            "notify-next",
            &execution(
                "job-1",
                "IN_PROGRESS",
                3,
                "{}",
                &document(&file, URL, r#""HTTP""#, None)
            )
        ),
        Outcome::Stayed(Stay::Duplicate)
    );
    h.message(
        "notify-next",
        &execution(
            "job-2",
            "QUEUED",
            1,
            "{}",
            &document(&second, URL2, r#""HTTP""#, None),
        ),
    );
    assert_eq!(h.state(), State::WaitingForFileBlock);
    assert_eq!(h.agent.status().job_id.unwrap().as_str(), "job-2");
}

#[test]
fn a_failed_self_test_reports_failed() {
    // The reboot did not bring the new version (the install was refused).
    let mut h = Harness::new();
    h.send(Event::Start);
    h.message(
        "start-next/accepted",
        &execution(
            "job-1",
            "IN_PROGRESS",
            4,
            r#"{"self_test":"ready","updatedBy":"0.9.3"}"#,
            &document(&v2(), URL, r#""HTTP""#, None),
        ),
    );
    let update = h.last_update("job-1");
    assert_eq!(field(&update.payload, "status"), Some("FAILED"));
    assert_eq!(
        field(&update.payload, "reason"),
        Some("self-test: running 0.9.3 is not newer than 0.9.3")
    );
    assert_eq!(h.state(), State::WaitingForJob);
    // The report is sent again until it is answered.
    h.take_sent();
    h.fire_timer();
    assert_eq!(h.last_update("job-1").payload, update.payload);
    h.accept_last_update("job-1");
    assert_eq!(h.last_sent().topic, format!("{PREFIX}start-next"));

    let mut h = Harness::new();
    h.send(Event::Start);
    h.message(
        "start-next/accepted",
        &execution(
            "job-1",
            "IN_PROGRESS",
            4,
            r#"{"self_test":"ready"}"#,
            "null",
        ),
    );
    assert_eq!(
        field(&h.last_update("job-1").payload, "reason"),
        Some("self-test: no updatedBy")
    );
}

#[test]
fn a_user_abort_reports_erases_and_stays_ready() {
    let file = v2();
    let mut h = Harness::new();
    h.start_with("job-1", 2, &document(&file, URL, r#""HTTP""#, None));
    h.block(&file, 0);
    h.accept_last_update("job-1");
    assert_eq!(h.send(Event::UserAbort), Outcome::Moved(State::Ready));
    let update = h.last_update("job-1");
    assert_eq!(field(&update.payload, "status"), Some("FAILED"));
    assert_eq!(field(&update.payload, "reason"), Some("user-abort"));
    assert_eq!(field(&update.payload, "expectedVersion"), Some("3"));
    assert_eq!(
        (h.agent.platform().fails, h.agent.platform().aborts),
        (1, 0),
        "given up, erased only once the cloud has it"
    );
    assert_eq!(h.agent.download().stops, 1);
    // Ready confirms the update and takes no job.
    h.take_sent();
    assert_eq!(h.accept(&update), Outcome::Moved(State::Ready));
    assert_eq!(h.agent.platform().aborts, 1);
    assert!(h.sent().is_empty(), "no job request");
    let notify = execution(
        "job-2",
        "QUEUED",
        1,
        "{}",
        &document(&file, URL, r#""HTTP""#, None),
    );
    assert_eq!(
        h.message("notify-next", &notify),
        Outcome::Stayed(Stay::Nothing)
    );
    assert_eq!(h.state(), State::Ready);
    // Start looks for jobs again.
    h.send(Event::Start);
    assert_eq!(h.last_sent().topic, format!("{PREFIX}start-next"));
}

#[test]
fn ready_resolves_a_version_mismatch_and_a_gone_job_without_asking_for_jobs() {
    let file = v2();
    let mut h = Harness::new();
    h.start_with("job-1", 2, &document(&file, URL, r#""HTTP""#, None));
    h.send(Event::UserAbort);
    let failed = h.last_update("job-1");
    h.take_sent();
    assert_eq!(
        h.reject(&failed, "VersionMismatch"),
        Outcome::Stayed(Stay::ReadingVersion)
    );
    assert_eq!(h.last_sent().topic, format!("{PREFIX}$next/get"));
    h.message(
        "$next/get/accepted",
        &execution(
            "job-1",
            "IN_PROGRESS",
            6,
            "{}",
            &document(&file, URL, r#""HTTP""#, None),
        ),
    );
    let again = h.last_update("job-1");
    assert_eq!(field(&again.payload, "reason"), Some("user-abort"));
    assert_eq!(field(&again.payload, "expectedVersion"), Some("6"));
    // The job was canceled meanwhile: nothing more to report, and no job is asked for.
    h.take_sent();
    assert_eq!(
        h.reject(&again, "InvalidStateTransition"),
        Outcome::Moved(State::Ready)
    );
    assert!(h.sent().is_empty());
    assert_eq!(h.agent.stats().dropped, 0);
    assert_eq!(h.agent.status().job_id, None);
}

#[test]
fn a_failed_report_meeting_a_version_mismatch_is_sent_again() {
    let mut h = Harness::new();
    h.start_with("job-1", 2, r#"{"operation":"reboot"}"#);
    let failed = h.last_update("job-1");
    h.take_sent();
    h.reject(&failed, "VersionMismatch");
    assert_eq!(h.state(), State::WaitingForJob);
    // The re-read is lost: the timer asks again.
    h.take_sent();
    h.fire_timer();
    assert_eq!(h.last_sent().topic, format!("{PREFIX}$next/get"));
    h.message(
        "$next/get/accepted",
        &execution("job-1", "IN_PROGRESS", 4, "{}", r#"{"operation":"reboot"}"#),
    );
    let again = h.last_update("job-1");
    assert_eq!(field(&again.payload, "status"), Some("FAILED"));
    assert_eq!(field(&again.payload, "expectedVersion"), Some("4"));
    h.take_sent();
    h.accept(&again);
    assert_eq!(h.last_sent().topic, format!("{PREFIX}start-next"));
}

#[test]
fn a_user_abort_without_a_reply_is_sent_again_from_ready_and_start_keeps_it() {
    let file = v2();
    let mut h = Harness::new();
    h.start_with("job-1", 2, &document(&file, URL, r#""HTTP""#, None));
    h.agent.control().offline = true;
    h.send(Event::UserAbort);
    assert!(h.updates("job-1").is_empty());
    h.agent.control().offline = false;
    h.fire_timer();
    assert_eq!(
        field(&h.last_update("job-1").payload, "reason"),
        Some("user-abort")
    );
    // Started again before the reply: the FAILED update goes first, the job request after.
    h.take_sent();
    h.send(Event::Start);
    assert_eq!(
        field(&h.last_update("job-1").payload, "reason"),
        Some("user-abort")
    );
    h.accept_last_update("job-1");
    assert_eq!(h.last_sent().topic, format!("{PREFIX}start-next"));
}

#[test]
fn a_power_cut_mid_download_resumes_where_the_flash_stopped_for_the_same_execution_only() {
    let file = v2();
    let doc = document(&file, URL, r#""HTTP""#, None);
    let mut h = Harness::new();
    h.start_with("job-1", 2, &doc);
    for index in 0..4 {
        h.block(&file, index);
    }
    // The power goes: a new agent over the same partition takes the same execution again.
    let mut h = Harness::with(config(), h.agent.platform().power_cut());
    h.start_with("job-1", 5, &doc);
    assert_eq!(h.agent.platform().resumes, 1);
    assert_eq!(h.agent.platform().creates, 0, "nothing is erased");
    let resumed = h.downloads();
    assert_eq!(resumed.len(), 1);
    assert_eq!(resumed[0].offset, 4 * BLOCK as u32);
    let status = h.agent.status();
    assert_eq!(
        (status.blocks_done, status.bytes_done),
        (4, 4 * BLOCK as u32)
    );
    for index in 4..blocks(&file) {
        h.block(&file, index);
    }
    assert_eq!(h.state(), State::ClosingFile);
    assert_eq!(h.agent.platform().signatures, vec![sign(&file)]);

    // Another execution of the job (or another job) starts the file over.
    let mut h = Harness::with(config(), h.agent.platform().power_cut());
    let rerun = execution("job-1", "IN_PROGRESS", 1, "{}", &doc)
        .replace(r#""executionNumber":1"#, r#""executionNumber":2"#);
    h.send(Event::Start);
    h.message("start-next/accepted", &rerun);
    assert_eq!(h.agent.platform().creates, 1);
    assert_eq!(h.downloads()[0].offset, 0);
}

#[test]
fn a_failure_the_cloud_did_not_confirm_before_a_power_cut_is_reported_again_not_downloaded() {
    let file = v2();
    let doc = document(&file, URL, r#""HTTP""#, Some("AAAAAAAAAAA="));
    let mut h = Harness::new();
    h.start_with("job-1", 2, &doc);
    for index in 0..blocks(&file) {
        h.block(&file, index);
    }
    let failed = h.last_update("job-1");
    assert_eq!(field(&failed.payload, "status"), Some("FAILED"));
    let reason = field(&failed.payload, "reason").unwrap().to_string();
    assert!(reason.starts_with("signature"), "{reason}");

    // The power goes before the update is accepted: the job is still IN_PROGRESS.
    let mut h = Harness::with(config(), h.agent.platform().power_cut());
    h.start_with("job-1", 2, &doc);
    assert!(h.downloads().is_empty(), "not downloaded again");
    assert_eq!(h.agent.platform().creates, 0);
    assert_failed(&mut h, "job-1", &reason);
}

#[test]
fn an_image_installed_before_the_cloud_had_self_test_ready_passes_its_self_test() {
    let file = v2();
    let doc = document(&file, URL, r#""HTTP""#, None);
    let mut h = Harness::new();
    h.start_with("job-1", 2, &doc);
    for index in 0..blocks(&file) {
        h.block(&file, index);
    }
    assert_eq!(h.state(), State::ClosingFile);
    // The power goes before self_test: ready is accepted; the boot stage installs the file.
    let platform = h.agent.platform().power_cut_after_staging();
    assert_eq!(platform.running, "0.9.4");
    let mut h = Harness::with(config(), platform);
    h.start_with("job-1", 3, &doc);
    assert!(h.downloads().is_empty(), "nothing is downloaded again");
    let done = h.last_update("job-1");
    assert_eq!(field(&done.payload, "status"), Some("SUCCEEDED"));
    assert_eq!(field(&done.payload, "reason"), Some("accepted 0.9.4"));
    assert_eq!(field(&done.payload, "updatedBy"), Some("0.9.3"));
    h.accept(&done);
    assert_eq!(h.agent.platform().confirmations, [true]);

    // What runs is not newer than what the download replaced: the self-test fails.
    let mut platform = FakePlatform::new("0.9.3");
    platform.journal = Some(("job-1".to_string(), 1, IMAGE_LEN as u32));
    platform.installed = Some("0.9.3".to_string());
    let mut h = Harness::with(config(), platform);
    h.start_with("job-1", 3, &doc);
    assert_eq!(
        field(&h.last_update("job-1").payload, "reason"),
        Some("self-test: running 0.9.3 is not newer than 0.9.3")
    );
}

#[test]
fn a_download_of_a_job_that_ended_while_the_device_was_away_is_not_resumed() {
    let file = v2();
    let doc = document(&file, URL, r#""HTTP""#, None);
    let mut h = Harness::new();
    h.start_with("job-1", 2, &doc);
    h.block(&file, 0);
    // The job is canceled (or times out) while the power is off: start-next has none.
    let mut h = Harness::with(config(), h.agent.platform().power_cut());
    h.send(Event::Start);
    assert_eq!(
        h.message("start-next/accepted", &no_execution()),
        Outcome::Stayed(Stay::NoJob)
    );
    assert_eq!(h.agent.platform().forgets, 1);
    assert_eq!(h.agent.platform().journal, None);
    assert_eq!(h.agent.platform().resumes, 0);
    assert!(h.downloads().is_empty());
}

#[test]
fn a_user_abort_survives_a_power_cut_before_the_cloud_has_it() {
    let file = v2();
    let doc = document(&file, URL, r#""HTTP""#, None);
    let mut h = Harness::new();
    h.start_with("job-1", 2, &doc);
    h.block(&file, 0);
    h.send(Event::UserAbort);
    let mut h = Harness::with(config(), h.agent.platform().power_cut());
    h.start_with("job-1", 3, &doc);
    assert!(h.downloads().is_empty(), "the aborted job does not go on");
    assert_failed(&mut h, "job-1", "user-abort");
}

#[test]
fn the_self_test_verdict_is_confirmed_to_the_platform_once_accepted() {
    let file = v2();
    let mut h = Harness::with(config(), FakePlatform::new("0.9.4"));
    h.send(Event::Start);
    h.message("start-next/accepted", &in_self_test(&file, URL));
    assert_eq!(
        h.agent.platform().commits,
        1,
        "committed before it is reported"
    );
    assert!(
        h.agent.platform().confirmations.is_empty(),
        "not before the cloud has it"
    );
    h.accept_last_update("job-1");
    assert_eq!(h.agent.platform().confirmations, [true]);
}

#[test]
fn an_update_that_was_rolled_back_fails_its_self_test_with_the_version_it_lost() {
    let file = v2();
    // The previous image runs again, and the cloud still waits for the new one's self-test.
    let mut platform = FakePlatform::new("0.9.3");
    platform.rolled_back = Version::new("0.9.4");
    let mut h = Harness::with(config(), platform);
    h.send(Event::Start);
    h.message("start-next/accepted", &in_self_test(&file, URL));
    let report = h.last_update("job-1");
    assert_eq!(field(&report.payload, "status"), Some("FAILED"));
    assert_eq!(
        field(&report.payload, "reason"),
        Some("self-test: rolled back: 0.9.4 did not become the running image, 0.9.3 runs")
    );
    h.accept(&report);
    assert_eq!(h.agent.platform().commits, 0);
    assert_eq!(h.agent.platform().confirmations, [false]);
}

#[test]
fn suspend_and_resume_keep_the_partial_file() {
    let file = v2();
    let mut h = Harness::new();
    h.start_with("job-1", 2, &document(&file, URL, r#""HTTP""#, None));
    h.block(&file, 0);
    h.block(&file, 1);
    assert_eq!(h.send(Event::Suspend), Outcome::Moved(State::Suspended));
    assert_eq!(h.agent.download().stops, 1);
    assert_eq!(h.agent.timer().deadline, None);
    assert_eq!(h.block(&file, 2), Outcome::Dropped);
    h.take_sent();
    h.send(Event::Resume);
    assert_eq!(h.last_sent().topic, format!("{PREFIX}$next/get"));
    h.message(
        "$next/get/accepted",
        &execution(
            "job-1",
            "IN_PROGRESS",
            3,
            "{}",
            &document(&file, URL2, r#""HTTP""#, None),
        ),
    );
    assert_eq!(h.agent.platform().creates, 1);
    assert_eq!(h.downloads().last().unwrap().offset, 2 * BLOCK as u32);
    for index in 2..blocks(&file) {
        h.block(&file, index);
    }
    assert_eq!(h.state(), State::ClosingFile);
}

#[test]
fn requests_lost_or_refused_are_sent_again() {
    let mut h = Harness::new();
    h.agent.control().offline = true;
    assert_eq!(h.send(Event::Start), Outcome::Moved(State::RequestingJob));
    assert_eq!(
        h.state(),
        State::RequestingJob,
        "the request was not handed over"
    );
    h.agent.control().offline = false;
    assert_eq!(h.fire_timer(), Outcome::Moved(State::WaitingForJob));
    assert_eq!(h.last_sent().topic, format!("{PREFIX}start-next"));
    // The reply is lost: the timer asks again.
    h.take_sent();
    h.fire_timer();
    assert_eq!(h.last_sent().topic, format!("{PREFIX}start-next"));
    // Throttled: asked again after the wait.
    h.take_sent();
    assert_eq!(
        h.message(
            "start-next/rejected",
            r#"{"code":"RequestThrottled","message":"slow down","clientToken":"x"}"#
        ),
        Outcome::Moved(State::WaitingForJob)
    );
    assert!(h.sent().is_empty());
    h.fire_timer();
    assert_eq!(h.last_sent().topic, format!("{PREFIX}start-next"));
    // A request the shell makes (check for update) while waiting.
    h.take_sent();
    h.send(Event::RequestJobDocument);
    assert_eq!(h.last_sent().topic, format!("{PREFIX}start-next"));
    // Garbage is not a job.
    assert!(matches!(
        h.message("notify-next", "{\"execution\":"),
        Outcome::Stayed(Stay::BadMessage(_))
    ));
}

#[test]
fn a_download_that_cannot_start_is_tried_again() {
    let file = v2();
    let mut h = Harness::new();
    h.agent.download().refuse = true;
    h.start_with("job-1", 2, &document(&file, URL, r#""HTTP""#, None));
    assert_eq!(h.state(), State::RequestingFileBlock);
    h.agent.download().refuse = false;
    assert_eq!(h.fire_timer(), Outcome::Moved(State::WaitingForFileBlock));
    assert_eq!(h.downloads().len(), 1);
}

#[test]
fn an_activation_that_fails_is_reported() {
    let file = v2();
    let mut h = Harness::new();
    h.start_with("job-1", 2, &document(&file, URL, r#""HTTP""#, None));
    for index in 0..blocks(&file) {
        h.block(&file, index);
    }
    h.agent.platform().fail_activate = Some(Reason::with(
        ReasonCode::Activate,
        format_args!("no record"),
    ));
    h.accept_last_update("job-1");
    assert_failed(&mut h, "job-1", "activate: no record");
}

#[test]
fn shutdown_erases_an_unfinished_file_and_stops() {
    let file = v2();
    let mut h = Harness::new();
    h.start_with("job-1", 2, &document(&file, URL, r#""HTTP""#, None));
    h.block(&file, 0);
    assert_eq!(h.send(Event::Shutdown), Outcome::Moved(State::Stopped));
    assert_eq!(h.agent.platform().aborts, 1);
    assert_eq!(h.agent.download().stops, 1);
    assert_eq!(h.send(Event::Start), Outcome::Dropped);
    assert_eq!(h.state(), State::Stopped);
}

#[test]
fn the_status_shows_the_download() {
    let file = v2();
    let mut h = Harness::new();
    h.start_with("job-1", 2, &document(&file, URL, r#""HTTP""#, None));
    h.advance(1000);
    h.block(&file, 0);
    h.block(&file, 1);
    h.advance(1000);
    let status = h.agent.status();
    assert_eq!(status.state, State::WaitingForFileBlock);
    assert_eq!(status.job_id.unwrap().as_str(), "job-1");
    assert_eq!((status.bytes_done, status.bytes_total), (512, 2000));
    assert_eq!((status.blocks_done, status.blocks_total), (2, 8));
    assert_eq!(status.rate, 256, "512 bytes in 2 s");
    assert_eq!(
        format!("{}", status.stats),
        format!(
            "Received: {} Queued: {} Processed: {} Dropped: 0",
            status.stats.received, status.stats.queued, status.stats.processed
        )
    );
    assert_eq!(status.stats.received, status.stats.processed);
    assert_eq!(
        status.stats.queued, 3,
        "RequestJobDocument, CreateFile, RequestFileBlock"
    );
}

#[test]
fn progress_is_rate_limited() {
    let file = image("0.9.4", 4096);
    let config = Config {
        progress_step_percent: 50,
        progress_interval_ms: 3_000,
        ..config()
    };
    let mut h = Harness::with(config, FakePlatform::new("0.9.3"));
    h.start_with("job-1", 2, &document(&file, URL, r#""HTTP""#, None));
    let mut sent_at = Vec::new();
    for index in 0..blocks(&file) - 1 {
        h.advance(500);
        h.block(&file, index);
        let updates = h.updates("job-1");
        if updates.len() > sent_at.len() {
            sent_at.push(index);
            h.accept_last_update("job-1");
        }
    }
    // The first block, 3 s later, half the file, 3 s later.
    assert_eq!(sent_at, vec![0, 6, 7, 13]);
}

#[test]
fn buffers_go_back_when_an_event_is_handled() {
    /// A buffer of the pool: the pool counts the buffers out by their handles.
    struct Pooled {
        _handle: Rc<()>,
        data: Vec<u8>,
    }
    impl AsRef<[u8]> for Pooled {
        fn as_ref(&self) -> &[u8] {
            &self.data
        }
    }
    let pool = Rc::new(());
    let file = v2();
    let mut h = Harness::new();
    h.start_with("job-1", 2, &document(&file, URL, r#""HTTP""#, None));
    let transfer = h.transfer();
    for (index, transfer) in [(0, transfer), (1, transfer + 7)] {
        h.agent.handle(Event::ReceivedFileBlock {
            transfer,
            offset: (index * BLOCK) as u32,
            data: Pooled {
                _handle: pool.clone(),
                data: file[index * BLOCK..(index + 1) * BLOCK].to_vec(),
            },
        });
    }
    h.agent.force_state(State::Init);
    h.agent.handle(Event::UpdateAccepted(Pooled {
        _handle: pool.clone(),
        data: Vec::new(),
    }));
    assert_eq!(
        Rc::strong_count(&pool),
        1,
        "written, stale and dropped buffers all returned"
    );
}

// The table.

/// An event of `kind` with made-up data.
fn sample(kind: EventKind) -> Event<Buf> {
    match kind {
        EventKind::Start => Event::Start,
        EventKind::StartSelfTest => Event::StartSelfTest,
        EventKind::RequestJobDocument => Event::RequestJobDocument,
        EventKind::ReceivedJobDocument => Event::ReceivedJobDocument(no_execution().into_bytes()),
        EventKind::CreateFile => Event::CreateFile,
        EventKind::RequestFileBlock => Event::RequestFileBlock,
        EventKind::ReceivedFileBlock => Event::ReceivedFileBlock {
            transfer: 1,
            offset: 0,
            data: vec![0; BLOCK],
        },
        EventKind::RequestTimer => Event::RequestTimer,
        EventKind::CloseFile => Event::CloseFile,
        EventKind::Suspend => Event::Suspend,
        EventKind::Resume => Event::Resume,
        EventKind::UserAbort => Event::UserAbort,
        EventKind::Shutdown => Event::Shutdown,
        EventKind::UpdateAccepted => Event::UpdateAccepted(b"{}".to_vec()),
        EventKind::UpdateRejected => {
            Event::UpdateRejected(br#"{"code":"InvalidRequest"}"#.to_vec())
        }
        EventKind::JobRequestRejected => {
            Event::JobRequestRejected(br#"{"code":"InvalidRequest"}"#.to_vec())
        }
        EventKind::DownloadInterrupted => Event::DownloadError {
            transfer: 1,
            error: DownloadError::Interrupted,
        },
        EventKind::UrlExpired => Event::DownloadError {
            transfer: 1,
            error: DownloadError::UrlExpired,
        },
        EventKind::DownloadFailed => Event::DownloadError {
            transfer: 1,
            error: DownloadError::NotPartial,
        },
        EventKind::FailJob => Event::FailJob,
    }
}

#[test]
fn events_without_a_row_are_dropped_and_counted() {
    let mut pairs = 0;
    for state in State::ALL {
        for kind in EventKind::ALL {
            if table::lookup(state, kind).is_some() {
                continue;
            }
            pairs += 1;
            let mut h = Harness::new();
            h.agent.force_state(state);
            let before = h.agent.stats();
            assert_eq!(
                h.agent.handle(sample(kind)),
                Outcome::Dropped,
                "{state:?} {kind:?}"
            );
            assert_eq!(h.state(), state);
            let after = h.agent.stats();
            assert_eq!(after.dropped, before.dropped + 1);
            assert_eq!(after.processed, before.processed);
            assert_eq!(h.agent.take_signal(), None);
            assert!(h.sent().is_empty());
        }
    }
    assert_eq!(pairs, State::ALL.len() * EventKind::ALL.len() - TABLE.len());
}

#[test]
fn the_table_has_one_row_per_pair_and_shutting_down_is_never_entered() {
    for (i, a) in TABLE.iter().enumerate() {
        for b in &TABLE[i + 1..] {
            assert!(!(a.state == b.state && a.event == b.event), "{a:?} twice");
        }
        assert_ne!(a.next, State::ShuttingDown);
    }
    assert!(TABLE.iter().all(|row| row.state != State::Stopped));
}

/// A harness in `row.state` with the context its handler needs to succeed, and the event.
fn prepared(state: State, kind: EventKind) -> (Harness, Event<Buf>) {
    let file = v2();
    let doc = document(&file, URL, r#""HTTP""#, None);
    let job_doc = execution("job-1", "IN_PROGRESS", 2, "{}", &doc);
    let self_test_doc = execution(
        "job-1",
        "IN_PROGRESS",
        2,
        r#"{"self_test":"ready","updatedBy":"0.9.2"}"#,
        &doc,
    );
    let mut h = Harness::new();
    let accepted = |h: &mut Harness| {
        let token = field(&h.last_update("job-1").payload, "clientToken")
            .unwrap()
            .to_string();
        Event::UpdateAccepted(format!(r#"{{"clientToken":"{token}"}}"#).into_bytes())
    };
    let gone = |h: &mut Harness| {
        let token = field(&h.last_update("job-1").payload, "clientToken")
            .unwrap()
            .to_string();
        Event::UpdateRejected(
            format!(r#"{{"code":"InvalidStateTransition","clientToken":"{token}"}}"#).into_bytes(),
        )
    };
    let due = |h: &mut Harness| {
        let timer = h.agent.timer();
        timer.now = timer.deadline.take().expect("armed");
        Event::RequestTimer
    };
    // Into a state, handling signals only while the state is not yet reached.
    fn until(h: &mut Harness, event: Event<Buf>, state: State) {
        h.agent.handle(event);
        while h.state() != state {
            let signal = h.agent.take_signal().expect("a signal on the way");
            h.agent.handle(Event::<Buf>::from(signal));
        }
    }
    let downloading = |h: &mut Harness| {
        until(h, Event::Start, State::WaitingForJob);
        until(
            h,
            Event::ReceivedJobDocument(job_doc.clone().into_bytes()),
            State::WaitingForFileBlock,
        );
    };
    let event = match (state, kind) {
        (State::Init, _) => sample(kind),
        (State::Ready, _) => {
            downloading(&mut h);
            h.agent.handle(Event::<Buf>::UserAbort);
            match kind {
                EventKind::UpdateAccepted => accepted(&mut h),
                EventKind::UpdateRejected => gone(&mut h),
                EventKind::RequestTimer => due(&mut h),
                _ => sample(kind),
            }
        }
        (State::RequestingJob, _) => {
            h.agent.control().offline = true;
            until(&mut h, Event::Start, State::RequestingJob);
            h.handle_signal();
            h.agent.control().offline = false;
            match kind {
                EventKind::RequestTimer => due(&mut h),
                _ => sample(kind),
            }
        }
        (
            State::WaitingForJob,
            EventKind::UpdateAccepted | EventKind::UpdateRejected | EventKind::FailJob,
        ) => {
            until(&mut h, Event::Start, State::WaitingForJob);
            let refused = execution("job-1", "IN_PROGRESS", 2, "{}", r#"{"other":1}"#);
            h.agent
                .handle(Event::ReceivedJobDocument(refused.into_bytes()));
            match kind {
                EventKind::FailJob => h.signal(),
                _ => {
                    h.handle_signal();
                    if kind == EventKind::UpdateAccepted {
                        accepted(&mut h)
                    } else {
                        gone(&mut h)
                    }
                }
            }
        }
        (State::WaitingForJob, _) => {
            until(&mut h, Event::Start, State::WaitingForJob);
            match kind {
                EventKind::RequestTimer => due(&mut h),
                EventKind::ReceivedJobDocument => {
                    Event::ReceivedJobDocument(job_doc.clone().into_bytes())
                }
                _ => sample(kind),
            }
        }
        (State::CreatingFile, EventKind::StartSelfTest) => {
            until(&mut h, Event::Start, State::WaitingForJob);
            until(
                &mut h,
                Event::ReceivedJobDocument(self_test_doc.into_bytes()),
                State::CreatingFile,
            );
            h.signal()
        }
        (State::CreatingFile, EventKind::FailJob) => {
            h.agent.platform().fail_create = Some(Reason::new(ReasonCode::Flash));
            until(&mut h, Event::Start, State::WaitingForJob);
            until(
                &mut h,
                Event::ReceivedJobDocument(job_doc.into_bytes()),
                State::CreatingFile,
            );
            h.handle_signal();
            h.signal()
        }
        (State::CreatingFile, _) => {
            until(&mut h, Event::Start, State::WaitingForJob);
            until(
                &mut h,
                Event::ReceivedJobDocument(job_doc.into_bytes()),
                State::CreatingFile,
            );
            h.agent.take_signal();
            sample(kind)
        }
        (
            State::RequestingFileBlock,
            EventKind::RequestTimer | EventKind::UpdateAccepted | EventKind::UpdateRejected,
        ) => {
            downloading(&mut h);
            h.block(&file, 0);
            let transfer = h.transfer();
            h.agent.handle(Event::<Buf>::DownloadError {
                transfer,
                error: DownloadError::Interrupted,
            });
            match kind {
                EventKind::RequestTimer => due(&mut h),
                EventKind::UpdateAccepted => accepted(&mut h),
                _ => gone(&mut h),
            }
        }
        (State::RequestingFileBlock, _) => {
            until(&mut h, Event::Start, State::WaitingForJob);
            until(
                &mut h,
                Event::ReceivedJobDocument(job_doc.into_bytes()),
                State::RequestingFileBlock,
            );
            h.agent.take_signal();
            sample(kind)
        }
        (State::WaitingForFileBlock, _) => {
            downloading(&mut h);
            let transfer = h.transfer();
            match kind {
                EventKind::ReceivedFileBlock => Event::ReceivedFileBlock {
                    transfer,
                    offset: 0,
                    data: file[..BLOCK].to_vec(),
                },
                EventKind::RequestTimer => due(&mut h),
                EventKind::DownloadInterrupted
                | EventKind::UrlExpired
                | EventKind::DownloadFailed => match sample(kind) {
                    Event::DownloadError { error, .. } => Event::DownloadError { transfer, error },
                    _ => unreachable!(),
                },
                EventKind::UpdateAccepted | EventKind::UpdateRejected => {
                    h.block(&file, 0);
                    if kind == EventKind::UpdateAccepted {
                        accepted(&mut h)
                    } else {
                        gone(&mut h)
                    }
                }
                EventKind::FailJob => {
                    h.agent.handle(Event::ReceivedFileBlock {
                        transfer,
                        offset: 0,
                        data: vec![0; 10],
                    });
                    h.signal()
                }
                EventKind::CloseFile => {
                    for index in 0..blocks(&file) - 1 {
                        h.block(&file, index);
                    }
                    let last = blocks(&file) - 1;
                    h.agent.handle(Event::ReceivedFileBlock {
                        transfer,
                        offset: (last * BLOCK) as u32,
                        data: file[last * BLOCK..].to_vec(),
                    });
                    h.signal()
                }
                _ => sample(kind),
            }
        }
        (State::ClosingFile, _) => {
            downloading(&mut h);
            if kind == EventKind::FailJob {
                h.agent.platform().fail_activate = Some(Reason::new(ReasonCode::Activate));
            }
            for index in 0..blocks(&file) {
                h.block(&file, index);
            }
            match kind {
                EventKind::UpdateAccepted => accepted(&mut h),
                EventKind::UpdateRejected => gone(&mut h),
                EventKind::RequestTimer => due(&mut h),
                EventKind::FailJob => {
                    let event = accepted(&mut h);
                    h.agent.handle(event);
                    h.signal()
                }
                _ => sample(kind),
            }
        }
        (State::Suspended, _) => {
            downloading(&mut h);
            h.agent.handle(Event::<Buf>::Suspend);
            sample(kind)
        }
        (State::ShuttingDown | State::Stopped, _) => unreachable!("no rows"),
    };
    assert_eq!(h.state(), state, "prepared for {kind:?}");
    (h, event)
}

#[test]
fn every_row_of_the_table_moves_to_its_next_state() {
    for row in TABLE.iter() {
        let (mut h, event) = prepared(row.state, row.event);
        assert_eq!(event.kind(), row.event);
        let before = h.agent.stats();
        assert_eq!(
            h.agent.handle(event),
            Outcome::Moved(row.next),
            "{:?} --{:?}--> {:?}",
            row.state,
            row.event,
            row.next
        );
        assert_eq!(h.agent.stats().processed, before.processed + 1);
    }
}

#[test]
fn signals_become_their_events() {
    for (signal, kind) in [
        (Signal::StartSelfTest, EventKind::StartSelfTest),
        (Signal::RequestJobDocument, EventKind::RequestJobDocument),
        (Signal::CreateFile, EventKind::CreateFile),
        (Signal::RequestFileBlock, EventKind::RequestFileBlock),
        (Signal::CloseFile, EventKind::CloseFile),
        (Signal::FailJob, EventKind::FailJob),
    ] {
        assert_eq!(Event::<Buf>::from(signal).kind(), kind);
    }
}

// The agent against the in-memory Jobs API.

impl Harness {
    /// Hands everything the agent published to `cloud`, and the cloud's answers back to the
    /// agent, until neither has anything more to say.
    fn relay(&mut self, cloud: &mut LoopbackJobs<'_>) {
        let mut buf = vec![0u8; 4096];
        loop {
            let sent = self.take_sent();
            if sent.is_empty() {
                return;
            }
            let mut answers = Vec::new();
            for published in sent {
                cloud.handle(
                    &published.topic,
                    published.payload.as_bytes(),
                    1_700_000_000,
                    &mut buf,
                    &mut |topic, payload| answers.push((topic.to_string(), payload.to_vec())),
                );
            }
            for (topic, payload) in answers {
                let kind = self.topics.classify(&topic).expect("a jobs topic");
                self.send(Event::from_message(&kind, payload));
            }
        }
    }
}

#[test]
fn the_loopback_jobs_api_takes_the_agent_from_the_job_to_succeeded_across_the_reboot() {
    let file = v2();
    let doc = document(&file, URL, r#""HTTP""#, None);
    let thing = ThingName::new(THING).unwrap();
    let job = JobId::new("job-1").unwrap();
    let mut cloud = LoopbackJobs::new(
        thing.clone(),
        job.clone(),
        doc.as_bytes(),
        ExecutionRecord::queued(1),
    )
    .unwrap();
    let mut h = Harness::new();
    h.send(Event::Start);
    h.relay(&mut cloud);
    assert_eq!(h.state(), State::WaitingForFileBlock);
    for index in 0..blocks(&file) {
        h.block(&file, index);
        h.relay(&mut cloud);
    }
    assert_eq!(
        h.agent.platform().activations,
        1,
        "activated once confirmed"
    );
    assert_eq!(h.agent.platform().contents(IMAGE_LEN), &file[..]);
    let kept = cloud.execution().to_bytes();
    assert_eq!(cloud.execution().status, JobStatus::InProgress);
    assert!(cloud.execution().details.contains(r#""self_test":"ready""#));

    // The device restarts into the new image; the cloud kept the execution.
    let platform = h.agent.platform().reboot();
    let mut cloud = LoopbackJobs::new(
        thing,
        job,
        doc.as_bytes(),
        ExecutionRecord::parse(&kept).unwrap(),
    )
    .unwrap();
    let mut h = Harness::with(config(), platform);
    h.send(Event::Start);
    h.relay(&mut cloud);
    assert_eq!(cloud.execution().status, JobStatus::Succeeded);
    assert!(cloud
        .execution()
        .details
        .contains(r#""reason":"accepted 0.9.4""#));
    assert!(h.downloads().is_empty(), "the file is not downloaded again");
    assert_eq!(h.state(), State::WaitingForJob);
    assert_eq!(h.agent.status().stats.dropped, 0);
}
