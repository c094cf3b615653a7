//! The AWS IoT Jobs device MQTT API as the agent uses it: names (thing, job id, client token),
//! the topics it publishes and subscribes to, the classification of an incoming topic, and the
//! request payloads, written into the caller's bounded buffer with JSON escaping.
//!
//! Reference: "Jobs device MQTT API operations",
//! <https://docs.aws.amazon.com/iot/latest/developerguide/jobs-mqtt-api.html>, and the Jobs API
//! data types (`UpdateJobExecution`, `StartNextPendingJobExecution`,
//! `DescribeJobExecution`) in the AWS IoT API reference.

use core::fmt;
use heapless::{String, Vec};
use serde::ser::{Serialize, SerializeMap, Serializer};

/// The longest thing name AWS IoT accepts.
pub const THING_NAME_MAX: usize = 128;
/// The longest job id AWS IoT accepts.
pub const JOB_ID_MAX: usize = 64;
/// The longest `clientToken` the Jobs API accepts.
pub const CLIENT_TOKEN_MAX: usize = 64;
/// The longest topic this module builds: `$aws/things/` + thing + `/jobs/` + job id +
/// `/update/accepted` is 226 bytes.
pub const TOPIC_MAX: usize = 256;
/// The most `statusDetails` entries a request carries.
pub const STATUS_DETAILS_MAX: usize = 10;
/// The longest `statusDetails` key the Jobs API accepts.
pub const DETAIL_KEY_MAX: usize = 128;
/// The longest `statusDetails` value the Jobs API accepts.
pub const DETAIL_VALUE_MAX: usize = 1024;

/// A topic built by [`Topics`].
pub type Topic = String<TOPIC_MAX>;

/// Why a name was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NameError {
    /// Empty, or longer than the API allows.
    Length,
    /// A character the API does not allow in this name.
    Character,
}

impl fmt::Display for NameError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            NameError::Length => "empty or too long",
            NameError::Character => "a character the Jobs API does not allow",
        })
    }
}

fn checked<const N: usize>(
    text: &str,
    allowed: impl Fn(u8) -> bool,
) -> Result<String<N>, NameError> {
    if text.is_empty() {
        return Err(NameError::Length);
    }
    if !text.bytes().all(allowed) {
        return Err(NameError::Character);
    }
    String::try_from(text).map_err(|_| NameError::Length)
}

/// A thing name: 1 to 128 characters of `[a-zA-Z0-9:_-]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ThingName(String<THING_NAME_MAX>);

impl ThingName {
    /// Checks `text` against the Jobs API's rule for thing names.
    pub fn new(text: &str) -> Result<Self, NameError> {
        checked(text, |b| {
            b.is_ascii_alphanumeric() || matches!(b, b':' | b'_' | b'-')
        })
        .map(Self)
    }

    /// The name.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A job id: 1 to 64 characters of `[a-zA-Z0-9_-]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JobId(String<JOB_ID_MAX>);

impl JobId {
    /// No id (only a placeholder for a buffer to be filled: not a valid job id).
    pub(crate) const EMPTY: JobId = JobId(String::new());

    /// Checks `text` against the Jobs API's rule for job ids.
    pub fn new(text: &str) -> Result<Self, NameError> {
        checked(text, |b| {
            b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-')
        })
        .map(Self)
    }

    /// The id.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for JobId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A `clientToken`: at most 64 bytes, echoed by the service in its reply.
pub type ClientToken = String<CLIENT_TOKEN_MAX>;

/// The reply topic of a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reply {
    /// `.../accepted`
    Accepted,
    /// `.../rejected`
    Rejected,
}

/// An incoming topic of this thing's Jobs API, classified.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum JobsTopic {
    /// `notify-next`: the next pending execution changed (`execution` absent when none).
    NotifyNext,
    /// `start-next/accepted|rejected`.
    StartNext(Reply),
    /// `$next/get/accepted|rejected`.
    NextGet(Reply),
    /// `<jobId>/get/accepted|rejected`.
    JobGet(JobId, Reply),
    /// `<jobId>/update/accepted|rejected`.
    Update(JobId, Reply),
}

/// The Jobs API topics of one thing, `$aws/things/<thing>/jobs/...`.
#[derive(Debug, Clone)]
pub struct Topics {
    thing: ThingName,
}

/// The topic filters to subscribe to for every reply the agent uses: a broker need not
/// deliver replies to a client that did not subscribe. `+` stands for `accepted` and
/// `rejected`, and in `+/get/+` also for `$next` and any job id.
pub const SUBSCRIPTIONS: [&str; 4] = ["notify-next", "start-next/+", "+/get/+", "+/update/+"];

impl Topics {
    /// The topics of `thing`.
    pub fn new(thing: ThingName) -> Self {
        Topics { thing }
    }

    /// The thing's name.
    pub fn thing(&self) -> &ThingName {
        &self.thing
    }

    fn build(&self, parts: &[&str]) -> Topic {
        let mut topic = Topic::new();
        // Thing names are at most 128 bytes and job ids 64, so every topic fits.
        for part in ["$aws/things/", self.thing.as_str(), "/jobs/"]
            .iter()
            .chain(parts)
        {
            let _ = topic.push_str(part);
        }
        topic
    }

    /// `notify-next`.
    pub fn notify_next(&self) -> Topic {
        self.build(&["notify-next"])
    }

    /// `start-next`, and its replies.
    pub fn start_next(&self) -> Topic {
        self.build(&["start-next"])
    }

    /// `start-next/accepted|rejected`.
    pub fn start_next_reply(&self, reply: Reply) -> Topic {
        self.build(&["start-next", reply_suffix(reply)])
    }

    /// `$next/get`.
    pub fn next_get(&self) -> Topic {
        self.build(&["$next/get"])
    }

    /// `$next/get/accepted|rejected`.
    pub fn next_get_reply(&self, reply: Reply) -> Topic {
        self.build(&["$next/get", reply_suffix(reply)])
    }

    /// `<jobId>/get`.
    pub fn job_get(&self, job: &JobId) -> Topic {
        self.build(&[job.as_str(), "/get"])
    }

    /// `<jobId>/update`.
    pub fn update(&self, job: &JobId) -> Topic {
        self.build(&[job.as_str(), "/update"])
    }

    /// `<jobId>/update/accepted|rejected`.
    pub fn update_reply(&self, job: &JobId, reply: Reply) -> Topic {
        self.build(&[job.as_str(), "/update", reply_suffix(reply)])
    }

    /// [`SUBSCRIPTIONS`] as full topic filters.
    pub fn subscriptions(&self) -> [Topic; SUBSCRIPTIONS.len()] {
        SUBSCRIPTIONS.map(|filter| self.build(&[filter]))
    }

    /// Classifies `topic`: `None` when it is not a reply or notification of this thing's Jobs
    /// API (another thing's name, an unknown operation, a malformed job id). AWS sends replies
    /// to the requester whatever it subscribed to, so the thing name is checked here.
    pub fn classify(&self, topic: &str) -> Option<JobsTopic> {
        let rest = topic
            .strip_prefix("$aws/things/")?
            .strip_prefix(self.thing.as_str())?
            .strip_prefix("/jobs/")?;
        if rest == "notify-next" {
            return Some(JobsTopic::NotifyNext);
        }
        let (operation, reply) = match rest.rsplit_once('/')? {
            (operation, "accepted") => (operation, Reply::Accepted),
            (operation, "rejected") => (operation, Reply::Rejected),
            _ => return None,
        };
        match operation {
            "start-next" => Some(JobsTopic::StartNext(reply)),
            "$next/get" => Some(JobsTopic::NextGet(reply)),
            _ => match operation.split_once('/')? {
                (job, "get") => Some(JobsTopic::JobGet(JobId::new(job).ok()?, reply)),
                (job, "update") => Some(JobsTopic::Update(JobId::new(job).ok()?, reply)),
                _ => None,
            },
        }
    }
}

fn reply_suffix(reply: Reply) -> &'static str {
    match reply {
        Reply::Accepted => "/accepted",
        Reply::Rejected => "/rejected",
    }
}

/// A job execution's status, as the Jobs API names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JobStatus {
    Queued,
    InProgress,
    Succeeded,
    Failed,
    Rejected,
    TimedOut,
    Removed,
    Canceled,
}

impl JobStatus {
    /// Every status the Jobs API names.
    pub const ALL: [JobStatus; 8] = [
        JobStatus::Queued,
        JobStatus::InProgress,
        JobStatus::Succeeded,
        JobStatus::Failed,
        JobStatus::Rejected,
        JobStatus::TimedOut,
        JobStatus::Removed,
        JobStatus::Canceled,
    ];

    /// The API's name, e.g. `IN_PROGRESS`.
    pub fn as_str(self) -> &'static str {
        match self {
            JobStatus::Queued => "QUEUED",
            JobStatus::InProgress => "IN_PROGRESS",
            JobStatus::Succeeded => "SUCCEEDED",
            JobStatus::Failed => "FAILED",
            JobStatus::Rejected => "REJECTED",
            JobStatus::TimedOut => "TIMED_OUT",
            JobStatus::Removed => "REMOVED",
            JobStatus::Canceled => "CANCELED",
        }
    }

    /// The status named `text`, if the API has one by that name.
    pub fn from_name(text: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|status| status.as_str() == text)
    }

    /// `QUEUED` and `IN_PROGRESS` are pending; every other status is terminal.
    pub fn is_terminal(self) -> bool {
        !matches!(self, JobStatus::Queued | JobStatus::InProgress)
    }
}

/// The statuses a device may set with UpdateJobExecution.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeviceStatus {
    InProgress,
    Succeeded,
    Failed,
    Rejected,
}

impl DeviceStatus {
    /// The same status in the API's full set.
    pub fn status(self) -> JobStatus {
        match self {
            DeviceStatus::InProgress => JobStatus::InProgress,
            DeviceStatus::Succeeded => JobStatus::Succeeded,
            DeviceStatus::Failed => JobStatus::Failed,
            DeviceStatus::Rejected => JobStatus::Rejected,
        }
    }
}

/// Why a request could not be written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EmitError {
    /// The buffer is too small for the payload.
    BufferFull,
    /// More than [`STATUS_DETAILS_MAX`] `statusDetails` entries.
    TooManyDetails,
    /// A `statusDetails` key that is empty, too long or not `[a-zA-Z0-9:_-]`.
    DetailKey,
    /// A `statusDetails` value that is empty or longer than 1024 bytes.
    DetailValue,
    /// A `clientToken` longer than 64 bytes.
    ClientToken,
}

impl fmt::Display for EmitError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            EmitError::BufferFull => "payload does not fit the buffer",
            EmitError::TooManyDetails => "more than 10 statusDetails entries",
            EmitError::DetailKey => "statusDetails key not allowed by the Jobs API",
            EmitError::DetailValue => "statusDetails value empty or over 1024 bytes",
            EmitError::ClientToken => "clientToken over 64 bytes",
        })
    }
}

/// `statusDetails` for a request: up to [`STATUS_DETAILS_MAX`] string entries, in the order
/// given. The Jobs API replaces the execution's whole `statusDetails` with them.
#[derive(Debug, Clone, Default)]
pub struct StatusDetails<'a> {
    entries: Vec<(&'a str, &'a str), STATUS_DETAILS_MAX>,
}

impl<'a> StatusDetails<'a> {
    /// No entries.
    pub fn new() -> Self {
        StatusDetails {
            entries: Vec::new(),
        }
    }

    /// Adds `key: value` after checking both against the Jobs API's limits.
    pub fn insert(&mut self, key: &'a str, value: &'a str) -> Result<(), EmitError> {
        if !is_detail_key(key) {
            return Err(EmitError::DetailKey);
        }
        if value.is_empty() || value.len() > DETAIL_VALUE_MAX {
            return Err(EmitError::DetailValue);
        }
        self.entries
            .push((key, value))
            .map_err(|_| EmitError::TooManyDetails)
    }

    /// Whether there are no entries.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The entries, in order.
    pub fn iter(&self) -> impl Iterator<Item = (&'a str, &'a str)> + '_ {
        self.entries.iter().copied()
    }
}

impl Serialize for StatusDetails<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(Some(self.entries.len()))?;
        for (key, value) in &self.entries {
            map.serialize_entry(key, value)?;
        }
        map.end()
    }
}

/// Whether `key` is a `statusDetails` key the Jobs API allows: 1 to 128 characters of
/// `[a-zA-Z0-9:_-]`.
pub fn is_detail_key(key: &str) -> bool {
    !key.is_empty()
        && key.len() <= DETAIL_KEY_MAX
        && key
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b':' | b'_' | b'-'))
}

fn token(token: &str) -> Result<&str, EmitError> {
    if token.len() > CLIENT_TOKEN_MAX {
        return Err(EmitError::ClientToken);
    }
    Ok(token)
}

fn emit<T: Serialize>(value: &T, buf: &mut [u8]) -> Result<usize, EmitError> {
    serde_json_core::to_slice(value, buf).map_err(|_| EmitError::BufferFull)
}

#[derive(serde::Serialize)]
struct StartNextWire<'a> {
    #[serde(rename = "clientToken")]
    client_token: &'a str,
    #[serde(
        rename = "statusDetails",
        skip_serializing_if = "StatusDetails::is_empty"
    )]
    status_details: &'a StatusDetails<'a>,
}

/// The StartNextPendingJobExecution request (`start-next`):
/// `{"clientToken":..,"statusDetails":{..}}`, `statusDetails` left out when empty. Returns the
/// payload's length in `buf`.
pub fn start_next_request(
    buf: &mut [u8],
    client_token: &str,
    details: &StatusDetails<'_>,
) -> Result<usize, EmitError> {
    emit(
        &StartNextWire {
            client_token: token(client_token)?,
            status_details: details,
        },
        buf,
    )
}

#[derive(serde::Serialize)]
struct DescribeWire<'a> {
    #[serde(rename = "clientToken")]
    client_token: &'a str,
}

/// The DescribeJobExecution request (`$next/get` or `<jobId>/get`): `{"clientToken":..}`;
/// the service includes the job document by default.
pub fn describe_request(buf: &mut [u8], client_token: &str) -> Result<usize, EmitError> {
    emit(
        &DescribeWire {
            client_token: token(client_token)?,
        },
        buf,
    )
}

/// An UpdateJobExecution request's content.
#[derive(Debug, Clone)]
pub struct UpdateRequest<'a> {
    /// The new status.
    pub status: DeviceStatus,
    /// Replaces the execution's `statusDetails` (left out when empty, which keeps them).
    pub details: StatusDetails<'a>,
    /// The execution's `versionNumber` the update expects (optimistic locking); `None`
    /// leaves `expectedVersion` out.
    pub expected_version: Option<u64>,
    /// Echoed in the reply.
    pub client_token: &'a str,
}

#[derive(serde::Serialize)]
struct UpdateWire<'a> {
    status: &'static str,
    #[serde(
        rename = "statusDetails",
        skip_serializing_if = "StatusDetails::is_empty"
    )]
    status_details: &'a StatusDetails<'a>,
    #[serde(rename = "expectedVersion", skip_serializing_if = "Option::is_none")]
    expected_version: Option<u64>,
    #[serde(rename = "clientToken")]
    client_token: &'a str,
}

/// The UpdateJobExecution request (`<jobId>/update`):
/// `{"status":..,"statusDetails":{..},"expectedVersion":N,"clientToken":..}`.
pub fn update_request(buf: &mut [u8], request: &UpdateRequest<'_>) -> Result<usize, EmitError> {
    emit(
        &UpdateWire {
            status: request.status.status().as_str(),
            status_details: &request.details,
            expected_version: request.expected_version,
            client_token: token(request.client_token)?,
        },
        buf,
    )
}

#[cfg(test)]
mod tests;
