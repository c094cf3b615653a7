//! Jobs and their executions, kept in one JSON file so that they survive a restart.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::path::PathBuf;
use std::str::FromStr;
use std::time::Duration;

use anyhow::{anyhow, bail, Result};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use super::document::{self, UrlSigner};
use crate::storage;

/// Milliseconds since the Unix epoch.
pub type Millis = u64;

/// AWS IoT Jobs timestamps are whole seconds since the epoch.
pub fn seconds(at: Millis) -> u64 {
    at / 1000
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum ExecutionStatus {
    Queued,
    InProgress,
    Succeeded,
    Failed,
    Rejected,
    TimedOut,
    Canceled,
    Removed,
}

impl ExecutionStatus {
    pub fn is_pending(self) -> bool {
        matches!(self, Self::Queued | Self::InProgress)
    }

    /// The statuses a device may report; the others only the cloud sets.
    pub fn is_reportable_by_device(self) -> bool {
        matches!(
            self,
            Self::InProgress | Self::Succeeded | Self::Failed | Self::Rejected
        )
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Queued => "QUEUED",
            Self::InProgress => "IN_PROGRESS",
            Self::Succeeded => "SUCCEEDED",
            Self::Failed => "FAILED",
            Self::Rejected => "REJECTED",
            Self::TimedOut => "TIMED_OUT",
            Self::Canceled => "CANCELED",
            Self::Removed => "REMOVED",
        }
    }
}

impl fmt::Display for ExecutionStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for ExecutionStatus {
    type Err = ();

    fn from_str(text: &str) -> Result<Self, ()> {
        serde_json::from_value(Value::String(text.to_owned())).map_err(|_| ())
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum JobStatus {
    InProgress,
    Canceled,
    Completed,
}

pub type StatusDetails = BTreeMap<String, String>;

/// One thing's execution of a job.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Execution {
    pub status: ExecutionStatus,
    #[serde(default)]
    pub status_details: StatusDetails,
    pub queued_at: Millis,
    pub started_at: Option<Millis>,
    pub last_updated_at: Millis,
    pub version_number: u64,
    pub execution_number: u64,
    /// When the step timer that the device set (`stepTimeoutInMinutes`) runs out.
    pub step_deadline: Option<Millis>,
    /// When the job's in-progress timer (`timeoutConfig`) runs out.
    pub in_progress_deadline: Option<Millis>,
}

impl Execution {
    fn new(now: Millis) -> Self {
        Self {
            status: ExecutionStatus::Queued,
            status_details: StatusDetails::new(),
            queued_at: now,
            started_at: None,
            last_updated_at: now,
            version_number: 1,
            execution_number: 1,
            step_deadline: None,
            in_progress_deadline: None,
        }
    }

    /// When the execution times out, if a timer runs.
    pub fn deadline(&self) -> Option<Millis> {
        match (self.step_deadline, self.in_progress_deadline) {
            (Some(step), Some(in_progress)) => Some(step.min(in_progress)),
            (step, in_progress) => step.or(in_progress),
        }
    }

    /// Every change of an execution is a new version.
    pub fn set_status(&mut self, status: ExecutionStatus, now: Millis) {
        self.status = status;
        self.version_number += 1;
        self.last_updated_at = now;
        if !status.is_pending() {
            self.step_deadline = None;
            self.in_progress_deadline = None;
        }
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Job {
    pub job_id: String,
    pub status: JobStatus,
    /// The document as stored: presigned URLs are placeholders until delivery.
    pub document: Value,
    pub created_at: Millis,
    /// `presignedUrlConfig.expiresInSec`.
    pub presigned_url_expiry_secs: u64,
    /// `timeoutConfig.inProgressTimeoutInMinutes`.
    pub in_progress_timeout_minutes: Option<u32>,
    /// By thing name.
    pub executions: BTreeMap<String, Execution>,
}

impl Job {
    /// The document for delivery, with freshly minted presigned URLs.
    pub fn rendered_document(&self, signer: &dyn UrlSigner) -> Result<Value> {
        document::render(
            &self.document,
            Duration::from_secs(self.presigned_url_expiry_secs),
            signer,
        )
    }
}

/// What the control plane needs to create a job.
#[derive(Clone, Debug)]
pub struct NewJob {
    pub job_id: Option<String>,
    pub targets: Vec<String>,
    pub document: Value,
    pub presigned_url_expiry_secs: u64,
    pub in_progress_timeout_minutes: Option<u32>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MessageKind {
    /// An answer on `…/accepted` or `…/rejected`.
    Reply,
    /// A publication on `…/notify` or `…/notify-next`.
    Notification,
}

/// An MQTT publication the jobs service makes.
#[derive(Clone, Debug, PartialEq)]
pub struct Message {
    pub topic: String,
    pub payload: Value,
    pub kind: MessageKind,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct Table {
    pub next_job_number: u64,
    /// In creation order, which is the order of each thing's queue.
    pub jobs: Vec<Job>,
}

impl Table {
    /// A thing's pending executions (QUEUED or IN_PROGRESS), in queue order.
    pub fn pending<'a>(&'a self, thing: &'a str) -> impl Iterator<Item = (&'a Job, &'a Execution)> {
        self.jobs.iter().filter_map(move |job| {
            job.executions
                .get(thing)
                .filter(|execution| execution.status.is_pending())
                .map(|execution| (job, execution))
        })
    }

    /// The index of the job a thing should run next: the first one in progress, otherwise
    /// the oldest queued one.
    pub fn next_pending(&self, thing: &str) -> Option<usize> {
        let pending_with = |status| {
            self.jobs.iter().position(|job| {
                job.executions
                    .get(thing)
                    .is_some_and(|execution| execution.status == status)
            })
        };
        pending_with(ExecutionStatus::InProgress).or_else(|| pending_with(ExecutionStatus::Queued))
    }

    pub fn position(&self, job_id: &str) -> Option<usize> {
        self.jobs.iter().position(|job| job.job_id == job_id)
    }

    fn things(&self) -> BTreeSet<&str> {
        self.jobs
            .iter()
            .flat_map(|job| job.executions.keys().map(String::as_str))
            .collect()
    }

    /// A job is complete once every execution has ended.
    pub fn settle_job_status(&mut self, index: usize) {
        let job = &mut self.jobs[index];
        if job.status == JobStatus::InProgress
            && job
                .executions
                .values()
                .all(|execution| !execution.status.is_pending())
        {
            job.status = JobStatus::Completed;
        }
    }
}

/// The jobs service's state and every operation on it, with no I/O but its own state file:
/// operations take the time and a URL signer, and return the MQTT messages to publish.
#[derive(Debug)]
pub struct Jobs {
    pub(super) table: Table,
    path: PathBuf,
    /// How long a "minute" of `stepTimeoutInMinutes` and `timeoutConfig` lasts (60 s, except
    /// in tests).
    pub(super) minute: Duration,
}

impl Jobs {
    /// Loads the jobs saved at `path`, or starts with none.
    pub fn load(path: PathBuf, minute: Duration) -> Result<Self> {
        let table = storage::read_json(&path)?.unwrap_or_default();
        Ok(Self {
            table,
            path,
            minute,
        })
    }

    pub fn job_count(&self) -> usize {
        self.table.jobs.len()
    }

    pub(super) fn minutes(&self, minutes: u32) -> Millis {
        let millis = self.minute.as_millis().saturating_mul(u128::from(minutes));
        Millis::try_from(millis).unwrap_or(Millis::MAX)
    }

    /// Saves the table after a change and works out the notifications it causes. A change that
    /// cannot be saved is undone, so that memory never runs ahead of the disk.
    pub(super) fn commit(
        &mut self,
        before: Table,
        now: Millis,
        signer: &dyn UrlSigner,
    ) -> Result<Vec<Message>> {
        if let Err(error) = storage::write_json(&self.path, &self.table) {
            self.table = before;
            return Err(error);
        }
        let mut messages = Vec::new();
        let things: BTreeSet<&str> = before
            .things()
            .union(&self.table.things())
            .copied()
            .collect();
        for thing in things {
            let pending_before: Vec<_> = summaries_key(before.pending(thing));
            let pending_after: Vec<_> = summaries_key(self.table.pending(thing));
            if pending_before != pending_after {
                messages.push(self.notify(thing, now));
            }
            let next_before = before
                .next_pending(thing)
                .map(|index| &before.jobs[index].job_id);
            let next_after = self
                .table
                .next_pending(thing)
                .map(|index| &self.table.jobs[index].job_id);
            if next_before != next_after {
                messages.push(self.notify_next(thing, now, signer)?);
            }
        }
        Ok(messages)
    }

    /// `$aws/things/<thing>/jobs/notify`: the pending executions, in progress and queued.
    fn notify(&self, thing: &str, now: Millis) -> Message {
        let mut jobs = serde_json::Map::new();
        for status in [ExecutionStatus::InProgress, ExecutionStatus::Queued] {
            let summaries: Vec<Value> = self
                .table
                .pending(thing)
                .filter(|(_, execution)| execution.status == status)
                .map(|(job, execution)| execution_summary(job, execution))
                .collect();
            if !summaries.is_empty() {
                jobs.insert(status.as_str().to_owned(), Value::Array(summaries));
            }
        }
        Message {
            topic: jobs_topic(thing, "notify"),
            payload: json!({ "timestamp": seconds(now), "jobs": jobs }),
            kind: MessageKind::Notification,
        }
    }

    /// `$aws/things/<thing>/jobs/notify-next`: the next execution with its document, or no
    /// `execution` once nothing is pending.
    fn notify_next(&self, thing: &str, now: Millis, signer: &dyn UrlSigner) -> Result<Message> {
        let mut payload = json!({ "timestamp": seconds(now) });
        if let Some(index) = self.table.next_pending(thing) {
            let job = &self.table.jobs[index];
            let execution = &job.executions[thing];
            let document = job.rendered_document(signer)?;
            payload["execution"] = execution_json(job, thing, execution, now, Some(document));
        }
        Ok(Message {
            topic: jobs_topic(thing, "notify-next"),
            payload,
            kind: MessageKind::Notification,
        })
    }

    /// CreateJob: queues an execution for every target thing.
    pub fn create_job(
        &mut self,
        new: NewJob,
        now: Millis,
        signer: &dyn UrlSigner,
    ) -> Result<(String, Vec<Message>)> {
        if new.targets.is_empty() {
            bail!("a job needs at least one target thing");
        }
        if let Some(invalid) = new.targets.iter().find(|thing| !is_valid_thing_name(thing)) {
            bail!("invalid thing name {invalid:?}: 1-128 characters of a-z A-Z 0-9 : _ -");
        }
        let before = self.table.clone();
        let job_id = match new.job_id {
            Some(job_id) if !is_valid_job_id(&job_id) => {
                bail!("invalid job id {job_id:?}: 1-64 characters of a-z A-Z 0-9 _ -")
            }
            Some(job_id) if self.table.position(&job_id).is_some() => {
                bail!("job {job_id} already exists")
            }
            Some(job_id) => job_id,
            None => loop {
                self.table.next_job_number += 1;
                let job_id = format!("AFR_OTA-{}", self.table.next_job_number);
                if self.table.position(&job_id).is_none() {
                    break job_id;
                }
            },
        };
        let job = Job {
            job_id: job_id.clone(),
            status: JobStatus::InProgress,
            document: new.document,
            created_at: now,
            presigned_url_expiry_secs: new.presigned_url_expiry_secs,
            in_progress_timeout_minutes: new.in_progress_timeout_minutes,
            executions: new
                .targets
                .into_iter()
                .map(|thing| (thing, Execution::new(now)))
                .collect(),
        };
        self.table.jobs.push(job);
        let messages = self.commit(before, now, signer)?;
        Ok((job_id, messages))
    }

    /// CancelJob: queued executions are canceled; executions in progress only with `force`,
    /// as AWS does.
    pub fn cancel_job(
        &mut self,
        job_id: &str,
        force: bool,
        now: Millis,
        signer: &dyn UrlSigner,
    ) -> Result<(Value, Vec<Message>)> {
        let index = self
            .table
            .position(job_id)
            .ok_or_else(|| anyhow!("job {job_id} does not exist"))?;
        // A canceled job may be canceled again with force, to end what is still in progress.
        let status = self.table.jobs[index].status;
        if status == JobStatus::Completed || (status == JobStatus::Canceled && !force) {
            bail!("job {job_id} is {status:?} and cannot be canceled");
        }
        let before = self.table.clone();
        let job = &mut self.table.jobs[index];
        job.status = JobStatus::Canceled;
        for execution in job.executions.values_mut() {
            let cancel = match execution.status {
                ExecutionStatus::Queued => true,
                ExecutionStatus::InProgress => force,
                _ => false,
            };
            if cancel {
                execution.set_status(ExecutionStatus::Canceled, now);
            }
        }
        let messages = self.commit(before, now, signer)?;
        Ok((self.describe_job(job_id)?, messages))
    }

    /// The job, its stored document and every execution's status and details.
    pub fn describe_job(&self, job_id: &str) -> Result<Value> {
        let index = self
            .table
            .position(job_id)
            .ok_or_else(|| anyhow!("job {job_id} does not exist"))?;
        let job = &self.table.jobs[index];
        let executions: serde_json::Map<String, Value> = job
            .executions
            .iter()
            .map(|(thing, execution)| {
                let mut state = json!({
                    "status": execution.status,
                    "statusDetails": execution.status_details,
                    "versionNumber": execution.version_number,
                    "queuedAt": seconds(execution.queued_at),
                    "lastUpdatedAt": seconds(execution.last_updated_at),
                });
                if let Some(started_at) = execution.started_at {
                    state["startedAt"] = json!(seconds(started_at));
                }
                (thing.clone(), state)
            })
            .collect();
        Ok(json!({
            "jobId": job.job_id,
            "status": job.status,
            "createdAt": seconds(job.created_at),
            "presignedUrlConfig": { "expiresInSec": job.presigned_url_expiry_secs },
            "timeoutConfig": { "inProgressTimeoutInMinutes": job.in_progress_timeout_minutes },
            "document": job.document,
            "executions": executions,
        }))
    }

    /// Every job (or those targeting `thing`) with each execution's status.
    pub fn list_jobs(&self, thing: Option<&str>) -> Value {
        let jobs: Vec<Value> = self
            .table
            .jobs
            .iter()
            .filter(|job| thing.is_none_or(|thing| job.executions.contains_key(thing)))
            .map(|job| {
                let executions: serde_json::Map<String, Value> = job
                    .executions
                    .iter()
                    .map(|(thing, execution)| (thing.clone(), json!(execution.status)))
                    .collect();
                json!({
                    "jobId": job.job_id,
                    "status": job.status,
                    "createdAt": seconds(job.created_at),
                    "executions": executions,
                })
            })
            .collect();
        Value::Array(jobs)
    }

    /// When the next execution times out, if any timer runs.
    pub fn next_deadline(&self) -> Option<Millis> {
        self.table
            .jobs
            .iter()
            .flat_map(|job| job.executions.values())
            .filter_map(Execution::deadline)
            .min()
    }

    /// Sets TIMED_OUT on every execution whose step or in-progress timer ran out.
    pub fn time_out(&mut self, now: Millis, signer: &dyn UrlSigner) -> Result<Vec<Message>> {
        if self.next_deadline().is_none_or(|deadline| deadline > now) {
            return Ok(Vec::new());
        }
        let before = self.table.clone();
        for index in 0..self.table.jobs.len() {
            for execution in self.table.jobs[index].executions.values_mut() {
                if execution.deadline().is_some_and(|deadline| deadline <= now) {
                    execution.set_status(ExecutionStatus::TimedOut, now);
                }
            }
            self.table.settle_job_status(index);
        }
        self.commit(before, now, signer)
    }
}

/// What `notify` reports of the pending list, to tell whether it changed.
fn summaries_key<'a>(
    pending: impl Iterator<Item = (&'a Job, &'a Execution)>,
) -> Vec<(&'a str, ExecutionStatus)> {
    pending
        .map(|(job, execution)| (job.job_id.as_str(), execution.status))
        .collect()
}

pub(super) fn jobs_topic(thing: &str, rest: &str) -> String {
    format!("$aws/things/{thing}/jobs/{rest}")
}

/// `JobExecutionSummary`, as in `notify` and GetPendingJobExecutions.
pub(super) fn execution_summary(job: &Job, execution: &Execution) -> Value {
    let mut summary = json!({
        "jobId": job.job_id,
        "queuedAt": seconds(execution.queued_at),
        "lastUpdatedAt": seconds(execution.last_updated_at),
        "versionNumber": execution.version_number,
        "executionNumber": execution.execution_number,
    });
    if let Some(started_at) = execution.started_at {
        summary["startedAt"] = json!(seconds(started_at));
    }
    summary
}

/// `JobExecution`, with the document if it is to be delivered.
pub(super) fn execution_json(
    job: &Job,
    thing: &str,
    execution: &Execution,
    now: Millis,
    document: Option<Value>,
) -> Value {
    let mut json = json!({
        "jobId": job.job_id,
        "thingName": thing,
        "status": execution.status,
        "queuedAt": seconds(execution.queued_at),
        "lastUpdatedAt": seconds(execution.last_updated_at),
        "versionNumber": execution.version_number,
        "executionNumber": execution.execution_number,
    });
    if !execution.status_details.is_empty() {
        json["statusDetails"] = json!(execution.status_details);
    }
    if let Some(started_at) = execution.started_at {
        json["startedAt"] = json!(seconds(started_at));
    }
    if let Some(deadline) = execution.deadline() {
        json["approximateSecondsBeforeTimedOut"] =
            json!(deadline.saturating_sub(now).div_ceil(1000));
    }
    if let Some(document) = document {
        json["jobDocument"] = document;
    }
    json
}

/// `JobExecutionState`, as in UpdateJobExecution replies and errors.
pub(super) fn execution_state(execution: &Execution) -> Value {
    let mut state = json!({
        "status": execution.status,
        "versionNumber": execution.version_number,
    });
    if !execution.status_details.is_empty() {
        state["statusDetails"] = json!(execution.status_details);
    }
    state
}

/// AWS IoT thing names: 1-128 characters of `[a-zA-Z0-9:_-]`.
pub fn is_valid_thing_name(name: &str) -> bool {
    (1..=128).contains(&name.len())
        && name
            .bytes()
            .all(|byte| byte.is_ascii_alphanumeric() || matches!(byte, b':' | b'_' | b'-'))
}

/// AWS IoT job ids: 1-64 characters of `[a-zA-Z0-9_-]`.
pub fn is_valid_job_id(id: &str) -> bool {
    (1..=64).contains(&id.len())
        && id
            .bytes()
            .all(|byte| byte.is_ascii_alphanumeric() || matches!(byte, b'_' | b'-'))
}
