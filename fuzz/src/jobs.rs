//! The job document and the Jobs API replies (`ota_agent::job`), the topics they arrive on
//! (`ota_agent::jobs`), and the in-memory Jobs API that answers the agent on boards without a
//! network (`ota_agent::loopback`).
//!
//! Input: an MQTT payload. It goes to each reply parser, to the topic classifier (as a topic),
//! to the stored execution record's parser, and as the request of every Jobs operation to the
//! loopback service. An input that starts with the record's magic `LJOB` gives that service
//! its execution (its first `RECORD_LEN` bytes) and the rest is the request.
//!
//! Contract: no parser panics; a reply parsed in place into a buffer that held another reply
//! comes out as the same reply parsed afresh (nothing of the one before is left); a document's
//! URL that is accepted has no control character or space (it goes into a request line); an
//! execution record that parses is stored as bytes
//! that parse to the same record, before and after the service changed it; every reply the
//! loopback service sends is JSON that the agent's parser for that topic can read (an error
//! there may only be about the content, never the syntax).

use ota_agent::job::{self, ExecutionReply, ExecutionState, Rejection, UpdateAccepted};
use ota_agent::jobs::{JobId, ThingName, Topics};
use ota_agent::loopback::{ExecutionRecord, LoopbackJobs, RECORD_LEN};
use ota_agent::JsonError;

const THING: &str = "w800-qemu";
const JOB: &str = "qemu-job-1";
/// The loopback tests' job document.
const DOCUMENT: &[u8] = br#"{"afr_ota":{"protocols":["HTTP"],"files":[{"filepath":"app_ota.img","filesize":1000,"fileid":0,"certfile":"code-signing.crt","update_data_url":"https:\/\/loopback.invalid\/app_ota.img","auth_scheme":"aws.s3.presigned","sig-sha256-ecdsa":"MEUCIQ=="}]}}"#;
/// The requests, after `$aws/things/<thing>/jobs/`: every operation, and one on another job.
const OPERATIONS: [&str; 5] = [
    "start-next",
    "$next/get",
    "qemu-job-1/get",
    "qemu-job-1/update",
    "other-job/update",
];
const NOW: u64 = 1_700_000_000;

/// A reply with every member the agent reads, the one that a reply parsed in place follows.
const FULL_REPLY: &[u8] = br#"{"clientToken":"1:w800-qemu","timestamp":1739165753,"execution":{"jobId":"AFR_OTA-TEST_19","status":"IN_PROGRESS","versionNumber":3,"executionNumber":1,"statusDetails":{"self_test":"ready","updatedBy":"0.9.3"},"jobDocument":{"afr_ota":{"protocols":["MQTT","HTTP"],"files":[{"filepath":"test","filesize":448952,"fileid":7,"certfile":"code-signing.crt","update_data_url":"https://h/p?q","auth_scheme":"aws.s3.presigned","sig-sha256-ecdsa":"MEUCIQ=="}]}}}}"#;

pub fn run(data: &[u8]) -> bool {
    let reply = ExecutionReply::parse(data);
    let mut in_place = ExecutionReply::parse(FULL_REPLY).expect("a valid reply");
    let result = in_place.parse_into(data);
    assert_eq!(result, reply.as_ref().map(|_| ()).map_err(|error| *error));
    if let Ok(reply) = &reply {
        assert_eq!(&in_place, reply, "parsed in place after another reply");
    }
    if let Ok(ExecutionReply {
        execution: Some(execution),
        ..
    }) = &reply
    {
        if let Ok(document) = &execution.document {
            if let Some(url) = &document.file.url {
                assert!(!url.is_empty());
                assert!(!url.chars().any(|c| c.is_control() || c == ' '), "{url:?}");
            }
        }
    }
    let _ = UpdateAccepted::parse(data);
    let _ = Rejection::parse(data);
    let _ = ExecutionState::parse(data);
    if let Ok(topic) = core::str::from_utf8(data) {
        let _ = topics().classify(topic);
    }
    if let Some(record) = ExecutionRecord::parse(data) {
        check_record(&record);
    }
    loopback(data);
    reply.is_ok()
}

fn topics() -> Topics {
    Topics::new(ThingName::new(THING).expect("a valid thing name"))
}

fn check_record(record: &ExecutionRecord) {
    assert_eq!(
        ExecutionRecord::parse(&record.to_bytes()).as_ref(),
        Some(record)
    );
}

fn loopback(data: &[u8]) {
    let (execution, request) = if data.starts_with(b"LJOB") {
        match ExecutionRecord::parse(data) {
            Some(record) => (record, data.get(RECORD_LEN..).unwrap_or_default()),
            None => return,
        }
    } else {
        (ExecutionRecord::queued(NOW - 60), data)
    };
    let mut service = LoopbackJobs::new(
        ThingName::new(THING).expect("a valid thing name"),
        JobId::new(JOB).expect("a valid job id"),
        DOCUMENT,
        execution,
    )
    .expect("the document is JSON");
    let mut buf = vec![0; 2048];
    for operation in OPERATIONS {
        let topic = format!("$aws/things/{THING}/jobs/{operation}");
        let mut sent = Vec::new();
        service.handle(&topic, request, NOW, &mut buf, &mut |topic, payload| {
            sent.push((topic.to_owned(), payload.to_vec()));
        });
        for (topic, payload) in &sent {
            check_reply(topic, payload);
        }
        check_record(service.execution());
    }
}

fn check_reply(topic: &str, payload: &[u8]) {
    let error = if topic.ends_with("/rejected") {
        Rejection::parse(payload).err()
    } else if topic.ends_with("/update/accepted") {
        UpdateAccepted::parse(payload).err()
    } else {
        ExecutionReply::parse(payload).err()
    };
    let syntax = matches!(
        error,
        Some(job::Error::Json(
            JsonError::Truncated
                | JsonError::Unexpected
                | JsonError::Escape
                | JsonError::Trailing
                | JsonError::Utf8
                | JsonError::TooDeep
        ))
    );
    assert!(
        !syntax,
        "{topic}: {error:?} in {}",
        String::from_utf8_lossy(payload)
    );
}
