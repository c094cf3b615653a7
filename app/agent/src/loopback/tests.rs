//! The stand-in answers what the agent publishes as the Jobs API does, in the shapes the
//! agent's own parsers read.

use super::*;
use crate::job::{ErrorCode, ExecutionReply, Rejection as Rejected, UpdateAccepted};
use crate::jobs::{describe_request, start_next_request, update_request, DeviceStatus};
use crate::jobs::{StatusDetails, UpdateRequest};
use std::format;
use std::string::{String as StdString, ToString};
use std::vec::Vec;

const THING: &str = "w800-qemu";
const PREFIX: &str = "$aws/things/w800-qemu/jobs/";
const DOCUMENT: &[u8] = br#"{"afr_ota":{"protocols":["HTTP"],"files":[{"filepath":"app_ota.img","filesize":1000,"fileid":0,"certfile":"code-signing.crt","update_data_url":"https:\/\/loopback.invalid\/app_ota.img","auth_scheme":"aws.s3.presigned","sig-sha256-ecdsa":"MEUCIQ=="}]}}"#;

fn service(execution: ExecutionRecord) -> LoopbackJobs<'static> {
    LoopbackJobs::new(
        ThingName::new(THING).unwrap(),
        JobId::new("qemu-job-1").unwrap(),
        DOCUMENT,
        execution,
    )
    .unwrap()
}

/// Publishes `payload` on `$aws/things/<thing>/jobs/<suffix>`; what the service sent back.
fn publish(jobs: &mut LoopbackJobs<'_>, suffix: &str, payload: &[u8]) -> Vec<(StdString, Vec<u8>)> {
    let mut sent = Vec::new();
    let mut buf = [0u8; 2048];
    jobs.handle(
        &format!("{PREFIX}{suffix}"),
        payload,
        1_700_000_000,
        &mut buf,
        &mut |topic, bytes| sent.push((topic.to_string(), bytes.to_vec())),
    );
    sent
}

fn start_next(jobs: &mut LoopbackJobs<'_>, token: &str) -> Vec<(StdString, Vec<u8>)> {
    let mut buf = [0u8; 256];
    let len = start_next_request(&mut buf, token, &StatusDetails::new()).unwrap();
    publish(jobs, "start-next", &buf[..len])
}

fn update(
    jobs: &mut LoopbackJobs<'_>,
    status: DeviceStatus,
    details: &[(&str, &str)],
    expected: Option<u64>,
) -> Vec<(StdString, Vec<u8>)> {
    let mut request = UpdateRequest {
        status,
        details: StatusDetails::new(),
        expected_version: expected,
        client_token: "7:w800-qemu",
    };
    for (key, value) in details {
        request.details.insert(key, value).unwrap();
    }
    let mut buf = [0u8; 512];
    let len = update_request(&mut buf, &request).unwrap();
    publish(jobs, "qemu-job-1/update", &buf[..len])
}

#[test]
fn start_next_starts_the_queued_job_and_serves_its_document() {
    let mut jobs = service(ExecutionRecord::queued(1_600_000_000));
    let sent = start_next(&mut jobs, "1:w800-qemu");
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0].0, format!("{PREFIX}start-next/accepted"));
    let reply = ExecutionReply::parse(&sent[0].1).unwrap();
    assert_eq!(reply.client_token.as_deref(), Some("1:w800-qemu"));
    assert_eq!(reply.timestamp, Some(1_700_000_000));
    let execution = reply.execution.unwrap();
    assert_eq!(execution.job_id.as_str(), "qemu-job-1");
    assert_eq!(execution.status, Some(JobStatus::InProgress));
    assert_eq!(execution.version_number, Some(2));
    let document = execution.document.unwrap();
    assert_eq!(document.file.size, 1000);
    assert_eq!(
        document.file.url.as_deref(),
        Some("https://loopback.invalid/app_ota.img")
    );
    assert_eq!(jobs.execution().started_at, 1_700_000_000);

    // A second start-next returns the execution as it is.
    let again = start_next(&mut jobs, "2:w800-qemu");
    let execution = ExecutionReply::parse(&again[0].1)
        .unwrap()
        .execution
        .unwrap();
    assert_eq!(execution.version_number, Some(2));
}

#[test]
fn updates_keep_their_details_and_a_terminal_one_ends_the_job() {
    let mut jobs = service(ExecutionRecord::queued(1));
    start_next(&mut jobs, "1");
    let sent = update(
        &mut jobs,
        DeviceStatus::InProgress,
        &[("self_test", "ready"), ("updatedBy", "0.1.0")],
        Some(2),
    );
    assert_eq!(sent[0].0, format!("{PREFIX}qemu-job-1/update/accepted"));
    let accepted = UpdateAccepted::parse(&sent[0].1).unwrap();
    assert_eq!(accepted.client_token.as_deref(), Some("7:w800-qemu"));

    // The details come back with the execution.
    let mut buf = [0u8; 128];
    let len = describe_request(&mut buf, "3").unwrap();
    let described = publish(&mut jobs, "$next/get", &buf[..len]);
    assert_eq!(described[0].0, format!("{PREFIX}$next/get/accepted"));
    let execution = ExecutionReply::parse(&described[0].1)
        .unwrap()
        .execution
        .unwrap();
    assert_eq!(execution.version_number, Some(3));
    assert_eq!(execution.status_details.self_test.as_deref(), Some("ready"));
    assert_eq!(
        execution.status_details.updated_by.as_deref(),
        Some("0.1.0")
    );

    // SUCCEEDED: accepted, then notify-next says nothing is pending.
    let sent = update(
        &mut jobs,
        DeviceStatus::Succeeded,
        &[("reason", "accepted 0.1.1")],
        Some(3),
    );
    assert_eq!(sent.len(), 2);
    assert_eq!(sent[1].0, format!("{PREFIX}notify-next"));
    assert_eq!(ExecutionReply::parse(&sent[1].1).unwrap().execution, None);
    assert_eq!(jobs.execution().status, JobStatus::Succeeded);
    assert_eq!(
        jobs.execution().details.as_str(),
        r#""reason":"accepted 0.1.1""#
    );

    // After the end: no next job, the job's own execution is terminal, no more changes.
    let next = start_next(&mut jobs, "4");
    assert_eq!(ExecutionReply::parse(&next[0].1).unwrap().execution, None);
    let got = publish(&mut jobs, "qemu-job-1/get", b"{}");
    assert_eq!(got[0].0, format!("{PREFIX}qemu-job-1/get/rejected"));
    assert_eq!(
        Rejected::parse(&got[0].1).unwrap().code,
        ErrorCode::TerminalStateReached
    );
    let late = update(&mut jobs, DeviceStatus::Failed, &[], None);
    let rejected = Rejected::parse(&late[0].1).unwrap();
    assert_eq!(rejected.code, ErrorCode::InvalidStateTransition);
    assert_eq!(
        rejected.execution_state.unwrap().status,
        Some(JobStatus::Succeeded)
    );
    assert_eq!(late.len(), 1, "no second notification");
}

#[test]
fn a_stale_expected_version_is_rejected_with_the_execution_state() {
    let mut jobs = service(ExecutionRecord::queued(1));
    start_next(&mut jobs, "1");
    let sent = update(
        &mut jobs,
        DeviceStatus::InProgress,
        &[("receive", "1/2")],
        Some(1),
    );
    assert_eq!(sent[0].0, format!("{PREFIX}qemu-job-1/update/rejected"));
    let rejected = Rejected::parse(&sent[0].1).unwrap();
    assert_eq!(rejected.code, ErrorCode::VersionMismatch);
    assert_eq!(rejected.client_token.as_deref(), Some("7:w800-qemu"));
    let state = rejected.execution_state.unwrap();
    assert_eq!(state.version_number, Some(2));
    assert_eq!(state.status, Some(JobStatus::InProgress));
    assert_eq!(jobs.execution().version, 2, "nothing changed");
}

#[test]
fn bad_requests_are_rejected_by_code_and_foreign_topics_get_no_answer() {
    let mut jobs = service(ExecutionRecord::queued(1));
    let sent = publish(&mut jobs, "start-next", b"{\"clientToken\":");
    assert_eq!(
        Rejected::parse(&sent[0].1).unwrap().code,
        ErrorCode::InvalidJson
    );
    let sent = publish(
        &mut jobs,
        "start-next",
        br#"{"statusDetails":{"bad key":"x"},"clientToken":"5"}"#,
    );
    let rejected = Rejected::parse(&sent[0].1).unwrap();
    assert_eq!(rejected.code, ErrorCode::InvalidRequest);
    assert_eq!(rejected.client_token.as_deref(), Some("5"));
    assert_eq!(
        jobs.execution().status,
        JobStatus::Queued,
        "nothing started"
    );
    let sent = publish(&mut jobs, "qemu-job-1/update", br#"{"status":"DONE"}"#);
    assert_eq!(
        Rejected::parse(&sent[0].1).unwrap().code,
        ErrorCode::InvalidRequest
    );
    let sent = publish(&mut jobs, "qemu-job-1/update", br#"{"status":"CANCELED"}"#);
    assert_eq!(
        Rejected::parse(&sent[0].1).unwrap().code,
        ErrorCode::InvalidStateTransition
    );
    let sent = publish(&mut jobs, "other-job/get", b"");
    assert_eq!(sent[0].0, format!("{PREFIX}other-job/get/rejected"));
    assert_eq!(
        Rejected::parse(&sent[0].1).unwrap().code,
        ErrorCode::ResourceNotFound
    );

    let mut sent = 0;
    let mut buf = [0u8; 512];
    for topic in [
        "$aws/things/another-thing/jobs/start-next",
        "$aws/things/w800-qemu/jobs/notify-next",
        "$aws/things/w800-qemu/shadow/get",
        "$aws/things/w800-qemu/jobs/a/b/c",
    ] {
        jobs.handle(topic, b"{}", 1, &mut buf, &mut |_, _| sent += 1);
    }
    assert_eq!(sent, 0);
}

#[test]
fn a_reply_that_does_not_fit_the_buffer_is_not_sent() {
    let mut jobs = service(ExecutionRecord::queued(1));
    let mut buf = [0u8; 100];
    let mut sent = 0;
    jobs.handle(
        &format!("{PREFIX}start-next"),
        b"{}",
        1,
        &mut buf,
        &mut |_, _| sent += 1,
    );
    assert_eq!(sent, 0);
    assert_eq!(
        jobs.execution().status,
        JobStatus::InProgress,
        "the request still counted"
    );
}

#[test]
fn a_document_that_is_not_json_is_refused_as_the_service_refuses_the_job() {
    let made = LoopbackJobs::new(
        ThingName::new(THING).unwrap(),
        JobId::new("qemu-job-1").unwrap(),
        b"{\"afr_ota\":",
        ExecutionRecord::queued(1),
    );
    assert_eq!(made.unwrap_err(), BadDocument(JsonError::Truncated));
}

#[test]
fn the_record_round_trips_and_anything_else_reads_as_none() {
    let mut record = ExecutionRecord::queued(1_600_000_000);
    record.status = JobStatus::InProgress;
    record.version = 7;
    record.started_at = 1_600_000_100;
    record.updated_at = 1_600_000_200;
    record.details = String::try_from(r#""self_test":"ready","updatedBy":"0.1.0""#).unwrap();
    let bytes = record.to_bytes();
    assert_eq!(ExecutionRecord::parse(&bytes), Some(record.clone()));

    assert_eq!(
        ExecutionRecord::parse(&[0u8; RECORD_LEN]),
        None,
        "zeroed RAM"
    );
    for cut in 0..RECORD_HEAD + record.details.len() {
        assert_eq!(ExecutionRecord::parse(&bytes[..cut]), None, "cut at {cut}");
    }
    let mut bad_status = bytes;
    bad_status[4] = JobStatus::ALL.len() as u8;
    assert_eq!(ExecutionRecord::parse(&bad_status), None);
    let mut bad_len = bytes;
    bad_len[37..39].copy_from_slice(&(DETAILS_MAX as u16 + 1).to_le_bytes());
    assert_eq!(ExecutionRecord::parse(&bad_len), None);
    let mut bad_text = bytes;
    bad_text[RECORD_HEAD] = 0xFF;
    assert_eq!(ExecutionRecord::parse(&bad_text), None);
}

/// Found by fuzzing (fuzz/regressions/jobs/): details that are text but not JSON members
/// went into every reply as they were, and the agent could not read any of them.
#[test]
fn a_record_whose_details_are_not_json_members_reads_as_none() {
    let mut record = ExecutionRecord::queued(1_600_000_000);
    for details in [
        r#""self_test{"status":"IN_PROGRE":"reSS","ad"#,
        r#""a":"b"}"#,
        r#""a":"b","#,
        r#""a""#,
    ] {
        record.details = String::try_from(details).unwrap();
        assert_eq!(
            ExecutionRecord::parse(&record.to_bytes()),
            None,
            "{details}"
        );
    }
    record.details = String::try_from(r#""a":"b","c":"d""#).unwrap();
    assert_eq!(ExecutionRecord::parse(&record.to_bytes()), Some(record));
}

/// Found by fuzzing (fuzz/regressions/jobs/): a stored record at the largest version made the
/// next change overflow.
#[test]
fn a_record_at_the_largest_version_still_changes() {
    let mut record = ExecutionRecord::queued(1);
    record.version = u64::MAX;
    let mut jobs = service(ExecutionRecord::parse(&record.to_bytes()).unwrap());
    let sent = start_next(&mut jobs, "1");
    let execution = ExecutionReply::parse(&sent[0].1)
        .unwrap()
        .execution
        .unwrap();
    assert_eq!(execution.status, Some(JobStatus::InProgress));
    assert_eq!(execution.version_number, Some(u64::MAX));
}
