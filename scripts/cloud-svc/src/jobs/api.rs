//! The AWS IoT Jobs device MQTT API: requests on `$aws/things/<thing>/jobs/…`, answers on
//! `<request topic>/accepted` or `/rejected` that echo `clientToken` and add `timestamp`.

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use super::document::UrlSigner;
use super::table::{
    execution_json, execution_state, execution_summary, is_valid_job_id, is_valid_thing_name,
    seconds, ExecutionStatus, Jobs, Message, MessageKind, Millis, StatusDetails,
};

/// What the jobs service subscribes to: every request topic of every thing.
pub const REQUEST_TOPICS: [&str; 4] = [
    "$aws/things/+/jobs/get",
    "$aws/things/+/jobs/start-next",
    "$aws/things/+/jobs/+/get",
    "$aws/things/+/jobs/+/update",
];

const MAX_CLIENT_TOKEN_BYTES: usize = 64;
/// `stepTimeoutInMinutes`: one minute to seven days.
const STEP_TIMEOUT_MINUTES: std::ops::RangeInclusive<i64> = 1..=10_080;
/// UpdateJobExecution's `stepTimeoutInMinutes` value that stops the step timer.
const STOP_STEP_TIMER: i64 = -1;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
enum ErrorCode {
    InvalidTopic,
    InvalidJson,
    InvalidRequest,
    InvalidStateTransition,
    ResourceNotFound,
    VersionMismatch,
    InternalError,
    TerminalStateReached,
}

/// An `ErrorResponse`: `executionState` is there for InvalidStateTransition and
/// VersionMismatch, so that the device needs no second request to learn the state.
#[derive(Debug)]
struct Rejection {
    code: ErrorCode,
    message: String,
    execution_state: Option<Value>,
}

impl Rejection {
    fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        Self {
            code,
            message: message.into(),
            execution_state: None,
        }
    }
}

enum Operation<'a> {
    GetPending,
    StartNext,
    Describe(JobSelector<'a>),
    Update(&'a str),
}

enum JobSelector<'a> {
    Next,
    Id(&'a str),
}

#[derive(Default, Deserialize)]
#[serde(rename_all = "camelCase")]
struct StartNextRequest {
    status_details: Option<StatusDetails>,
    step_timeout_in_minutes: Option<i64>,
}

#[derive(Default, Deserialize)]
#[serde(rename_all = "camelCase")]
struct DescribeRequest {
    execution_number: Option<u64>,
    include_job_document: Option<bool>,
}

#[derive(Default, Deserialize)]
#[serde(rename_all = "camelCase")]
struct UpdateRequest {
    status: Option<String>,
    status_details: Option<StatusDetails>,
    expected_version: Option<u64>,
    execution_number: Option<u64>,
    include_job_execution_state: Option<bool>,
    include_job_document: Option<bool>,
    step_timeout_in_minutes: Option<i64>,
}

/// Splits `$aws/things/<thing>/jobs/<operation>` into the thing and the operation.
fn parse_topic(topic: &str) -> Option<(&str, Result<Operation<'_>, Rejection>)> {
    let rest = topic.strip_prefix("$aws/things/")?;
    let (thing, operation) = rest.split_once("/jobs/")?;
    if !is_valid_thing_name(thing) {
        return Some((
            thing,
            Err(Rejection::new(
                ErrorCode::InvalidTopic,
                "invalid thing name",
            )),
        ));
    }
    let operation = match operation.split('/').collect::<Vec<_>>().as_slice() {
        ["get"] => Ok(Operation::GetPending),
        ["start-next"] => Ok(Operation::StartNext),
        ["$next", "get"] => Ok(Operation::Describe(JobSelector::Next)),
        [job_id, "get"] if is_valid_job_id(job_id) => {
            Ok(Operation::Describe(JobSelector::Id(job_id)))
        }
        [job_id, "update"] if is_valid_job_id(job_id) => Ok(Operation::Update(job_id)),
        _ => Err(Rejection::new(
            ErrorCode::InvalidTopic,
            format!("{topic} is not an AWS IoT Jobs API topic"),
        )),
    };
    Some((thing, operation))
}

/// Parses a request body. The client token comes back on its own so that even a rejected
/// request gets its token echoed. An empty payload is taken as `{}`: WinnerMicro's jobs demo
/// publishes empty start-next requests to AWS IoT.
fn parse_request<T: DeserializeOwned + Default>(
    payload: &[u8],
) -> (Option<String>, Result<T, Rejection>) {
    if payload.iter().all(u8::is_ascii_whitespace) {
        return (None, Ok(T::default()));
    }
    let value: Value = match serde_json::from_slice(payload) {
        Ok(value) => value,
        Err(error) => {
            let rejection =
                Rejection::new(ErrorCode::InvalidJson, format!("invalid JSON: {error}"));
            return (None, Err(rejection));
        }
    };
    let Value::Object(fields) = &value else {
        let rejection = Rejection::new(
            ErrorCode::InvalidRequest,
            "the request must be a JSON object",
        );
        return (None, Err(rejection));
    };
    let client_token = match fields.get("clientToken") {
        None => None,
        Some(Value::String(token)) if token.len() <= MAX_CLIENT_TOKEN_BYTES => Some(token.clone()),
        Some(_) => {
            let rejection = Rejection::new(
                ErrorCode::InvalidRequest,
                format!("clientToken must be a string of at most {MAX_CLIENT_TOKEN_BYTES} bytes"),
            );
            return (None, Err(rejection));
        }
    };
    let request = serde_json::from_value(value)
        .map_err(|error| Rejection::new(ErrorCode::InvalidRequest, error.to_string()));
    (client_token, request)
}

/// statusDetails: keys of 1-128 characters of `[a-zA-Z0-9:_-]`, values of 1-1024 characters
/// with no control characters.
fn validate_status_details(details: &StatusDetails) -> Result<(), Rejection> {
    for (key, value) in details {
        let key_ok = (1..=128).contains(&key.chars().count())
            && key
                .bytes()
                .all(|byte| byte.is_ascii_alphanumeric() || matches!(byte, b':' | b'_' | b'-'));
        let value_ok =
            (1..=1024).contains(&value.chars().count()) && !value.chars().any(char::is_control);
        if !key_ok || !value_ok {
            return Err(Rejection::new(
                ErrorCode::InvalidRequest,
                format!("invalid statusDetails entry {key:?}"),
            ));
        }
    }
    Ok(())
}

fn validate_step_timeout(minutes: Option<i64>, may_stop: bool) -> Result<(), Rejection> {
    match minutes {
        None => Ok(()),
        Some(minutes) if STEP_TIMEOUT_MINUTES.contains(&minutes) => Ok(()),
        Some(STOP_STEP_TIMER) if may_stop => Ok(()),
        Some(minutes) => Err(Rejection::new(
            ErrorCode::InvalidRequest,
            format!("stepTimeoutInMinutes {minutes} is outside 1-10080"),
        )),
    }
}

impl Jobs {
    /// Handles one message on a request topic and returns what to publish: the reply, then
    /// the notifications the request caused.
    pub fn handle_request(
        &mut self,
        topic: &str,
        payload: &[u8],
        now: Millis,
        signer: &dyn UrlSigner,
    ) -> Vec<Message> {
        let Some((thing, operation)) = parse_topic(topic) else {
            return Vec::new();
        };
        let mut notifications = Vec::new();
        let (client_token, outcome) = match operation {
            Err(rejection) => (parse_request::<Value>(payload).0, Err(rejection)),
            Ok(Operation::GetPending) => {
                let (token, request) = parse_request::<Value>(payload);
                (token, request.map(|_| self.get_pending(thing)))
            }
            Ok(Operation::StartNext) => {
                let (token, request) = parse_request(payload);
                let outcome = request.and_then(|request| {
                    self.start_next(thing, request, now, signer, &mut notifications)
                });
                (token, outcome)
            }
            Ok(Operation::Describe(selector)) => {
                let (token, request) = parse_request(payload);
                let outcome = request
                    .and_then(|request| self.describe(thing, &selector, &request, now, signer));
                (token, outcome)
            }
            Ok(Operation::Update(job_id)) => {
                let (token, request) = parse_request(payload);
                let outcome = request.and_then(|request| {
                    self.update(thing, job_id, request, now, signer, &mut notifications)
                });
                (token, outcome)
            }
        };
        let (suffix, mut payload) = match outcome {
            Ok(body) => ("accepted", body),
            Err(rejection) => {
                let mut body = json!({ "code": rejection.code, "message": rejection.message });
                if let Some(state) = rejection.execution_state {
                    body["executionState"] = state;
                }
                ("rejected", body)
            }
        };
        payload["timestamp"] = json!(seconds(now));
        if let Some(token) = client_token {
            payload["clientToken"] = json!(token);
        }
        let reply = Message {
            topic: format!("{topic}/{suffix}"),
            payload,
            kind: MessageKind::Reply,
        };
        std::iter::once(reply).chain(notifications).collect()
    }

    /// GetPendingJobExecutions.
    fn get_pending(&self, thing: &str) -> Value {
        let (in_progress, queued): (Vec<_>, Vec<_>) = self
            .table
            .pending(thing)
            .partition(|(_, execution)| execution.status == ExecutionStatus::InProgress);
        let summaries = |list: Vec<_>| -> Vec<Value> {
            list.into_iter()
                .map(|(job, execution)| execution_summary(job, execution))
                .collect()
        };
        json!({ "inProgressJobs": summaries(in_progress), "queuedJobs": summaries(queued) })
    }

    /// StartNextPendingJobExecution: the next execution, moved from QUEUED to IN_PROGRESS. One
    /// that is already in progress is returned as it is.
    fn start_next(
        &mut self,
        thing: &str,
        request: StartNextRequest,
        now: Millis,
        signer: &dyn UrlSigner,
        notifications: &mut Vec<Message>,
    ) -> Result<Value, Rejection> {
        if let Some(details) = &request.status_details {
            validate_status_details(details)?;
        }
        validate_step_timeout(request.step_timeout_in_minutes, false)?;
        let Some(index) = self.table.next_pending(thing) else {
            return Ok(json!({}));
        };
        if self.table.jobs[index].executions[thing].status == ExecutionStatus::Queued {
            let before = self.table.clone();
            let step_deadline = request
                .step_timeout_in_minutes
                .and_then(|minutes| u32::try_from(minutes).ok())
                .map(|minutes| now + self.minutes(minutes));
            let in_progress_deadline = self.table.jobs[index]
                .in_progress_timeout_minutes
                .map(|minutes| now + self.minutes(minutes));
            let Some(execution) = self.table.jobs[index].executions.get_mut(thing) else {
                return Err(internal_error("the execution vanished"));
            };
            execution.set_status(ExecutionStatus::InProgress, now);
            execution.started_at = Some(now);
            if let Some(details) = request.status_details {
                execution.status_details = details;
            }
            execution.step_deadline = step_deadline;
            execution.in_progress_deadline = in_progress_deadline;
            notifications.extend(self.commit(before, now, signer).map_err(internal_error)?);
        }
        let job = &self.table.jobs[index];
        let document = job.rendered_document(signer).map_err(internal_error)?;
        let execution = execution_json(job, thing, &job.executions[thing], now, Some(document));
        Ok(json!({ "execution": execution }))
    }

    /// DescribeJobExecution, of a job by id or of `$next`.
    fn describe(
        &self,
        thing: &str,
        selector: &JobSelector<'_>,
        request: &DescribeRequest,
        now: Millis,
        signer: &dyn UrlSigner,
    ) -> Result<Value, Rejection> {
        let index = match selector {
            JobSelector::Next => match self.table.next_pending(thing) {
                Some(index) => index,
                // Nothing pending: accepted, with no execution.
                None => return Ok(json!({})),
            },
            JobSelector::Id(job_id) => self.execution_index(thing, job_id)?,
        };
        let job = &self.table.jobs[index];
        let execution = &job.executions[thing];
        if request
            .execution_number
            .is_some_and(|number| number != execution.execution_number)
        {
            return Err(not_found(thing, &job.job_id));
        }
        if !execution.status.is_pending() {
            return Err(Rejection::new(
                ErrorCode::TerminalStateReached,
                format!("job execution {} is {}", job.job_id, execution.status),
            ));
        }
        let document = if request.include_job_document.unwrap_or(true) {
            Some(job.rendered_document(signer).map_err(internal_error)?)
        } else {
            None
        };
        Ok(json!({ "execution": execution_json(job, thing, execution, now, document) }))
    }

    /// UpdateJobExecution.
    fn update(
        &mut self,
        thing: &str,
        job_id: &str,
        request: UpdateRequest,
        now: Millis,
        signer: &dyn UrlSigner,
        notifications: &mut Vec<Message>,
    ) -> Result<Value, Rejection> {
        let status_text = request
            .status
            .as_deref()
            .ok_or_else(|| Rejection::new(ErrorCode::InvalidRequest, "status is required"))?;
        let status: ExecutionStatus = status_text.parse().map_err(|()| {
            Rejection::new(
                ErrorCode::InvalidRequest,
                format!("unknown status {status_text:?}"),
            )
        })?;
        if let Some(details) = &request.status_details {
            validate_status_details(details)?;
        }
        validate_step_timeout(request.step_timeout_in_minutes, true)?;
        let index = self.execution_index(thing, job_id)?;
        let current = &self.table.jobs[index].executions[thing];
        if request
            .execution_number
            .is_some_and(|number| number != current.execution_number)
        {
            return Err(not_found(thing, job_id));
        }
        if let Some(expected) = request
            .expected_version
            .filter(|&expected| expected != current.version_number)
        {
            return Err(Rejection {
                code: ErrorCode::VersionMismatch,
                message: format!(
                    "expectedVersion {expected} is not the current version {}",
                    current.version_number
                ),
                execution_state: Some(execution_state(current)),
            });
        }
        if !current.status.is_pending() || !status.is_reportable_by_device() {
            return Err(Rejection {
                code: ErrorCode::InvalidStateTransition,
                message: format!(
                    "cannot change job execution from {} to {status}",
                    current.status
                ),
                execution_state: Some(execution_state(current)),
            });
        }

        let before = self.table.clone();
        let step_deadline = match request.step_timeout_in_minutes {
            Some(STOP_STEP_TIMER) => None,
            Some(minutes) => u32::try_from(minutes)
                .ok()
                .map(|minutes| now + self.minutes(minutes)),
            None => current.step_deadline,
        };
        let in_progress_timeout = self.table.jobs[index]
            .in_progress_timeout_minutes
            .map(|minutes| self.minutes(minutes));
        let Some(execution) = self.table.jobs[index].executions.get_mut(thing) else {
            return Err(internal_error("the execution vanished"));
        };
        let starting =
            execution.status == ExecutionStatus::Queued && status == ExecutionStatus::InProgress;
        execution.set_status(status, now);
        if status == ExecutionStatus::InProgress {
            execution.step_deadline = step_deadline;
        }
        if starting {
            execution.started_at = Some(now);
            execution.in_progress_deadline = in_progress_timeout.map(|timeout| now + timeout);
        }
        if let Some(details) = request.status_details {
            execution.status_details = details;
        }
        self.table.settle_job_status(index);
        notifications.extend(self.commit(before, now, signer).map_err(internal_error)?);

        let job = &self.table.jobs[index];
        let mut reply = json!({});
        if request.include_job_execution_state.unwrap_or(false) {
            reply["executionState"] = execution_state(&job.executions[thing]);
        }
        if request.include_job_document.unwrap_or(false) {
            reply["jobDocument"] = job.rendered_document(signer).map_err(internal_error)?;
        }
        Ok(reply)
    }

    fn execution_index(&self, thing: &str, job_id: &str) -> Result<usize, Rejection> {
        self.table
            .position(job_id)
            .filter(|&index| self.table.jobs[index].executions.contains_key(thing))
            .ok_or_else(|| not_found(thing, job_id))
    }
}

fn not_found(thing: &str, job_id: &str) -> Rejection {
    Rejection::new(
        ErrorCode::ResourceNotFound,
        format!("no execution of job {job_id} for thing {thing}"),
    )
}

fn internal_error(error: impl std::fmt::Display) -> Rejection {
    Rejection::new(ErrorCode::InternalError, error.to_string())
}
