//! The agent's events: what the firmware posts to its queue, and the kinds the state table is
//! keyed by.
//!
//! The first thirteen are the AWS OTA library's (`OtaEvent_t` in `source/include/ota.h` of
//! `aws/ota-for-aws-iot-embedded-sdk`). The rest are added because this agent acts on what
//! that library ignores or folds into a timer:
//!
//! - [`Event::UpdateAccepted`] / [`Event::UpdateRejected`]: the Jobs API's replies to an
//!   update. The library never reads them; this agent confirms the self-test update before it
//!   activates (so a lost update cannot leave the job hanging after the reboot), tracks
//!   `expectedVersion` with them, resolves `VersionMismatch`, and learns from a rejection
//!   that a job was canceled.
//! - [`Event::JobRequestRejected`]: `start-next`, `$next/get` or `<jobId>/get` refused (e.g.
//!   throttled); the agent asks again later.
//! - [`Event::DownloadError`]: the download task's verdict on an HTTP response or a
//!   connection, with its kind, because each kind is handled differently (resume, refresh
//!   the URL, fail the job).
//! - [`Event::FailJob`]: posted by a handler that found the job cannot go on (a refused
//!   document, a flash error, a bad signature): a state changes only when its handler
//!   succeeds, so the failing handler stays put and this event moves the agent on to report
//!   `FAILED`.

use crate::jobs::{JobsTopic, Reply};
use core::fmt;
use heapless::String;

/// The longest S3 error code kept (e.g. `SignatureDoesNotMatch`).
pub const S3_CODE_MAX: usize = 32;

/// An S3 error code from a 403 response's XML body.
pub type S3Code = String<S3_CODE_MAX>;

/// What went wrong with a download, as the download task saw it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DownloadError {
    /// The connection dropped, timed out or could not be made, or the server answered 5xx:
    /// the agent resumes from the first block it does not have, after a back-off.
    Interrupted,
    /// S3 answered 403 `AccessDenied` "Request has expired": the presigned URL expired. The
    /// agent asks for the job document again (which brings a fresh URL) and resumes from the
    /// same offset.
    UrlExpired,
    /// Any other 403, with its S3 code (e.g. `SignatureDoesNotMatch`): the job fails.
    Forbidden(S3Code),
    /// Another status that is not 206 Partial Content (e.g. 404): the job fails.
    Status(u16),
    /// 200 OK to a Range request: the whole file instead of the range asked for.
    NotPartial,
    /// A `Content-Range` that does not match the request.
    BadContentRange,
    /// More bytes than `filesize`.
    TooLong,
    /// The URL cannot be fetched (unsupported scheme, bad host or port).
    BadUrl,
}

impl fmt::Display for DownloadError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DownloadError::Interrupted => f.write_str("connection interrupted"),
            DownloadError::UrlExpired => f.write_str("403 AccessDenied: Request has expired"),
            DownloadError::Forbidden(code) => write!(f, "403 {code}"),
            DownloadError::Status(status) => write!(f, "HTTP {status}"),
            DownloadError::NotPartial => f.write_str("200 to a Range request"),
            DownloadError::BadContentRange => f.write_str("wrong Content-Range"),
            DownloadError::TooLong => f.write_str("more bytes than filesize"),
            DownloadError::BadUrl => f.write_str("URL cannot be fetched"),
        }
    }
}

/// An event for the agent. `B` is an owned buffer from the firmware's pool (an MQTT payload or
/// a file block); the agent drops it when the event is handled, which returns it.
#[derive(Debug)]
pub enum Event<B> {
    /// Start looking for jobs (the `aws_ota` command).
    Start,
    /// The job is in self-test (posted by the agent when the execution says so).
    StartSelfTest,
    /// Ask the Jobs API for the next job (or the current job's document again).
    RequestJobDocument,
    /// The payload of `start-next/accepted`, `$next/get/accepted`, `<jobId>/get/accepted`
    /// or `notify-next`.
    ReceivedJobDocument(B),
    /// Prepare the file for the job's download (posted by the agent).
    CreateFile,
    /// Start (or resume) the download (posted by the agent).
    RequestFileBlock,
    /// A block of the file: `data` goes at `offset`; `transfer` is the request's tag.
    ReceivedFileBlock { transfer: u32, offset: u32, data: B },
    /// The request timer fired.
    RequestTimer,
    /// The file is complete (posted by the agent).
    CloseFile,
    /// Pause: stop the download and the timer; the job and the partial file are kept.
    Suspend,
    /// Go on after [`Event::Suspend`].
    Resume,
    /// The user aborts the job (`ota abort`).
    UserAbort,
    /// Stop the agent.
    Shutdown,
    /// The payload of `<jobId>/update/accepted`.
    UpdateAccepted(B),
    /// The payload of `<jobId>/update/rejected`.
    UpdateRejected(B),
    /// The payload of `start-next/rejected`, `$next/get/rejected` or `<jobId>/get/rejected`.
    JobRequestRejected(B),
    /// The download of request `transfer` failed.
    DownloadError { transfer: u32, error: DownloadError },
    /// The job cannot go on: report it `FAILED` (posted by the agent, with the reason kept
    /// in the agent).
    FailJob,
}

impl<B> Event<B> {
    /// The event for a message on a classified Jobs API topic.
    pub fn from_message(topic: &JobsTopic, payload: B) -> Event<B> {
        match topic {
            JobsTopic::NotifyNext
            | JobsTopic::StartNext(Reply::Accepted)
            | JobsTopic::NextGet(Reply::Accepted)
            | JobsTopic::JobGet(_, Reply::Accepted) => Event::ReceivedJobDocument(payload),
            JobsTopic::StartNext(Reply::Rejected)
            | JobsTopic::NextGet(Reply::Rejected)
            | JobsTopic::JobGet(_, Reply::Rejected) => Event::JobRequestRejected(payload),
            JobsTopic::Update(_, Reply::Accepted) => Event::UpdateAccepted(payload),
            JobsTopic::Update(_, Reply::Rejected) => Event::UpdateRejected(payload),
        }
    }

    /// The event's kind, which the state table is keyed by. A download error's kind depends
    /// on what went wrong: resume, refresh the URL, or fail.
    pub fn kind(&self) -> EventKind {
        match self {
            Event::Start => EventKind::Start,
            Event::StartSelfTest => EventKind::StartSelfTest,
            Event::RequestJobDocument => EventKind::RequestJobDocument,
            Event::ReceivedJobDocument(_) => EventKind::ReceivedJobDocument,
            Event::CreateFile => EventKind::CreateFile,
            Event::RequestFileBlock => EventKind::RequestFileBlock,
            Event::ReceivedFileBlock { .. } => EventKind::ReceivedFileBlock,
            Event::RequestTimer => EventKind::RequestTimer,
            Event::CloseFile => EventKind::CloseFile,
            Event::Suspend => EventKind::Suspend,
            Event::Resume => EventKind::Resume,
            Event::UserAbort => EventKind::UserAbort,
            Event::Shutdown => EventKind::Shutdown,
            Event::UpdateAccepted(_) => EventKind::UpdateAccepted,
            Event::UpdateRejected(_) => EventKind::UpdateRejected,
            Event::JobRequestRejected(_) => EventKind::JobRequestRejected,
            Event::DownloadError { error, .. } => match error {
                DownloadError::Interrupted => EventKind::DownloadInterrupted,
                DownloadError::UrlExpired => EventKind::UrlExpired,
                _ => EventKind::DownloadFailed,
            },
            Event::FailJob => EventKind::FailJob,
        }
    }
}

/// What the state table is keyed by: an [`Event`] without its data, a download error split
/// by what the agent does about it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventKind {
    Start,
    StartSelfTest,
    RequestJobDocument,
    ReceivedJobDocument,
    CreateFile,
    RequestFileBlock,
    ReceivedFileBlock,
    RequestTimer,
    CloseFile,
    Suspend,
    Resume,
    UserAbort,
    Shutdown,
    UpdateAccepted,
    UpdateRejected,
    JobRequestRejected,
    /// [`DownloadError::Interrupted`].
    DownloadInterrupted,
    /// [`DownloadError::UrlExpired`].
    UrlExpired,
    /// Every other [`DownloadError`].
    DownloadFailed,
    FailJob,
}

impl EventKind {
    /// Every kind, in declaration order.
    pub const ALL: [EventKind; 20] = [
        EventKind::Start,
        EventKind::StartSelfTest,
        EventKind::RequestJobDocument,
        EventKind::ReceivedJobDocument,
        EventKind::CreateFile,
        EventKind::RequestFileBlock,
        EventKind::ReceivedFileBlock,
        EventKind::RequestTimer,
        EventKind::CloseFile,
        EventKind::Suspend,
        EventKind::Resume,
        EventKind::UserAbort,
        EventKind::Shutdown,
        EventKind::UpdateAccepted,
        EventKind::UpdateRejected,
        EventKind::JobRequestRejected,
        EventKind::DownloadInterrupted,
        EventKind::UrlExpired,
        EventKind::DownloadFailed,
        EventKind::FailJob,
    ];
}

/// An event a handler causes, for the firmware to post: these carry no data. The firmware
/// takes them with [`crate::Agent::take_signal`] after each event and handles them before the
/// next event from its queue (as if posted to the queue's front), so that a handler's
/// follow-up is never overtaken by file blocks already queued.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Signal {
    StartSelfTest,
    RequestJobDocument,
    CreateFile,
    RequestFileBlock,
    CloseFile,
    FailJob,
}

impl<B> From<Signal> for Event<B> {
    fn from(signal: Signal) -> Self {
        match signal {
            Signal::StartSelfTest => Event::StartSelfTest,
            Signal::RequestJobDocument => Event::RequestJobDocument,
            Signal::CreateFile => Event::CreateFile,
            Signal::RequestFileBlock => Event::RequestFileBlock,
            Signal::CloseFile => Event::CloseFile,
            Signal::FailJob => Event::FailJob,
        }
    }
}
