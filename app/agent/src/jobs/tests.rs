use super::*;
use crate::job::{ExecutionReply, ExecutionState};
use std::format;
use std::string::String as StdString;

fn topics() -> Topics {
    Topics::new(ThingName::new("w800-demo-1").unwrap())
}

fn job(id: &str) -> JobId {
    JobId::new(id).unwrap()
}

#[test]
fn names_follow_the_jobs_api() {
    assert!(ThingName::new("w800:demo_1-A").is_ok());
    assert_eq!(ThingName::new(""), Err(NameError::Length));
    assert_eq!(ThingName::new("a/b"), Err(NameError::Character));
    assert_eq!(ThingName::new("a+"), Err(NameError::Character));
    assert!(ThingName::new(&"t".repeat(128)).is_ok());
    assert_eq!(ThingName::new(&"t".repeat(129)), Err(NameError::Length));
    assert!(JobId::new("AFR_OTA-1").is_ok());
    assert_eq!(JobId::new("a:b"), Err(NameError::Character));
    assert_eq!(JobId::new("$next"), Err(NameError::Character));
    assert!(JobId::new(&"j".repeat(64)).is_ok());
    assert_eq!(JobId::new(&"j".repeat(65)), Err(NameError::Length));
}

#[test]
fn builds_the_topics() {
    let topics = topics();
    let j = job("AFR_OTA-TEST_19");
    let prefix = "$aws/things/w800-demo-1/jobs/";
    for (topic, suffix) in [
        (topics.notify_next(), "notify-next"),
        (topics.start_next(), "start-next"),
        (
            topics.start_next_reply(Reply::Accepted),
            "start-next/accepted",
        ),
        (
            topics.start_next_reply(Reply::Rejected),
            "start-next/rejected",
        ),
        (topics.next_get(), "$next/get"),
        (topics.next_get_reply(Reply::Accepted), "$next/get/accepted"),
        (topics.next_get_reply(Reply::Rejected), "$next/get/rejected"),
        (topics.job_get(&j), "AFR_OTA-TEST_19/get"),
        (topics.update(&j), "AFR_OTA-TEST_19/update"),
        (
            topics.update_reply(&j, Reply::Accepted),
            "AFR_OTA-TEST_19/update/accepted",
        ),
        (
            topics.update_reply(&j, Reply::Rejected),
            "AFR_OTA-TEST_19/update/rejected",
        ),
    ] {
        assert_eq!(topic.as_str(), format!("{prefix}{suffix}"));
    }
    let subscriptions = topics.subscriptions();
    assert_eq!(subscriptions[0].as_str(), format!("{prefix}notify-next"));
    assert_eq!(subscriptions[3].as_str(), format!("{prefix}+/update/+"));
}

#[test]
fn the_longest_topic_fits() {
    let topics = Topics::new(ThingName::new(&"t".repeat(THING_NAME_MAX)).unwrap());
    let j = job(&"j".repeat(JOB_ID_MAX));
    let topic = topics.update_reply(&j, Reply::Accepted);
    assert_eq!(topic.len(), 12 + 128 + 6 + 64 + 16);
    assert!(topic.ends_with("/update/accepted"));
}

#[test]
fn classifies_incoming_topics() {
    let topics = topics();
    let j = job("job-7");
    for (topic, kind) in [
        (topics.notify_next(), JobsTopic::NotifyNext),
        (
            topics.start_next_reply(Reply::Accepted),
            JobsTopic::StartNext(Reply::Accepted),
        ),
        (
            topics.start_next_reply(Reply::Rejected),
            JobsTopic::StartNext(Reply::Rejected),
        ),
        (
            topics.next_get_reply(Reply::Accepted),
            JobsTopic::NextGet(Reply::Accepted),
        ),
        (
            topics.next_get_reply(Reply::Rejected),
            JobsTopic::NextGet(Reply::Rejected),
        ),
        (
            topics.update_reply(&j, Reply::Accepted),
            JobsTopic::Update(j.clone(), Reply::Accepted),
        ),
        (
            topics.update_reply(&j, Reply::Rejected),
            JobsTopic::Update(j.clone(), Reply::Rejected),
        ),
    ] {
        assert_eq!(topics.classify(&topic), Some(kind), "{topic}");
    }
    assert_eq!(
        topics.classify("$aws/things/w800-demo-1/jobs/job-7/get/accepted"),
        Some(JobsTopic::JobGet(j.clone(), Reply::Accepted))
    );
    for topic in [
        "$aws/things/other/jobs/notify-next",
        "$aws/things/w800-demo-10/jobs/notify-next",
        "$aws/things/w800-demo-1/jobs/notify",
        "$aws/things/w800-demo-1/jobs/start-next",
        "$aws/things/w800-demo-1/jobs/job-7/update",
        "$aws/things/w800-demo-1/jobs/job-7/update/other",
        "$aws/things/w800-demo-1/jobs/bad:id/update/accepted",
        "$aws/things/w800-demo-1/jobs/a/b/update/accepted",
        "$aws/things/w800-demo-1/jobs/job-7/delete/accepted",
        "$aws/things/w800-demo-1/shadow/update/accepted",
        "",
    ] {
        assert_eq!(topics.classify(topic), None, "{topic}");
    }
}

fn text(buf: &[u8], len: usize) -> &str {
    core::str::from_utf8(&buf[..len]).unwrap()
}

#[test]
fn writes_start_next_and_describe() {
    let mut buf = [0u8; 256];
    let len = start_next_request(&mut buf, "0000002a-1", &StatusDetails::new()).unwrap();
    assert_eq!(text(&buf, len), r#"{"clientToken":"0000002a-1"}"#);
    let mut details = StatusDetails::new();
    details.insert("state", "booting").unwrap();
    let len = start_next_request(&mut buf, "t", &details).unwrap();
    assert_eq!(
        text(&buf, len),
        r#"{"clientToken":"t","statusDetails":{"state":"booting"}}"#
    );
    let len = describe_request(&mut buf, "t\"1").unwrap();
    assert_eq!(text(&buf, len), r#"{"clientToken":"t\"1"}"#);
    // What is sent comes back in the reply as the client token.
    let reply = ExecutionReply::parse(&buf[..len]).unwrap();
    assert_eq!(reply.client_token.as_deref(), Some("t\"1"));
    assert_eq!(reply.execution, None);
}

#[test]
fn writes_an_update_with_escapes() {
    let mut details = StatusDetails::new();
    details
        .insert("reason", "doc-parse: \"x\\y\"\n\u{1}é")
        .unwrap();
    details.insert("updatedBy", "0.9.3").unwrap();
    let request = UpdateRequest {
        status: DeviceStatus::Failed,
        details,
        expected_version: Some(7),
        client_token: "0000002a-9",
    };
    let mut buf = [0u8; 256];
    let len = update_request(&mut buf, &request).unwrap();
    assert_eq!(
        text(&buf, len),
        r#"{"status":"FAILED","statusDetails":{"reason":"doc-parse: \"x\\y\"\n\u0001é","updatedBy":"0.9.3"},"expectedVersion":7,"clientToken":"0000002a-9"}"#
    );
    // The body reads back as an execution state: status and details as sent.
    let state = ExecutionState::parse(&buf[..len]).unwrap();
    assert_eq!(state.status, Some(JobStatus::Failed));
    assert_eq!(state.status_details.updated_by.as_deref(), Some("0.9.3"));

    let request = UpdateRequest {
        status: DeviceStatus::InProgress,
        details: StatusDetails::new(),
        expected_version: None,
        client_token: "t",
    };
    let len = update_request(&mut buf, &request).unwrap();
    assert_eq!(
        text(&buf, len),
        r#"{"status":"IN_PROGRESS","clientToken":"t"}"#
    );
}

#[test]
fn status_details_round_trip() {
    let mut details = StatusDetails::new();
    details.insert("self_test", "ready").unwrap();
    details
        .insert("updatedBy", "v1.2.3-rc.1 \"quoted\" \\ /")
        .unwrap();
    let request = UpdateRequest {
        status: DeviceStatus::InProgress,
        details,
        expected_version: Some(2),
        client_token: "t",
    };
    let mut buf = [0u8; 256];
    let len = update_request(&mut buf, &request).unwrap();
    let body = text(&buf, len);
    let reply = format!(
        r#"{{"execution":{{"jobId":"j","status":"IN_PROGRESS","versionNumber":3,"statusDetails":{}}}}}"#,
        &body[body.find("{\"self_test").unwrap()..body.find(",\"expectedVersion").unwrap()]
    );
    let execution = ExecutionReply::parse(reply.as_bytes())
        .unwrap()
        .execution
        .unwrap();
    assert_eq!(execution.status_details.self_test.as_deref(), Some("ready"));
    assert_eq!(
        execution.status_details.updated_by.as_deref(),
        Some("v1.2.3-rc.1 \"quoted\" \\ /")
    );
}

#[test]
fn refuses_what_the_api_would() {
    let mut details = StatusDetails::new();
    for i in 0..STATUS_DETAILS_MAX {
        details
            .insert(["a", "b", "c", "d", "e", "f", "g", "h", "i", "j"][i], "v")
            .unwrap();
    }
    assert_eq!(details.insert("k", "v"), Err(EmitError::TooManyDetails));
    let long_key = "k".repeat(DETAIL_KEY_MAX + 1);
    let long_value = "v".repeat(DETAIL_VALUE_MAX + 1);
    let value = "v".repeat(DETAIL_VALUE_MAX);
    let mut details = StatusDetails::new();
    assert_eq!(details.insert("", "v"), Err(EmitError::DetailKey));
    assert_eq!(details.insert("a b", "v"), Err(EmitError::DetailKey));
    assert_eq!(details.insert(&long_key, "v"), Err(EmitError::DetailKey));
    assert_eq!(details.insert("k", ""), Err(EmitError::DetailValue));
    assert_eq!(
        details.insert("k", &long_value),
        Err(EmitError::DetailValue)
    );
    assert_eq!(details.insert("k", &value), Ok(()));

    let mut small = [0u8; 16];
    assert_eq!(
        describe_request(&mut small, "0123456789abcdef"),
        Err(EmitError::BufferFull)
    );
    let long_token: StdString = "t".repeat(CLIENT_TOKEN_MAX + 1);
    let mut buf = [0u8; 256];
    assert_eq!(
        describe_request(&mut buf, &long_token),
        Err(EmitError::ClientToken)
    );
    assert_eq!(
        start_next_request(&mut buf, &long_token, &StatusDetails::new()),
        Err(EmitError::ClientToken)
    );
}

#[test]
fn statuses_have_their_api_names() {
    for status in JobStatus::ALL {
        assert_eq!(JobStatus::from_name(status.as_str()), Some(status));
    }
    assert_eq!(JobStatus::from_name("in_progress"), None);
    assert!(!JobStatus::InProgress.is_terminal());
    assert!(JobStatus::Canceled.is_terminal());
    assert_eq!(DeviceStatus::Rejected.status(), JobStatus::Rejected);
}
