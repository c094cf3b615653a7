//! The AWS IoT Jobs API of one thing with one job, in memory: the stand-in for the cloud on a
//! board without a network (QEMU's smartl machine has no NIC), so that the agent's whole flow
//! — job document in, file in, verified, activated, restarted, `SUCCEEDED` out — runs on the
//! real instruction set with only the transport replaced.
//!
//! [`LoopbackJobs::handle`] takes what the agent publishes and answers as the service does
//! (<https://docs.aws.amazon.com/iot/latest/developerguide/jobs-mqtt-api.html>):
//!
//! | request | accepted | rejected |
//! | --- | --- | --- |
//! | `start-next` | the execution, moved from `QUEUED` to `IN_PROGRESS` (`versionNumber` + 1); none once it ended | `InvalidJson`, `InvalidRequest` |
//! | `$next/get` | the execution while it is pending; none once it ended | `InvalidJson` |
//! | `<jobId>/get` | the execution | `ResourceNotFound` (another job), `TerminalStateReached` |
//! | `<jobId>/update` | `{}`, the status and `statusDetails` taken (`versionNumber` + 1); a terminal status also notifies `notify-next` with no execution | `VersionMismatch` (`expectedVersion` is not the current `versionNumber`), `InvalidStateTransition` (from a terminal status, or to one a device may not set), `ResourceNotFound`, `InvalidRequest` |
//!
//! Every reply echoes `clientToken` and carries `timestamp`; a rejection carries `code`,
//! `message` and, for the two state errors, `executionState`. The job document is served as
//! it was given (checked once to be JSON, as the service checks it when the job is created).
//!
//! The execution lives in an [`ExecutionRecord`], which the board keeps where a restart of the
//! device does not lose it, as the cloud keeps it across the device's reboots.

use crate::jobs::{is_detail_key, JobId, JobStatus, ThingName, STATUS_DETAILS_MAX};
use crate::json::{self, JsonError};
use core::fmt::{self, Write};
use heapless::String;
use serde::de::{Deserialize, Deserializer, MapAccess, Visitor};
use serde_json_core::str::EscapedStr;

/// The longest `statusDetails` kept, as the JSON text of its members.
pub const DETAILS_MAX: usize = 512;
/// The longest `clientToken` echoed (the API's limit).
const CLIENT_TOKEN_MAX: usize = 64;
/// The bytes of an [`ExecutionRecord`] in its stored form.
pub const RECORD_LEN: usize = RECORD_HEAD + DETAILS_MAX;
const RECORD_HEAD: usize = 4 + 1 + 8 * 4 + 2;
/// The stored record's first word ("LJOB").
const RECORD_MAGIC: [u8; 4] = *b"LJOB";

/// A job document that is not one JSON value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BadDocument(pub JsonError);

impl fmt::Display for BadDocument {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "the job document is not JSON: {}", self.0)
    }
}

/// The job's execution on the thing, as the cloud keeps it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExecutionRecord {
    /// `status`.
    pub status: JobStatus,
    /// `versionNumber`: 1 when queued, one more with every change.
    pub version: u64,
    /// `queuedAt`, `startedAt` (0 until started) and `lastUpdatedAt`, seconds.
    pub queued_at: u64,
    pub started_at: u64,
    pub updated_at: u64,
    /// `statusDetails`: the members' JSON text (`"key":"value",...`), as the device sent them.
    pub details: String<DETAILS_MAX>,
}

impl ExecutionRecord {
    /// A new execution, `QUEUED` at `now`.
    pub fn queued(now: u64) -> Self {
        ExecutionRecord {
            status: JobStatus::Queued,
            version: 1,
            queued_at: now,
            started_at: 0,
            updated_at: now,
            details: String::new(),
        }
    }

    /// The stored form: magic, status, the four numbers (little endian), the details'
    /// length and text, zero-padded to [`RECORD_LEN`].
    pub fn to_bytes(&self) -> [u8; RECORD_LEN] {
        let mut bytes = [0u8; RECORD_LEN];
        bytes[..4].copy_from_slice(&RECORD_MAGIC);
        bytes[4] = JobStatus::ALL
            .iter()
            .position(|status| *status == self.status)
            .unwrap_or(0) as u8;
        let numbers = [
            self.version,
            self.queued_at,
            self.started_at,
            self.updated_at,
        ];
        for (at, number) in numbers.iter().enumerate() {
            bytes[5 + 8 * at..13 + 8 * at].copy_from_slice(&number.to_le_bytes());
        }
        let details = self.details.as_bytes();
        bytes[37..39].copy_from_slice(&(details.len() as u16).to_le_bytes());
        bytes[RECORD_HEAD..RECORD_HEAD + details.len()].copy_from_slice(details);
        bytes
    }

    /// Reads a stored record; `None` when `bytes` hold none (no magic, a status or length out
    /// of range, details that are not an object's JSON members).
    pub fn parse(bytes: &[u8]) -> Option<Self> {
        let head = bytes.get(..RECORD_HEAD)?;
        if head[..4] != RECORD_MAGIC {
            return None;
        }
        let status = *JobStatus::ALL.get(usize::from(head[4]))?;
        let number = |at: usize| {
            let mut word = [0u8; 8];
            word.copy_from_slice(&head[5 + 8 * at..13 + 8 * at]);
            u64::from_le_bytes(word)
        };
        let len = usize::from(u16::from_le_bytes([head[37], head[38]]));
        let text = bytes.get(RECORD_HEAD..RECORD_HEAD.checked_add(len)?)?;
        let details = String::try_from(core::str::from_utf8(text).ok()?).ok()?;
        // They go into every reply between braces as they are.
        let mut object = String::<{ DETAILS_MAX + 2 }>::new();
        object.push('{').ok()?;
        object.push_str(&details).ok()?;
        object.push('}').ok()?;
        json::check(object.as_bytes()).ok()?;
        Some(ExecutionRecord {
            status,
            version: number(0),
            queued_at: number(1),
            started_at: number(2),
            updated_at: number(3),
            details,
        })
    }
}

/// One thing's Jobs API with one job.
#[derive(Debug)]
pub struct LoopbackJobs<'a> {
    thing: ThingName,
    job: JobId,
    document: &'a [u8],
    execution: ExecutionRecord,
}

/// The request a topic names.
enum Operation {
    StartNext,
    DescribeNext,
    Describe,
    Update,
    /// `<jobId>/get` or `/update` of a job this thing does not have.
    OtherJob,
}

/// A Jobs API error response's code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Code {
    InvalidJson,
    InvalidRequest,
    InvalidStateTransition,
    ResourceNotFound,
    VersionMismatch,
    TerminalStateReached,
}

/// Why a request is rejected.
struct Rejection {
    code: Code,
    message: &'static str,
    /// Whether `executionState` goes with it.
    with_state: bool,
}

impl Rejection {
    fn new(code: Code, message: &'static str) -> Self {
        Rejection {
            code,
            message,
            with_state: false,
        }
    }
}

/// A request's members that the service reads. Strings stay raw (escaped as sent), which is
/// how they are echoed and stored.
#[derive(Default, serde::Deserialize)]
struct RequestWire<'a> {
    #[serde(rename = "clientToken", borrow)]
    client_token: Option<EscapedStr<'a>>,
    #[serde(borrow)]
    status: Option<EscapedStr<'a>>,
    #[serde(rename = "statusDetails")]
    status_details: Option<DetailsText>,
    #[serde(rename = "expectedVersion")]
    expected_version: Option<u64>,
}

/// `statusDetails` as JSON member text, its keys and values checked against the API's
/// limits: at most 10 members, keys of `[a-zA-Z0-9:_-]`, string values.
struct DetailsText(Result<String<DETAILS_MAX>, &'static str>);

impl<'de> Deserialize<'de> for DetailsText {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct DetailsVisitor;

        impl<'de> Visitor<'de> for DetailsVisitor {
            type Value = DetailsText;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("an object of strings")
            }

            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<DetailsText, A::Error> {
                let mut text = String::<DETAILS_MAX>::new();
                let mut verdict = Ok(());
                let mut count = 0;
                while let Some(key) = map.next_key::<&'de str>()? {
                    let value: EscapedStr<'de> = map.next_value()?;
                    count += 1;
                    let key_ok = is_detail_key(key);
                    if !key_ok {
                        verdict = Err("a statusDetails key is not allowed");
                    } else if value.0.is_empty() {
                        verdict = Err("a statusDetails value is empty");
                    } else if count > STATUS_DETAILS_MAX {
                        verdict = Err("more than 10 statusDetails");
                    } else if verdict.is_ok() {
                        let separator = if text.is_empty() { "" } else { "," };
                        if write!(text, "{separator}\"{key}\":\"{}\"", value.0).is_err() {
                            verdict = Err("statusDetails too long for this stand-in");
                        }
                    }
                }
                Ok(DetailsText(verdict.map(|()| text)))
            }
        }

        deserializer.deserialize_map(DetailsVisitor)
    }
}

/// A JSON text written into a caller's buffer; writes past its end are refused.
struct Out<'b> {
    buf: &'b mut [u8],
    len: usize,
}

impl Write for Out<'_> {
    fn write_str(&mut self, text: &str) -> fmt::Result {
        self.raw(text.as_bytes())
    }
}

impl Out<'_> {
    fn raw(&mut self, bytes: &[u8]) -> fmt::Result {
        let end = self.len.checked_add(bytes.len()).ok_or(fmt::Error)?;
        self.buf
            .get_mut(self.len..end)
            .ok_or(fmt::Error)?
            .copy_from_slice(bytes);
        self.len = end;
        Ok(())
    }
}

/// The body of an accepted request.
enum Accepted {
    /// `{}` plus the common members.
    Empty,
    /// `{"execution": ...}`.
    Execution,
}

impl<'a> LoopbackJobs<'a> {
    /// The service for `thing` with job `job` of `document`, its execution as `execution`
    /// says (a new one is [`ExecutionRecord::queued`]).
    pub fn new(
        thing: ThingName,
        job: JobId,
        document: &'a [u8],
        execution: ExecutionRecord,
    ) -> Result<Self, BadDocument> {
        json::check(document).map_err(BadDocument)?;
        Ok(LoopbackJobs {
            thing,
            job,
            document,
            execution,
        })
    }

    /// The job's id.
    pub fn job(&self) -> &JobId {
        &self.job
    }

    /// The execution as it stands.
    pub fn execution(&self) -> &ExecutionRecord {
        &self.execution
    }

    /// Handles one publish of the device at `now` (seconds): `send` gets each message the
    /// service publishes in return (the reply, then any notification), written in `buf`. A
    /// topic that is not a request of this thing's Jobs API gets no answer, as from AWS; a
    /// reply that does not fit `buf` is not sent.
    pub fn handle(
        &mut self,
        topic: &str,
        payload: &[u8],
        now: u64,
        buf: &mut [u8],
        send: &mut dyn FnMut(&str, &[u8]),
    ) {
        let Some(operation) = self.operation(topic) else {
            return;
        };
        let request = if payload.iter().all(u8::is_ascii_whitespace) {
            Ok(RequestWire::default())
        } else {
            json::check(payload)
                .ok()
                .and_then(|()| serde_json_core::from_slice::<RequestWire<'_>>(payload).ok())
                .map(|(request, _)| request)
                .ok_or(Rejection::new(
                    Code::InvalidJson,
                    "the request is not valid JSON",
                ))
        };
        let token = request
            .as_ref()
            .ok()
            .and_then(|request| request.client_token)
            .map(|token| token.0)
            .filter(|token| token.len() <= CLIENT_TOKEN_MAX);
        let before = self.execution.status;
        let outcome = request.and_then(|request| match operation {
            Operation::StartNext => self.start_next(request, now),
            Operation::DescribeNext => Ok(self.describe_next()),
            Operation::Describe => self.describe(),
            Operation::Update => self.update(request, now),
            Operation::OtherJob => Err(Rejection::new(
                Code::ResourceNotFound,
                "the thing has no execution of that job",
            )),
        });
        let mut reply_topic = String::<{ crate::jobs::TOPIC_MAX }>::new();
        let suffix = if outcome.is_ok() {
            "/accepted"
        } else {
            "/rejected"
        };
        if write!(reply_topic, "{topic}{suffix}").is_err() {
            return;
        }
        let mut out = Out { buf, len: 0 };
        if self.reply(&mut out, outcome, token, now).is_ok() {
            send(&reply_topic, &out.buf[..out.len]);
        }
        if !before.is_terminal() && self.execution.status.is_terminal() {
            let mut notify = String::<{ crate::jobs::TOPIC_MAX }>::new();
            let mut out = Out {
                buf: out.buf,
                len: 0,
            };
            let written = write!(
                notify,
                "$aws/things/{}/jobs/notify-next",
                self.thing.as_str()
            )
            .and_then(|()| write!(out, "{{\"timestamp\":{now}}}"));
            if written.is_ok() {
                send(&notify, &out.buf[..out.len]);
            }
        }
    }

    fn operation(&self, topic: &str) -> Option<Operation> {
        let rest = topic
            .strip_prefix("$aws/things/")?
            .strip_prefix(self.thing.as_str())?
            .strip_prefix("/jobs/")?;
        match rest {
            "start-next" => Some(Operation::StartNext),
            "$next/get" => Some(Operation::DescribeNext),
            _ => match rest.split_once('/')? {
                (job, "get") if job == self.job.as_str() => Some(Operation::Describe),
                (job, "update") if job == self.job.as_str() => Some(Operation::Update),
                (job, "get" | "update") if JobId::new(job).is_ok() => Some(Operation::OtherJob),
                _ => None,
            },
        }
    }

    fn start_next(&mut self, request: RequestWire<'_>, now: u64) -> Result<Accepted, Rejection> {
        let details = details(request.status_details)?;
        if self.execution.status.is_terminal() {
            return Ok(Accepted::Empty);
        }
        if self.execution.status == JobStatus::Queued {
            self.execution.status = JobStatus::InProgress;
            self.execution.started_at = now;
            self.change(details, now);
        }
        Ok(Accepted::Execution)
    }

    fn describe_next(&self) -> Accepted {
        if self.execution.status.is_terminal() {
            Accepted::Empty
        } else {
            Accepted::Execution
        }
    }

    fn describe(&self) -> Result<Accepted, Rejection> {
        if self.execution.status.is_terminal() {
            return Err(Rejection::new(
                Code::TerminalStateReached,
                "the job execution has ended",
            ));
        }
        Ok(Accepted::Execution)
    }

    fn update(&mut self, request: RequestWire<'_>, now: u64) -> Result<Accepted, Rejection> {
        let mut name = String::<16>::new();
        let status = request
            .status
            .filter(|raw| name.push_str(raw.0).is_ok())
            .and_then(|_| JobStatus::from_name(&name))
            .ok_or(Rejection::new(
                Code::InvalidRequest,
                "status is missing or unknown",
            ))?;
        let details = details(request.status_details)?;
        if request
            .expected_version
            .is_some_and(|expected| expected != self.execution.version)
        {
            return Err(Rejection {
                code: Code::VersionMismatch,
                message: "expectedVersion is not the current versionNumber",
                with_state: true,
            });
        }
        let reportable = matches!(
            status,
            JobStatus::InProgress | JobStatus::Succeeded | JobStatus::Failed | JobStatus::Rejected
        );
        if self.execution.status.is_terminal() || !reportable {
            return Err(Rejection {
                code: Code::InvalidStateTransition,
                message: "the execution cannot change to that status",
                with_state: true,
            });
        }
        if self.execution.status == JobStatus::Queued {
            self.execution.started_at = now;
        }
        self.execution.status = status;
        self.change(details, now);
        Ok(Accepted::Empty)
    }

    /// A change of the execution: new details (when sent), a new version.
    fn change(&mut self, details: Option<String<DETAILS_MAX>>, now: u64) {
        if let Some(details) = details {
            self.execution.details = details;
        }
        // A damaged stored record may hold any version.
        self.execution.version = self.execution.version.saturating_add(1);
        self.execution.updated_at = now;
    }

    fn reply(
        &self,
        out: &mut Out<'_>,
        outcome: Result<Accepted, Rejection>,
        token: Option<&str>,
        now: u64,
    ) -> fmt::Result {
        out.write_char('{')?;
        match outcome {
            Ok(Accepted::Empty) => {}
            Ok(Accepted::Execution) => {
                out.write_str("\"execution\":")?;
                self.write_execution(out)?;
                out.write_char(',')?;
            }
            Err(rejection) => {
                let code = match rejection.code {
                    Code::InvalidJson => "InvalidJson",
                    Code::InvalidRequest => "InvalidRequest",
                    Code::InvalidStateTransition => "InvalidStateTransition",
                    Code::ResourceNotFound => "ResourceNotFound",
                    Code::VersionMismatch => "VersionMismatch",
                    Code::TerminalStateReached => "TerminalStateReached",
                };
                write!(
                    out,
                    "\"code\":\"{code}\",\"message\":\"{}\",",
                    rejection.message
                )?;
                if rejection.with_state {
                    out.write_str("\"executionState\":")?;
                    self.write_state(out)?;
                    out.write_char(',')?;
                }
            }
        }
        if let Some(token) = token {
            write!(out, "\"clientToken\":\"{token}\",")?;
        }
        write!(out, "\"timestamp\":{now}}}")
    }

    fn write_state(&self, out: &mut Out<'_>) -> fmt::Result {
        let execution = &self.execution;
        write!(
            out,
            "{{\"status\":\"{}\",\"statusDetails\":{{{}}},\"versionNumber\":{}}}",
            execution.status.as_str(),
            execution.details,
            execution.version
        )
    }

    fn write_execution(&self, out: &mut Out<'_>) -> fmt::Result {
        let execution = &self.execution;
        write!(
            out,
            "{{\"jobId\":\"{}\",\"thingName\":\"{}\",\"status\":\"{}\",\"statusDetails\":{{{}}},\"queuedAt\":{}",
            self.job.as_str(),
            self.thing.as_str(),
            execution.status.as_str(),
            execution.details,
            execution.queued_at
        )?;
        if execution.started_at != 0 {
            write!(out, ",\"startedAt\":{}", execution.started_at)?;
        }
        write!(
            out,
            ",\"lastUpdatedAt\":{},\"versionNumber\":{},\"executionNumber\":1,\"jobDocument\":",
            execution.updated_at, execution.version
        )?;
        out.raw(self.document)?;
        out.write_char('}')
    }
}

/// The details a request sends: `None` keeps the execution's.
fn details(wire: Option<DetailsText>) -> Result<Option<String<DETAILS_MAX>>, Rejection> {
    match wire {
        None => Ok(None),
        Some(DetailsText(Ok(text))) => Ok(Some(text)),
        Some(DetailsText(Err(message))) => Err(Rejection::new(Code::InvalidRequest, message)),
    }
}

#[cfg(test)]
mod tests;
