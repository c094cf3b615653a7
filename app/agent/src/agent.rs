//! The agent: the state table's handlers over the ports, the job it works on, the update it
//! waits to see confirmed, and its statistics.
//!
//! How a firmware drives it: one task owns the [`Agent`] and a queue of [`Event`]s. It takes
//! an event (first any [`Signal`] from [`Agent::take_signal`], else the next from the
//! queue), calls [`Agent::handle`], and repeats. Other tasks only post to the queue: the MQTT
//! task the messages of [`crate::jobs::Topics::classify`]'s topics (through
//! [`Event::from_message`]), the download task blocks and errors, the timer `RequestTimer`,
//! the shell `Start`, `UserAbort` and `Shutdown`.
//!
//! The job's life, as in AWS's OTA library
//! (<https://docs.aws.amazon.com/freertos/latest/userguide/ota-update-library.html>) over the
//! Jobs API (<https://docs.aws.amazon.com/iot/latest/developerguide/jobs-mqtt-api.html>):
//! `start-next` -> a document is checked -> the file is created -> downloaded in blocks (the
//! image version is checked at the header) -> closed (signature) -> `IN_PROGRESS` with
//! `self_test: ready` and `updatedBy` -> on `update/accepted`, activate (reboot). After the
//! reboot `start-next` returns the same execution with `self_test`: `SUCCEEDED` when the
//! running version is newer than `updatedBy`, else `FAILED`. Every update carries
//! `expectedVersion`; a failure is reported `FAILED` with a reason and erases the file.

use crate::base64;
use crate::event::{DownloadError, Event, Signal};
use crate::job::{Error as ParseError, ErrorCode, ExecutionReply, OtaDocument};
use crate::job::{Rejection, UpdateAccepted, SIGNATURE_MAX, UPDATED_BY_MAX};
use crate::jobs::UpdateRequest;
use crate::jobs::{self, ClientToken, DeviceStatus, JobId, StatusDetails, Topics};
use crate::ports::{Control, Download, FileKey, FileRequest, Kept, Platform, Qos, Timer};
use crate::reason::{Reason, ReasonCode, REASON_MAX};
use crate::table::{self, Handler, State};
use crate::version::Version;
use alloc::boxed::Box;
use core::fmt::{self, Write};
use heapless::{Deque, String};

/// The most blocks a file may have: the bitmap of received blocks is 128 bytes, as the AWS OTA
/// library's default (`otaconfigMAX_BLOCK_BITMAP_SIZE`). At 4 KB blocks that is 4 MB.
pub const MAX_BLOCKS: u32 = 1024;
/// A `RequestTimer` more than this early is taken for one armed before (and already
/// stopped), not for the current arming: a FreeRTOS timer's period is rounded to ticks.
const TIMER_SLACK_MS: u64 = 20;
/// The largest update payload the agent writes.
const PAYLOAD_MAX: usize = 512;

/// The agent's settings; [`Config::default`] has the values the comments give.
#[derive(Debug, Clone)]
pub struct Config {
    /// The size of every block but the last, at least 1 (4096, AWS's default block size).
    pub block_size: u32,
    /// How long to wait for the reply to a job request or a confirmed update before sending
    /// it again (10 s, AWS's `otaconfigFILE_REQUEST_WAIT_MS`).
    pub request_wait_ms: u32,
    /// How long the download may go without a block before it is restarted (30 s).
    pub block_wait_ms: u32,
    /// The first back-off before a download is resumed (1 s); it doubles with each retry
    /// that brings no new block.
    pub retry_backoff_ms: u32,
    /// The longest back-off (30 s).
    pub retry_backoff_max_ms: u32,
    /// Download restarts (and URL refreshes) in a row without a new block before the job
    /// fails (8).
    pub max_download_retries: u32,
    /// A progress update is sent each time this many more percent of the file are in (10).
    pub progress_step_percent: u32,
    /// ... or when this long has passed since the last one (30 s).
    pub progress_interval_ms: u32,
    /// Accept a document without `sig-sha256-ecdsa` (a build option; off).
    pub allow_unsigned: bool,
    /// Accept an image that is not newer than the running one (a build option; off). The
    /// self-test then only requires the running version to differ from `updatedBy`.
    pub allow_downgrade: bool,
    /// Starts every `clientToken`, so that tokens differ across reboots (e.g. from the
    /// board's entropy source).
    pub token_prefix: u32,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            block_size: 4096,
            request_wait_ms: 10_000,
            block_wait_ms: 30_000,
            retry_backoff_ms: 1_000,
            retry_backoff_max_ms: 30_000,
            max_download_retries: 8,
            progress_step_percent: 10,
            progress_interval_ms: 30_000,
            allow_unsigned: false,
            allow_downgrade: false,
            token_prefix: 0,
        }
    }
}

/// The agent's counters, as the AWS OTA library's `OTA_GetStatistics` keeps them.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Stats {
    /// Events handed to [`Agent::handle`].
    pub received: u32,
    /// Follow-up events the agent queued ([`Agent::take_signal`]).
    pub queued: u32,
    /// Events a row of the table handled (whether or not the state changed).
    pub processed: u32,
    /// Events with no row in the state they arrived in.
    pub dropped: u32,
}

impl fmt::Display for Stats {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "Received: {} Queued: {} Processed: {} Dropped: {}",
            self.received, self.queued, self.processed, self.dropped
        )
    }
}

/// What the shell shows (`ota status`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Status {
    pub state: State,
    /// The job being worked on.
    pub job_id: Option<JobId>,
    /// Bytes of the file written, of `bytes_total`.
    pub bytes_done: u32,
    pub bytes_total: u32,
    /// Blocks written, of `blocks_total`.
    pub blocks_done: u32,
    pub blocks_total: u32,
    /// Bytes per second since the download started.
    pub rate: u32,
    pub stats: Stats,
}

/// Why a handler kept the state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stay {
    /// The message does not parse.
    BadMessage(ParseError),
    /// No job is pending.
    NoJob,
    /// A notification or block already acted on.
    Duplicate,
    /// A block, error or reply of an earlier request.
    Stale,
    /// A `RequestTimer` of an earlier arming.
    StaleTimer,
    /// Nothing for this handler to do in the agent's situation.
    Nothing,
    /// A publish or download start was not handed over; the timer tries again.
    NotSent,
    /// The job cannot go on; `FailJob` was posted.
    JobFailed,
    /// An update was rejected with this code: a confirmed one is sent again on the timer, a
    /// progress update is dropped.
    Rejected(ErrorCode),
    /// The execution's version is being read again (`VersionMismatch`).
    ReadingVersion,
    /// The job's image was installed before a restart: its self-test follows.
    Installed,
}

/// What [`Agent::handle`] did with an event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// No row for the event in this state.
    Dropped,
    /// The handler kept the state.
    Stayed(Stay),
    /// The handler succeeded and the agent moved to the row's next state.
    Moved(State),
}

/// The bitmap of received blocks.
#[derive(Debug, Clone)]
struct Blocks {
    bits: [u32; (MAX_BLOCKS / 32) as usize],
    count: u32,
    done: u32,
}

impl Blocks {
    fn new(count: u32) -> Self {
        Blocks {
            bits: [0; (MAX_BLOCKS / 32) as usize],
            count,
            done: 0,
        }
    }

    fn has(&self, index: u32) -> bool {
        self.bits[(index / 32) as usize] & (1 << (index % 32)) != 0
    }

    fn set(&mut self, index: u32) {
        self.bits[(index / 32) as usize] |= 1 << (index % 32);
        self.done += 1;
    }

    fn first_missing(&self) -> Option<u32> {
        (0..self.count).find(|&index| !self.has(index))
    }

    fn complete(&self) -> bool {
        self.done == self.count
    }

    /// Marks every block the first `bytes` of a file of `size` bytes hold whole.
    fn set_prefix(&mut self, bytes: u32, size: u32, block_size: u32) -> u32 {
        let whole = if bytes >= size {
            self.count
        } else {
            bytes / block_size
        };
        for index in 0..whole.min(self.count) {
            if !self.has(index) {
                self.set(index);
            }
        }
        whole.saturating_mul(block_size).min(size)
    }
}

/// Where the job is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    /// Its file is being created or downloaded.
    Downloading,
    /// Its file checked out and is staged; `self_test: ready` awaits confirmation.
    Closed,
    /// After the reboot, in self-test.
    SelfTest,
    /// Its final status is being reported.
    Finished,
}

/// The job the agent works on.
#[derive(Debug)]
struct Job {
    id: JobId,
    /// `executionNumber` (0 when absent).
    execution: u64,
    /// `expectedVersion` for the next update.
    version: Option<u64>,
    /// The version is being read again after a `VersionMismatch`.
    version_unknown: bool,
    phase: Phase,
    /// `filesize` (0 for a job in self-test).
    size: u32,
    /// `statusDetails.updatedBy` as the execution had it (self-test).
    updated_by: Option<String<UPDATED_BY_MAX>>,
    file_created: bool,
    blocks: Blocks,
    bytes_done: u32,
    /// Bytes a restart kept (found in flash when the file was opened again), not downloaded
    /// since `started_ms`.
    bytes_kept: u32,
    /// The download running, by its tag.
    transfer: Option<u32>,
    retries: u32,
    backoff_ms: u32,
    started_ms: Option<u64>,
    last_progress_ms: u64,
    next_progress_percent: u32,
    version_checked: bool,
}

impl Job {
    fn size(&self) -> u32 {
        self.size
    }
}

/// An update's content.
#[derive(Debug, Clone)]
enum ReportBody {
    /// `IN_PROGRESS`, `receive: "<done>/<total>"` (bytes).
    Progress { done: u32, total: u32 },
    /// `IN_PROGRESS`, `self_test: ready`, `updatedBy: <running version>`.
    SelfTestReady { updated_by: Version },
    /// `SUCCEEDED`, `reason: "accepted <running version>"`, `updatedBy` as it was.
    Succeeded {
        running: Version,
        updated_by: String<UPDATED_BY_MAX>,
    },
    /// `FAILED`, `reason`.
    Failed(Reason),
}

/// What follows the update's acceptance.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Then {
    /// Nothing (a progress update).
    Continue,
    /// Activate the new image.
    Activate,
    /// The job is over: ask for the next.
    NextJob,
    /// The job is over: stay in `Ready`.
    Idle,
}

/// The update awaiting its reply.
#[derive(Debug, Clone)]
struct Report {
    token: ClientToken,
    body: ReportBody,
    then: Then,
    sent_ms: u64,
}

impl Report {
    /// Whether the update must be confirmed (QoS 1, sent again on the timer).
    fn confirmed(&self) -> bool {
        !matches!(self.body, ReportBody::Progress { .. })
    }
}

/// The OTA agent over its ports: `C` publishes, `D` downloads, `P` is the platform layer,
/// `T` the request timer and clock.
pub struct Agent<C, D, P, T> {
    config: Config,
    topics: Topics,
    control: C,
    download: D,
    platform: P,
    timer: T,
    state: State,
    stats: Stats,
    outbox: Deque<Signal, 4>,
    job: Box<Option<Job>>,
    /// The reply that brought the job's document, apart from the job so that the job stays
    /// small.
    held: Box<ExecutionReply>,
    /// Where the next reply is parsed; it trades places with `held` when it brings the job's
    /// document, so that a reply (3.4 KB) is never copied, nor kept on the stack. `None` only
    /// while a handler has it.
    incoming: Option<Box<ExecutionReply>>,
    report: Option<Report>,
    failure: Option<Reason>,
    timer_deadline: Option<u64>,
    next_token: u32,
    next_transfer: u32,
}

impl<C: Control, D: Download, P: Platform, T: Timer> Agent<C, D, P, T> {
    /// An agent in `Init`, for the thing of `topics`.
    pub fn new(
        config: Config,
        topics: Topics,
        control: C,
        download: D,
        platform: P,
        timer: T,
    ) -> Self {
        let config = Config {
            block_size: config.block_size.max(1),
            ..config
        };
        Agent {
            config,
            topics,
            control,
            download,
            platform,
            timer,
            state: State::Init,
            stats: Stats::default(),
            outbox: Deque::new(),
            job: Box::new(None),
            held: Box::new(ExecutionReply::EMPTY),
            incoming: Some(Box::new(ExecutionReply::EMPTY)),
            report: None,
            failure: None,
            timer_deadline: None,
            next_token: 1,
            next_transfer: 1,
        }
    }

    /// The current state.
    pub fn state(&self) -> State {
        self.state
    }

    /// The counters.
    pub fn stats(&self) -> Stats {
        self.stats
    }

    /// The control port.
    pub fn control(&mut self) -> &mut C {
        &mut self.control
    }

    /// The download port.
    pub fn download(&mut self) -> &mut D {
        &mut self.download
    }

    /// The platform port.
    pub fn platform(&mut self) -> &mut P {
        &mut self.platform
    }

    /// The timer port.
    pub fn timer(&mut self) -> &mut T {
        &mut self.timer
    }

    /// A follow-up event a handler caused, to be handled before the next queued event.
    pub fn take_signal(&mut self) -> Option<Signal> {
        self.outbox.pop_front()
    }

    /// The snapshot the shell shows.
    pub fn status(&self) -> Status {
        let job = self.job.as_ref().as_ref();
        let bytes_done = job.map_or(0, |job| job.bytes_done);
        let rate = job.and_then(|job| job.started_ms).map_or(0, |started| {
            let elapsed = self.timer.now_ms().saturating_sub(started).max(1);
            let fetched = job.map_or(0, |job| bytes_done.saturating_sub(job.bytes_kept));
            u32::try_from(u64::from(fetched) * 1000 / elapsed).unwrap_or(u32::MAX)
        });
        Status {
            state: self.state,
            job_id: job.map(|job| job.id.clone()),
            bytes_done,
            bytes_total: job.map_or(0, Job::size),
            blocks_done: job.map_or(0, |job| job.blocks.done),
            blocks_total: job.map_or(0, |job| job.blocks.count),
            rate,
            stats: self.stats,
        }
    }

    /// Handles one event: looks up the row for the state and the event's kind, runs its
    /// handler and, if it succeeds, moves to the row's next state. The event (and its buffer)
    /// is dropped on return.
    pub fn handle<B: AsRef<[u8]>>(&mut self, event: Event<B>) -> Outcome {
        self.stats.received += 1;
        let kind = event.kind();
        let Some(row) = table::lookup(self.state, kind) else {
            self.stats.dropped += 1;
            log::warn!(target: "ota", "{:?}: no row for {kind:?}, dropped", self.state);
            return Outcome::Dropped;
        };
        self.stats.processed += 1;
        match self.run(row.handler, &event) {
            Ok(()) => {
                if row.next != self.state {
                    log::info!(target: "ota", "{:?} -> {:?} ({kind:?})", self.state, row.next);
                }
                self.state = row.next;
                Outcome::Moved(row.next)
            }
            Err(stay) => {
                log::debug!(target: "ota", "{:?} stays on {kind:?}: {stay:?}", self.state);
                Outcome::Stayed(stay)
            }
        }
    }

    fn run<B: AsRef<[u8]>>(&mut self, handler: Handler, event: &Event<B>) -> Result<(), Stay> {
        match (handler, event) {
            (Handler::Start, _) => self.start(),
            (Handler::RequestJob, _) => self.request_job(event),
            (Handler::ProcessJob, Event::ReceivedJobDocument(payload)) => {
                self.process_job(payload.as_ref())
            }
            (Handler::SelfTest, _) => self.self_test(),
            (Handler::InitFile, _) => self.init_file(),
            (Handler::RequestData, _) => self.request_data(event),
            (
                Handler::ProcessBlock,
                Event::ReceivedFileBlock {
                    transfer,
                    offset,
                    data,
                },
            ) => self.process_block(*transfer, *offset, data.as_ref()),
            (Handler::BlockTimeout, _) => self.block_timeout(),
            (Handler::DownloadInterrupted, Event::DownloadError { transfer, .. }) => {
                self.download_interrupted(*transfer)
            }
            (Handler::RefreshUrl, Event::DownloadError { transfer, .. }) => {
                self.refresh_url(*transfer)
            }
            (Handler::DownloadFailed, Event::DownloadError { transfer, error }) => {
                self.download_failed(*transfer, error)
            }
            (Handler::JobNotification, Event::ReceivedJobDocument(payload)) => {
                self.job_notification(payload.as_ref())
            }
            (Handler::CloseFile, _) => self.close_file(),
            (Handler::Activate, Event::UpdateAccepted(payload)) => self.activate(payload.as_ref()),
            (Handler::UpdateAccepted, Event::UpdateAccepted(payload)) => {
                self.update_accepted(payload.as_ref())
            }
            (Handler::UpdateRejected, Event::UpdateRejected(payload)) => {
                self.update_rejected(payload.as_ref())
            }
            (Handler::RequestRejected, Event::JobRequestRejected(payload)) => {
                self.request_rejected(payload.as_ref())
            }
            (Handler::ResendReport, _) => self.resend_report(),
            (Handler::FailJob, _) => self.fail_job(),
            (Handler::Suspend, _) => self.suspend(),
            (Handler::Resume, _) => self.resume(),
            (Handler::UserAbort, _) => self.user_abort(),
            (Handler::Shutdown, _) => self.shutdown(),
            // The table pairs each of these handlers only with the event kinds matched above.
            _ => Err(Stay::Nothing),
        }
    }

    // Helpers.

    fn post(&mut self, signal: Signal) {
        if self.outbox.push_back(signal).is_err() {
            log::error!(target: "ota", "outbox full, {signal:?} lost");
            return;
        }
        self.stats.queued += 1;
    }

    fn arm(&mut self, ms: u32) {
        self.timer.start(ms);
        self.timer_deadline = Some(self.timer.now_ms() + u64::from(ms));
    }

    fn disarm(&mut self) {
        self.timer.stop();
        self.timer_deadline = None;
    }

    /// Whether a `RequestTimer` is the one the agent armed last (and takes it).
    fn timer_due(&mut self) -> bool {
        match self.timer_deadline {
            Some(deadline) if self.timer.now_ms() + TIMER_SLACK_MS >= deadline => {
                self.timer_deadline = None;
                true
            }
            _ => false,
        }
    }

    fn new_token(&mut self) -> ClientToken {
        let mut token = ClientToken::new();
        // At most 8 + 1 + 10 characters.
        let _ = write!(
            token,
            "{:08x}-{}",
            self.config.token_prefix, self.next_token
        );
        self.next_token = self.next_token.wrapping_add(1);
        token
    }

    fn publish(&mut self, topic: &str, payload: &[u8], qos: Qos) -> Result<(), Stay> {
        self.control.publish(topic, payload, qos).map_err(|_| {
            log::warn!(target: "ota", "publish to {topic} not sent");
            Stay::NotSent
        })
    }

    /// `start-next`: takes the next pending job.
    fn send_start_next(&mut self) -> Result<(), Stay> {
        let token = self.new_token();
        let mut buf = [0u8; 128];
        let len = jobs::start_next_request(&mut buf, &token, &StatusDetails::new())
            .map_err(|_| Stay::NotSent)?;
        let topic = self.topics.start_next();
        self.publish(&topic, &buf[..len], Qos::AtLeastOnce)
    }

    /// `$next/get`: reads the next pending execution (the current job's, while it runs),
    /// with its document and a fresh URL.
    fn send_describe(&mut self) -> Result<(), Stay> {
        let token = self.new_token();
        let mut buf = [0u8; 128];
        let len = jobs::describe_request(&mut buf, &token).map_err(|_| Stay::NotSent)?;
        let topic = self.topics.next_get();
        self.publish(&topic, &buf[..len], Qos::AtLeastOnce)
    }

    /// Publishes the outstanding update; a confirmed one arms the timer to send it again.
    fn send_report(&mut self) -> Result<(), Stay> {
        let now = self.timer.now_ms();
        let (Some(report), Some(job)) = (self.report.as_mut(), self.job.as_ref().as_ref()) else {
            return Err(Stay::Nothing);
        };
        report.sent_ms = now;
        let confirmed = report.confirmed();
        let topic = self.topics.update(&job.id);
        let mut buf = [0u8; PAYLOAD_MAX];
        let len = encode_report(&mut buf, report, job.version).map_err(|_| Stay::NotSent)?;
        let qos = if confirmed {
            self.arm(self.config.request_wait_ms);
            Qos::AtLeastOnce
        } else {
            Qos::AtMostOnce
        };
        self.publish(&topic, &buf[..len], qos)
    }

    /// Makes `body` the outstanding update and publishes it.
    fn start_report(&mut self, body: ReportBody, then: Then) {
        let token = self.new_token();
        self.report = Some(Report {
            token,
            body,
            then,
            sent_ms: 0,
        });
        // A report not handed over is sent again on the timer (confirmed ones) or replaced
        // by the next (progress).
        let _ = self.send_report();
    }

    fn stop_download(&mut self) {
        if let Some(job) = self.job.as_mut() {
            if job.transfer.take().is_some() {
                self.download.stop();
            }
        }
    }

    fn abort_file(&mut self) {
        let Some(job) = self.job.as_mut() else {
            return;
        };
        if !job.file_created {
            return;
        }
        job.file_created = false;
        if let Err(reason) = self.platform.abort() {
            log::error!(target: "ota", "abort: {reason}");
        }
    }

    /// Gives the file up for `reason`, keeping the reason with it until the `FAILED` update
    /// is accepted (then [`Agent::abort_file`] erases it).
    fn fail_file(&mut self, reason: &Reason) {
        if !self
            .job
            .as_ref()
            .as_ref()
            .is_some_and(|job| job.file_created)
        {
            return;
        }
        if let Err(error) = self.platform.fail_file(reason) {
            log::error!(target: "ota", "giving the file up: {error}");
        }
    }

    /// Forgets the current job and its update.
    fn clear_job(&mut self) {
        *self.job = None;
        self.held.execution = None;
        self.report = None;
    }

    /// Ends the current job without reporting: stops the download, erases the file.
    fn drop_job(&mut self) {
        self.stop_download();
        self.abort_file();
        self.clear_job();
    }

    /// Ends the current job as `FAILED` with `reason`: stops the download, erases the file,
    /// reports, and asks for the next job once the report is accepted.
    fn fail_current_job(&mut self, reason: Reason) {
        log::warn!(target: "ota", "job failed: {reason}");
        self.stop_download();
        self.fail_file(&reason);
        if let Some(job) = self.job.as_mut() {
            job.phase = Phase::Finished;
        }
        self.start_report(ReportBody::Failed(reason), Then::NextJob);
    }

    /// Keeps `reason` for `FailJob` and posts it.
    fn fail_later(&mut self, reason: Reason) -> Stay {
        self.stop_download();
        self.failure = Some(reason);
        self.post(Signal::FailJob);
        Stay::JobFailed
    }

    /// Checks a document against what this firmware can do.
    fn check_document(&self, document: &Result<OtaDocument, ParseError>) -> Result<(), Reason> {
        let doc = document
            .as_ref()
            .map_err(|e| Reason::with(ReasonCode::DocParse, format_args!("{e}")))?;
        if !doc.protocols.http {
            return Err(Reason::with(
                ReasonCode::Protocol,
                format_args!("HTTP not offered"),
            ));
        }
        if doc.file.url.is_none() {
            return Err(Reason::with(
                ReasonCode::DocParse,
                format_args!("no update_data_url"),
            ));
        }
        let size = doc.file.size;
        if size == 0 {
            return Err(Reason::with(
                ReasonCode::DocParse,
                format_args!("filesize is 0"),
            ));
        }
        let capacity = self.platform.capacity();
        if size > capacity {
            return Err(Reason::with(
                ReasonCode::Oversize,
                format_args!("{size} bytes, partition holds {capacity}"),
            ));
        }
        if size.div_ceil(self.config.block_size) > MAX_BLOCKS {
            return Err(Reason::with(
                ReasonCode::Oversize,
                format_args!("{size} bytes is over {MAX_BLOCKS} blocks"),
            ));
        }
        match &doc.file.signature {
            None if !self.config.allow_unsigned => Err(Reason::with(
                ReasonCode::Unsigned,
                format_args!("no sig-sha256-ecdsa"),
            )),
            None => Ok(()),
            Some(signature) => base64::decode_to::<{ SIGNATURE_MAX * 3 / 4 }>(signature)
                .map(|_| ())
                .map_err(|_| {
                    Reason::with(
                        ReasonCode::DocParse,
                        format_args!("sig-sha256-ecdsa is not base64"),
                    )
                }),
        }
    }

    /// Takes `execution` as the job to work on; its reply becomes the held one.
    fn take_job(&mut self, reply: &mut Box<ExecutionReply>) {
        core::mem::swap(reply, &mut self.held);
        let Some(execution) = self.held.execution.as_ref() else {
            return;
        };
        let phase = if execution.status == Some(jobs::JobStatus::InProgress)
            && execution.status_details.self_test.is_some()
        {
            Phase::SelfTest
        } else {
            Phase::Downloading
        };
        let size = execution.document.as_ref().map_or(0, |doc| doc.file.size);
        log::info!(target: "ota", "job {} ({:?})", execution.job_id, phase);
        *self.job = Some(Job {
            id: execution.job_id.clone(),
            execution: execution.execution_number.unwrap_or(0),
            version: execution.version_number,
            version_unknown: false,
            phase,
            size,
            updated_by: execution.status_details.updated_by.clone(),
            file_created: false,
            blocks: Blocks::new(size.div_ceil(self.config.block_size).min(MAX_BLOCKS)),
            bytes_done: 0,
            bytes_kept: 0,
            transfer: None,
            retries: 0,
            backoff_ms: self.config.retry_backoff_ms,
            started_ms: None,
            last_progress_ms: 0,
            next_progress_percent: 0,
            version_checked: false,
        });
    }

    /// What the agent makes of a document or notification while it holds a job: `Ok(true)`
    /// when the reply is about the held job (handled here), `Ok(false)` when the agent holds
    /// no job (any more: one that is gone was dropped).
    fn about_held_job(&mut self, reply: &ExecutionReply) -> Result<bool, Stay> {
        let Some(job) = self.job.as_mut() else {
            return Ok(false);
        };
        let ours = reply.execution.as_ref().filter(|execution| {
            execution.job_id == job.id && !execution.status.is_some_and(|s| s.is_terminal())
        });
        let Some(execution) = ours else {
            log::info!(target: "ota", "job {} is no longer pending", job.id);
            return Ok(false);
        };
        if job.version_unknown {
            job.version = execution.version_number;
            job.version_unknown = false;
            if self.report.as_ref().is_some_and(Report::confirmed) {
                return self.send_report().and(Ok(true));
            }
        } else if let (Some(seen), Some(new)) = (job.version, execution.version_number) {
            job.version = Some(seen.max(new));
        }
        Ok(true)
    }

    // Handlers, in the table's order.

    fn start(&mut self) -> Result<(), Stay> {
        self.failure = None;
        match self.report.as_mut() {
            // The FAILED update of an aborted job goes out before the next job is asked for.
            Some(report) if report.confirmed() => report.then = Then::NextJob,
            _ => self.clear_job(),
        }
        self.post(Signal::RequestJobDocument);
        Ok(())
    }

    fn request_job<B>(&mut self, event: &Event<B>) -> Result<(), Stay> {
        if matches!(event, Event::RequestTimer) && !self.timer_due() {
            return Err(Stay::StaleTimer);
        }
        self.arm(self.config.request_wait_ms);
        let job = self.job.as_ref().as_ref();
        if job.is_some_and(|job| job.version_unknown) {
            return self.send_describe();
        }
        if self.report.as_ref().is_some_and(Report::confirmed) {
            return self.send_report();
        }
        match job {
            Some(job) if job.phase == Phase::Downloading => self.send_describe(),
            _ => self.send_start_next(),
        }
    }

    /// Parses `payload` into the agent's reply buffer and hands it to `handle`.
    fn with_reply(
        &mut self,
        payload: &[u8],
        handle: impl FnOnce(&mut Self, &mut Box<ExecutionReply>) -> Result<(), Stay>,
    ) -> Result<(), Stay> {
        let mut reply = self.incoming.take().ok_or(Stay::Nothing)?;
        let outcome = match parse_reply(payload, &mut reply) {
            Ok(()) => handle(self, &mut reply),
            Err(error) => Err(Stay::BadMessage(error)),
        };
        self.incoming = Some(reply);
        outcome
    }

    /// Keeps `reply` in place of the held one when it brings a valid document for the same
    /// file (a fresh URL), so that the file and the blocks in it are kept.
    fn refresh_document(&mut self, reply: &mut Box<ExecutionReply>) {
        let size = self.job.as_ref().as_ref().map(|job| job.size());
        let fresh = reply
            .execution
            .as_ref()
            .and_then(|execution| execution.document.as_ref().ok())
            .is_some_and(|doc| Some(doc.file.size) == size);
        if fresh {
            core::mem::swap(reply, &mut self.held);
        }
    }

    fn process_job(&mut self, payload: &[u8]) -> Result<(), Stay> {
        self.with_reply(payload, Self::process_job_reply)
    }

    fn process_job_reply(&mut self, reply: &mut Box<ExecutionReply>) -> Result<(), Stay> {
        let parsed: &ExecutionReply = reply;
        if self.about_held_job(parsed)? {
            let job = self.job.as_ref().as_ref().ok_or(Stay::Nothing)?;
            if job.phase != Phase::Downloading {
                return Err(Stay::Duplicate);
            }
            // The current job's document again (a fresh URL after expiry, or after Resume).
            self.refresh_document(reply);
            self.disarm();
            self.post(Signal::CreateFile);
            return Ok(());
        }
        if self.job.is_some() {
            // The held job is over (its final update took effect) or gone (canceled).
            self.drop_job();
        }
        let parsed: &ExecutionReply = reply;
        let Some(execution) = parsed.execution.as_ref() else {
            self.disarm();
            self.platform.forget_file();
            return Err(Stay::NoJob);
        };
        if execution.status.is_some_and(|status| status.is_terminal()) {
            self.platform.forget_file();
            return Err(Stay::NoJob);
        }
        self.disarm();
        let check = self.check_document(&execution.document);
        self.take_job(reply);
        let self_test = self
            .job
            .as_ref()
            .as_ref()
            .is_some_and(|job| job.phase == Phase::SelfTest);
        if self_test {
            self.post(Signal::StartSelfTest);
            return Ok(());
        }
        match check {
            Ok(()) => {
                self.post(Signal::CreateFile);
                Ok(())
            }
            Err(reason) => Err(self.fail_later(reason)),
        }
    }

    fn self_test(&mut self) -> Result<(), Stay> {
        let job = self.job.as_mut().as_mut().ok_or(Stay::Nothing)?;
        if job.phase != Phase::SelfTest {
            return Err(Stay::Nothing);
        }
        job.phase = Phase::Finished;
        let updated_by = job.updated_by.clone();
        let running = self.platform.running_version();
        let verdict = match (&updated_by, self.platform.rolled_back()) {
            (_, Some(rolled_back)) => Err(Reason::with(
                ReasonCode::SelfTest,
                format_args!(
                    "rolled back: {rolled_back} did not become the running image, {running} runs"
                ),
            )),
            (None, None) => Err(Reason::with(
                ReasonCode::SelfTest,
                format_args!("no updatedBy"),
            )),
            (Some(before), None) => {
                let before_version = Version::new(before).unwrap_or_default();
                let passed = if self.config.allow_downgrade {
                    running.as_str() != before.as_str()
                } else {
                    running.is_newer_than(&before_version)
                };
                if passed {
                    Ok(before.clone())
                } else {
                    Err(Reason::with(
                        ReasonCode::SelfTest,
                        format_args!("running {running} is not newer than {before}"),
                    ))
                }
            }
        };
        match verdict {
            Ok(updated_by) => {
                log::info!(target: "ota", "self-test passed: {running} replaced {updated_by}");
                self.platform.commit_image();
                self.start_report(
                    ReportBody::Succeeded {
                        running,
                        updated_by,
                    },
                    Then::NextJob,
                );
            }
            Err(reason) => {
                log::warn!(target: "ota", "self-test failed: {reason}");
                self.start_report(ReportBody::Failed(reason), Then::NextJob);
            }
        }
        Ok(())
    }

    fn init_file(&mut self) -> Result<(), Stay> {
        let block_size = self.config.block_size;
        let job = self.job.as_mut().as_mut().ok_or(Stay::Nothing)?;
        if job.phase != Phase::Downloading {
            return Err(Stay::Nothing);
        }
        if !job.file_created {
            let size = job.size();
            let key = FileKey {
                job_id: job.id.as_str(),
                execution: job.execution,
                size,
            };
            // A download a restart stopped goes on where the flash says it stopped; one that
            // failed is reported again.
            let kept = match self.platform.resume_file(&key) {
                Kept::Failed(reason) => {
                    job.file_created = true;
                    log::info!(target: "ota", "job {} failed before the restart", job.id);
                    return Err(self.fail_later(reason));
                }
                Kept::Installed(replaced) => {
                    log::info!(
                        target: "ota",
                        "job {}: its image was staged before the restart and runs now, replacing {replaced}",
                        job.id
                    );
                    job.phase = Phase::SelfTest;
                    job.updated_by = String::try_from(replaced.as_str()).ok();
                    self.post(Signal::StartSelfTest);
                    return Err(Stay::Installed);
                }
                Kept::Prefix(kept) => Some(kept),
                Kept::Nothing => None,
            };
            if let Some(kept) = kept {
                job.file_created = true;
                job.bytes_kept = job.blocks.set_prefix(kept, size, block_size);
                job.bytes_done = job.bytes_kept;
                log::info!(
                    target: "ota",
                    "job {}: resuming the download at {} of {size} bytes",
                    job.id,
                    job.bytes_done
                );
                if job.bytes_done > 0 {
                    if let Err(reason) = self.check_file_version() {
                        return Err(self.fail_later(reason));
                    }
                }
            } else {
                if let Err(reason) = self.platform.create_file(&key) {
                    return Err(self.fail_later(reason));
                }
                if let Some(job) = self.job.as_mut() {
                    job.file_created = true;
                }
            }
        }
        self.post(Signal::RequestFileBlock);
        Ok(())
    }

    fn request_data<B>(&mut self, event: &Event<B>) -> Result<(), Stay> {
        if matches!(event, Event::RequestTimer) && !self.timer_due() {
            return Err(Stay::StaleTimer);
        }
        let transfer = self.next_transfer;
        let now = self.timer.now_ms();
        let block_size = self.config.block_size;
        let job = self.job.as_mut().as_mut().ok_or(Stay::Nothing)?;
        if job.phase != Phase::Downloading || !job.file_created {
            return Err(Stay::Nothing);
        }
        let Some(block) = job.blocks.first_missing() else {
            self.post(Signal::CloseFile);
            return Ok(());
        };
        let doc = held_document(&self.held).ok_or(Stay::Nothing)?;
        let request = FileRequest {
            transfer,
            url: doc.file.url.as_deref().unwrap_or_default(),
            file_id: doc.file.id,
            offset: block * block_size,
            size: doc.file.size,
            block_size,
        };
        if self.download.start(&request).is_err() {
            let backoff = job.backoff_ms;
            self.arm(backoff);
            return Err(Stay::NotSent);
        }
        log::info!(target: "ota", "download from offset {}", request.offset);
        job.transfer = Some(transfer);
        job.started_ms.get_or_insert(now);
        self.next_transfer = self.next_transfer.wrapping_add(1);
        self.arm(self.config.block_wait_ms);
        Ok(())
    }

    fn process_block(&mut self, transfer: u32, offset: u32, data: &[u8]) -> Result<(), Stay> {
        let block_size = self.config.block_size;
        let job = self.job.as_mut().as_mut().ok_or(Stay::Stale)?;
        if job.phase != Phase::Downloading || job.transfer != Some(transfer) {
            return Err(Stay::Stale);
        }
        let size = job.size();
        let len = u32::try_from(data.len()).unwrap_or(u32::MAX);
        let end = offset.saturating_add(len);
        if end > size {
            let reason = Reason::with(
                ReasonCode::Download,
                format_args!("more bytes than filesize: {len} at {offset} of {size}"),
            );
            return Err(self.fail_later(reason));
        }
        if len == 0 || !offset.is_multiple_of(block_size) || (len != block_size && end != size) {
            let reason = Reason::with(
                ReasonCode::Download,
                format_args!("bad block: {len} bytes at {offset}"),
            );
            return Err(self.fail_later(reason));
        }
        let index = offset / block_size;
        if job.blocks.has(index) {
            return Err(Stay::Duplicate);
        }
        if let Err(reason) = self.platform.write_block(offset, data) {
            return Err(self.fail_later(reason));
        }
        let job = self.job.as_mut().as_mut().ok_or(Stay::Stale)?;
        job.blocks.set(index);
        job.bytes_done += len;
        job.retries = 0;
        job.backoff_ms = self.config.retry_backoff_ms;
        let complete = job.blocks.complete();
        let version_checked = job.version_checked;
        self.arm(self.config.block_wait_ms);
        if !version_checked {
            if let Err(reason) = self.check_file_version() {
                return Err(self.fail_later(reason));
            }
        }
        if complete {
            log::info!(target: "ota", "file complete ({size} bytes)");
            self.stop_download();
            self.disarm();
            self.post(Signal::CloseFile);
        } else {
            self.progress();
        }
        Ok(())
    }

    /// Once the header is in: refuses an image that is not newer than the running one.
    fn check_file_version(&mut self) -> Result<(), Reason> {
        let Some(version) = self.platform.file_version()? else {
            return Ok(());
        };
        if let Some(job) = self.job.as_mut() {
            job.version_checked = true;
        }
        let running = self.platform.running_version();
        log::info!(target: "ota", "image {version}, running {running}");
        if self.config.allow_downgrade || version.is_newer_than(&running) {
            return Ok(());
        }
        Err(Reason::with(
            ReasonCode::VersionNotNewer,
            format_args!("{version} is not newer than {running}"),
        ))
    }

    /// Sends a progress update when one is due: another step of percent is in, or the
    /// interval passed; never while another update awaits its reply.
    fn progress(&mut self) {
        let now = self.timer.now_ms();
        let wait = u64::from(self.config.request_wait_ms);
        if let Some(report) = &self.report {
            if report.confirmed() || now.saturating_sub(report.sent_ms) < wait {
                return;
            }
            // The progress update's reply did not come: it is taken as lost.
            self.report = None;
        }
        let step = self.config.progress_step_percent.max(1);
        let interval = u64::from(self.config.progress_interval_ms);
        let Some(job) = self.job.as_mut() else {
            return;
        };
        let total = job.size();
        let percent =
            u32::try_from(u64::from(job.bytes_done) * 100 / u64::from(total.max(1))).unwrap_or(100);
        let due = percent >= job.next_progress_percent
            || now.saturating_sub(job.last_progress_ms) >= interval;
        if !due {
            return;
        }
        job.last_progress_ms = now;
        job.next_progress_percent = (percent / step + 1) * step;
        let done = job.bytes_done;
        self.start_report(ReportBody::Progress { done, total }, Then::Continue);
    }

    /// Counts a restart without a new block; after too many, the job fails.
    fn retry_later(&mut self, why: fmt::Arguments<'_>) -> Result<(), Stay> {
        let max = self.config.max_download_retries;
        let backoff_max = self.config.retry_backoff_max_ms;
        let job = self.job.as_mut().as_mut().ok_or(Stay::Nothing)?;
        job.retries += 1;
        if job.retries > max {
            let reason = Reason::with(
                ReasonCode::Download,
                format_args!("{max} retries used up ({why})"),
            );
            return Err(self.fail_later(reason));
        }
        let backoff = job.backoff_ms;
        job.backoff_ms = backoff.saturating_mul(2).min(backoff_max);
        log::warn!(target: "ota", "download: {why}; retry {} in {backoff} ms", job.retries);
        self.arm(backoff);
        Ok(())
    }

    fn block_timeout(&mut self) -> Result<(), Stay> {
        if !self.timer_due() {
            return Err(Stay::StaleTimer);
        }
        self.stop_download();
        let wait = self.config.block_wait_ms;
        self.retry_later(format_args!("no data for {wait} ms"))
    }

    /// Whether `transfer` is the download running.
    fn current_transfer(&self, transfer: u32) -> bool {
        self.job
            .as_ref()
            .as_ref()
            .is_some_and(|job| job.transfer == Some(transfer))
    }

    fn download_interrupted(&mut self, transfer: u32) -> Result<(), Stay> {
        if !self.current_transfer(transfer) {
            return Err(Stay::Stale);
        }
        self.stop_download();
        self.retry_later(format_args!("{}", DownloadError::Interrupted))
    }

    fn refresh_url(&mut self, transfer: u32) -> Result<(), Stay> {
        if !self.current_transfer(transfer) {
            return Err(Stay::Stale);
        }
        self.stop_download();
        let max = self.config.max_download_retries;
        let job = self.job.as_mut().as_mut().ok_or(Stay::Nothing)?;
        job.retries += 1;
        if job.retries > max {
            let reason = Reason::with(
                ReasonCode::Download,
                format_args!("URL expired {} times without progress", job.retries),
            );
            return Err(self.fail_later(reason));
        }
        let done = job.bytes_done;
        log::info!(target: "ota", "URL expired at {done} bytes: asking for the document");
        self.arm(self.config.request_wait_ms);
        // If it is not handed over now, the timer sends it again from WaitingForJob.
        let _ = self.send_describe();
        Ok(())
    }

    fn download_failed(&mut self, transfer: u32, error: &DownloadError) -> Result<(), Stay> {
        if !self.current_transfer(transfer) {
            return Err(Stay::Stale);
        }
        self.fail_current_job(Reason::with(ReasonCode::Download, format_args!("{error}")));
        Ok(())
    }

    fn job_notification(&mut self, payload: &[u8]) -> Result<(), Stay> {
        self.with_reply(payload, Self::job_notification_reply)
    }

    fn job_notification_reply(&mut self, reply: &mut Box<ExecutionReply>) -> Result<(), Stay> {
        let parsed: &ExecutionReply = reply;
        if self.about_held_job(parsed)? {
            if self
                .job
                .as_ref()
                .as_ref()
                .is_some_and(|job| job.phase == Phase::Downloading)
            {
                self.refresh_document(reply);
            }
            return Err(Stay::Duplicate);
        }
        if self.job.is_none() {
            return Err(Stay::Nothing);
        }
        let then = self.report.as_ref().map_or(Then::Continue, |r| r.then);
        self.disarm();
        self.drop_job();
        if then != Then::Idle {
            self.post(Signal::RequestJobDocument);
        }
        Ok(())
    }

    fn close_file(&mut self) -> Result<(), Stay> {
        let job = self.job.as_mut().as_mut().ok_or(Stay::Nothing)?;
        if job.phase != Phase::Downloading || !job.blocks.complete() {
            return Err(Stay::Nothing);
        }
        let signature = held_document(&self.held)
            .and_then(|doc| doc.file.signature.as_ref())
            .map(|text| base64::decode_to::<{ SIGNATURE_MAX * 3 / 4 }>(text))
            .transpose();
        let signature = match signature {
            Ok(signature) => signature.unwrap_or_default(),
            Err(_) => {
                let reason = Reason::with(
                    ReasonCode::DocParse,
                    format_args!("sig-sha256-ecdsa is not base64"),
                );
                return Err(self.fail_later(reason));
            }
        };
        if let Err(reason) = self.platform.close_file(&signature) {
            return Err(self.fail_later(reason));
        }
        if let Some(job) = self.job.as_mut() {
            job.phase = Phase::Closed;
        }
        let running = self.platform.running_version();
        log::info!(target: "ota", "file verified; reporting self_test ready");
        self.start_report(
            ReportBody::SelfTestReady {
                updated_by: running,
            },
            Then::Activate,
        );
        Ok(())
    }

    /// The reply's `clientToken` if it answers the outstanding update.
    fn answers_report(&self, token: Option<&ClientToken>) -> bool {
        matches!((&self.report, token), (Some(report), Some(token)) if report.token == *token)
    }

    fn activate(&mut self, payload: &[u8]) -> Result<(), Stay> {
        let accepted = UpdateAccepted::parse(payload).map_err(Stay::BadMessage)?;
        if !self.answers_report(accepted.client_token.as_ref())
            || self
                .report
                .as_ref()
                .is_some_and(|r| r.then != Then::Activate)
        {
            return Err(Stay::Stale);
        }
        self.report = None;
        log::info!(target: "ota", "self_test ready accepted: activating");
        match self.platform.activate() {
            Ok(()) => Ok(()),
            Err(reason) => Err(self.fail_later(reason)),
        }
    }

    fn update_accepted(&mut self, payload: &[u8]) -> Result<(), Stay> {
        let accepted = UpdateAccepted::parse(payload).map_err(Stay::BadMessage)?;
        if !self.answers_report(accepted.client_token.as_ref()) {
            return Err(Stay::Stale);
        }
        let report = self.report.take();
        let then = report.as_ref().map_or(Then::Continue, |r| r.then);
        match report.map(|r| r.body) {
            Some(ReportBody::Succeeded { .. }) => self.platform.confirm_image(true),
            Some(ReportBody::Failed(reason)) => {
                if reason.code() == ReasonCode::SelfTest {
                    self.platform.confirm_image(false);
                }
                // The cloud has the verdict: nothing of the file needs keeping.
                self.abort_file();
            }
            _ => {}
        }
        if let Some(job) = self.job.as_mut() {
            let known = accepted
                .execution_state
                .and_then(|state| state.version_number);
            job.version = known.or(job.version.map(|v| v + 1));
        }
        match then {
            Then::Continue | Then::Activate => {}
            Then::NextJob => {
                self.disarm();
                self.clear_job();
                self.post(Signal::RequestJobDocument);
            }
            Then::Idle => {
                self.disarm();
                self.clear_job();
            }
        }
        Ok(())
    }

    fn update_rejected(&mut self, payload: &[u8]) -> Result<(), Stay> {
        let rejection = Rejection::parse(payload).map_err(Stay::BadMessage)?;
        if !self.answers_report(rejection.client_token.as_ref()) {
            return Err(Stay::Stale);
        }
        log::warn!(target: "ota", "update rejected: {:?} {}", rejection.code, rejection.message);
        let then = self.report.as_ref().map_or(Then::Continue, |r| r.then);
        let progress = self.report.as_ref().is_some_and(|r| !r.confirmed());
        if rejection.code == ErrorCode::VersionMismatch {
            if progress {
                self.report = None;
            } else {
                self.arm(self.config.request_wait_ms);
            }
            if let Some(job) = self.job.as_mut() {
                job.version_unknown = true;
            }
            // If it is not handed over now, it is asked again on the timer or after the next
            // update meets the same mismatch.
            let _ = self.send_describe();
            return Err(Stay::ReadingVersion);
        }
        if !rejection.code.means_gone() {
            if progress {
                self.report = None;
            }
            return Err(Stay::Rejected(rejection.code));
        }
        log::info!(target: "ota", "the job is no longer pending");
        self.disarm();
        self.drop_job();
        if then != Then::Idle {
            self.post(Signal::RequestJobDocument);
        }
        Ok(())
    }

    fn request_rejected(&mut self, payload: &[u8]) -> Result<(), Stay> {
        let rejection = Rejection::parse(payload).map_err(Stay::BadMessage)?;
        log::warn!(
            target: "ota",
            "job request rejected: {:?} {}",
            rejection.code,
            rejection.message
        );
        self.arm(self.config.request_wait_ms);
        Ok(())
    }

    fn resend_report(&mut self) -> Result<(), Stay> {
        if !self.timer_due() {
            return Err(Stay::StaleTimer);
        }
        if self
            .job
            .as_ref()
            .as_ref()
            .is_some_and(|job| job.version_unknown)
        {
            self.arm(self.config.request_wait_ms);
            return self.send_describe();
        }
        if !self.report.as_ref().is_some_and(Report::confirmed) {
            return Err(Stay::Nothing);
        }
        self.send_report()
    }

    fn fail_job(&mut self) -> Result<(), Stay> {
        let reason = self.failure.take().ok_or(Stay::Nothing)?;
        if self.job.is_none() {
            return Err(Stay::Nothing);
        }
        self.fail_current_job(reason);
        Ok(())
    }

    fn suspend(&mut self) -> Result<(), Stay> {
        self.stop_download();
        self.disarm();
        Ok(())
    }

    fn resume(&mut self) -> Result<(), Stay> {
        self.post(Signal::RequestJobDocument);
        Ok(())
    }

    fn user_abort(&mut self) -> Result<(), Stay> {
        self.stop_download();
        self.disarm();
        self.failure = None;
        let Some(job) = self.job.as_mut() else {
            return Ok(());
        };
        if job.phase == Phase::Finished {
            // The final update is out already; it is only confirmed, in Ready.
            if let Some(report) = self.report.as_mut() {
                report.then = Then::Idle;
            }
            self.arm(self.config.request_wait_ms);
            return Ok(());
        }
        job.phase = Phase::Finished;
        let reason = Reason::new(ReasonCode::UserAbort);
        self.fail_file(&reason);
        log::warn!(target: "ota", "job aborted by the user");
        self.start_report(ReportBody::Failed(reason), Then::Idle);
        Ok(())
    }

    fn shutdown(&mut self) -> Result<(), Stay> {
        self.disarm();
        self.drop_job();
        self.failure = None;
        Ok(())
    }
}

impl<C, D, P, T> fmt::Debug for Agent<C, D, P, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Agent")
            .field("state", &self.state)
            .field("stats", &self.stats)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
impl<C, D, P, T> Agent<C, D, P, T> {
    /// Puts the agent in `state` without a transition (table tests).
    pub(crate) fn force_state(&mut self, state: State) {
        self.state = state;
    }
}

/// `text`, or `unknown` for an empty text (a `statusDetails` value may not be empty).
fn non_empty(text: &str) -> &str {
    if text.is_empty() {
        "unknown"
    } else {
        text
    }
}

/// Writes the update request for `report` into `buf`.
fn encode_report(
    buf: &mut [u8],
    report: &Report,
    expected_version: Option<u64>,
) -> Result<usize, jobs::EmitError> {
    let mut receive: String<24> = String::new();
    let mut reason: String<REASON_MAX> = String::new();
    let mut details = StatusDetails::new();
    let status = match &report.body {
        ReportBody::Progress { done, total } => {
            let _ = write!(receive, "{done}/{total}");
            details.insert("receive", &receive)?;
            DeviceStatus::InProgress
        }
        ReportBody::SelfTestReady { updated_by } => {
            details.insert("self_test", "ready")?;
            details.insert("updatedBy", non_empty(updated_by.as_str()))?;
            DeviceStatus::InProgress
        }
        ReportBody::Succeeded {
            running,
            updated_by,
        } => {
            let _ = write!(reason, "accepted {running}");
            details.insert("reason", &reason)?;
            details.insert("updatedBy", updated_by)?;
            DeviceStatus::Succeeded
        }
        ReportBody::Failed(why) => {
            reason = why.render();
            details.insert("reason", &reason)?;
            DeviceStatus::Failed
        }
    };
    let request = UpdateRequest {
        status,
        details,
        expected_version,
        client_token: &report.token,
    };
    jobs::update_request(buf, &request)
}

/// The job's document in the held reply.
fn held_document(held: &ExecutionReply) -> Option<&OtaDocument> {
    held.execution.as_ref()?.document.as_ref().ok()
}

/// Parses a reply into `into`, in place, in a frame of its own: the parse's temporaries are
/// gone before the handler that reads the reply runs.
#[inline(never)]
fn parse_reply(payload: &[u8], into: &mut ExecutionReply) -> Result<(), ParseError> {
    into.parse_into(payload)
}
