use super::*;
use crate::jobs::JobStatus;
use std::format;
use std::string::String as StdString;
use std::vec::Vec as StdVec;

/// A URL as S3 presigns it with an STS token, `/` escaped as JSON encoders may do.
const SEED_URL_ESCAPED: &str = "https:\\/\\/bucket.s3.us-east-1.amazonaws.com\\/ota\\/app_ota.img?X-Amz-Security-Token=IQoJb3JpZ2luX2VjEJr%2F%2F%2F\\u0026X-Amz-Algorithm=AWS4-HMAC-SHA256\\u0026X-Amz-Date=20250210T053553Z\\u0026X-Amz-SignedHeaders=host\\u0026X-Amz-Expires=1800\\u0026X-Amz-Signature=0f1e";
const SEED_URL: &str = "https://bucket.s3.us-east-1.amazonaws.com/ota/app_ota.img?X-Amz-Security-Token=IQoJb3JpZ2luX2VjEJr%2F%2F%2F&X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Date=20250210T053553Z&X-Amz-SignedHeaders=host&X-Amz-Expires=1800&X-Amz-Signature=0f1e";

fn start_next_accepted(url: &str) -> StdString {
    format!(
        r#"{{"clientToken":"0000002a-1","timestamp":1739165753,
"execution":{{"jobId":"AFR_OTA-TEST_19","status":"QUEUED","queuedAt":1739165736,
"lastUpdatedAt":1739165736,"versionNumber":1,"executionNumber":1,
"statusDetails":{{"note":"x"}},
"jobDocument":{{"afr_ota":{{"protocols":["MQTT","HTTP"],"streamname":"AFR_OTA-1",
"files":[{{"filepath":"test","filesize":448952,"fileid":0,"certfile":"code-signing.crt",
"update_data_url":"{url}","auth_scheme":"aws.s3.presigned",
"sig-sha256-ecdsa":"MEUCIQD\/abc+def==","attr":3,"fileType":0}}]}}}}}}}}"#
    )
}

#[test]
fn reads_a_start_next_reply() {
    let reply = ExecutionReply::parse(start_next_accepted(SEED_URL_ESCAPED).as_bytes()).unwrap();
    assert_eq!(reply.timestamp, Some(1739165753));
    assert_eq!(reply.client_token.as_deref(), Some("0000002a-1"));
    let execution = reply.execution.unwrap();
    assert_eq!(execution.job_id.as_str(), "AFR_OTA-TEST_19");
    assert_eq!(execution.status, Some(JobStatus::Queued));
    assert_eq!(execution.version_number, Some(1));
    assert_eq!(execution.execution_number, Some(1));
    assert_eq!(execution.status_details, ExecutionDetails::default());
    let document = execution.document.unwrap();
    assert_eq!(
        document.protocols,
        Protocols {
            http: true,
            mqtt: true
        }
    );
    assert_eq!(document.files, 1);
    let file = document.file;
    assert_eq!(file.path.as_deref(), Some("test"));
    assert_eq!(file.size, 448952);
    assert_eq!(file.id, 0);
    assert_eq!(file.cert_file.as_deref(), Some("code-signing.crt"));
    assert_eq!(file.url.as_deref(), Some(SEED_URL));
    assert_eq!(file.auth_scheme.as_deref(), Some("aws.s3.presigned"));
    assert_eq!(file.signature.as_deref(), Some("MEUCIQD/abc+def=="));
}

#[test]
fn no_execution_means_no_pending_job() {
    for text in [
        r#"{"timestamp":1739165753,"clientToken":"t"}"#,
        r#"{"timestamp":1739165753}"#,
        r#"{}"#,
        r#"{"execution":null}"#,
    ] {
        let reply = ExecutionReply::parse(text.as_bytes()).unwrap();
        assert_eq!(reply.execution, None, "{text}");
    }
}

#[test]
fn reads_a_notify_next_in_self_test() {
    let text = r#"{"timestamp":1739166000,"execution":{"jobId":"job-2","status":"IN_PROGRESS",
        "statusDetails":{"self_test":"ready","updatedBy":"0.9.3"},"versionNumber":4,
        "executionNumber":1,"jobDocument":{"afr_ota":{"protocols":["HTTP"],"files":[
        {"filesize":10,"fileid":0,"update_data_url":"https://h/p"}]}}}}"#;
    let execution = ExecutionReply::parse(text.as_bytes())
        .unwrap()
        .execution
        .unwrap();
    assert_eq!(execution.status, Some(JobStatus::InProgress));
    assert_eq!(execution.version_number, Some(4));
    assert_eq!(execution.status_details.self_test.as_deref(), Some("ready"));
    assert_eq!(
        execution.status_details.updated_by.as_deref(),
        Some("0.9.3")
    );
    assert_eq!(execution.document.unwrap().file.signature, None);
}

#[test]
fn takes_a_2000_byte_url_and_refuses_a_longer_one() {
    let long = |len: usize| {
        let base = "https://b.s3.amazonaws.com/k?X-Amz-Signature=";
        format!("{base}{}", "a".repeat(len - base.len()))
    };
    let url = long(2000);
    let execution = ExecutionReply::parse(start_next_accepted(&url).as_bytes())
        .unwrap()
        .execution
        .unwrap();
    assert_eq!(
        execution.document.unwrap().file.url.as_deref(),
        Some(url.as_str())
    );

    let url = long(URL_MAX);
    let execution = ExecutionReply::parse(start_next_accepted(&url).as_bytes())
        .unwrap()
        .execution
        .unwrap();
    assert!(execution.document.is_ok());

    let execution = ExecutionReply::parse(start_next_accepted(&long(URL_MAX + 1)).as_bytes())
        .unwrap()
        .execution
        .unwrap();
    let error = execution.document.unwrap_err();
    assert_eq!(
        error,
        Error::TooLong {
            member: "update_data_url",
            max: URL_MAX
        }
    );
    assert_eq!(format!("{error}"), "update_data_url longer than 2048 bytes");
    // The job is still named, so that it can be reported FAILED.
    assert_eq!(execution.job_id.as_str(), "AFR_OTA-TEST_19");
    assert_eq!(execution.version_number, Some(1));
}

#[test]
fn an_escaped_url_counts_its_unescaped_length() {
    // 2048 bytes unescaped, 2048 + 400 written: every `/` escaped.
    let mut url = StdString::from("https://h/");
    while url.len() < URL_MAX {
        url.push('/');
    }
    let escaped = url.replace('/', "\\/");
    let execution = ExecutionReply::parse(start_next_accepted(&escaped).as_bytes())
        .unwrap()
        .execution
        .unwrap();
    assert_eq!(
        execution.document.unwrap().file.url.as_deref(),
        Some(url.as_str())
    );
}

#[test]
fn a_url_may_not_carry_controls_or_spaces() {
    for url in [
        "https://h/a\\r\\nHost: x",
        "https://h/a b",
        "https://h/\\u0000",
        "",
    ] {
        let execution = ExecutionReply::parse(start_next_accepted(url).as_bytes())
            .unwrap()
            .execution
            .unwrap();
        assert_eq!(
            execution.document.unwrap_err(),
            Error::Invalid("update_data_url"),
            "{url}"
        );
    }
}

fn document_error(document: &str) -> Error {
    let text = format!(
        r#"{{"execution":{{"jobId":"j1","status":"QUEUED","versionNumber":3,"jobDocument":{document}}}}}"#
    );
    let execution = ExecutionReply::parse(text.as_bytes())
        .unwrap()
        .execution
        .unwrap();
    assert_eq!(execution.job_id.as_str(), "j1");
    assert_eq!(execution.version_number, Some(3));
    execution.document.unwrap_err()
}

#[test]
fn a_document_that_is_not_afr_ota_still_names_the_job() {
    assert_eq!(
        document_error(r#"{"operation":"reboot"}"#),
        Error::NotAfrOta
    );
    assert_eq!(document_error(r#"{}"#), Error::NotAfrOta);
    assert_eq!(document_error(r#"null"#), Error::NotAfrOta);
    assert_eq!(document_error(r#""text""#), Error::Json(JsonError::Type));
    assert_eq!(document_error(r#"[1,2]"#), Error::Json(JsonError::Type));
    let text = r#"{"execution":{"jobId":"j1","versionNumber":3}}"#;
    let execution = ExecutionReply::parse(text.as_bytes())
        .unwrap()
        .execution
        .unwrap();
    assert_eq!(execution.document.unwrap_err(), Error::NotAfrOta);
}

#[test]
fn a_malformed_afr_ota_document_names_its_error() {
    let file = |members: &str| {
        format!(r#"{{"afr_ota":{{"protocols":["HTTP"],"files":[{{{members}}}]}}}}"#)
    };
    assert_eq!(
        document_error(&file(r#""filesize":"12","fileid":0"#)),
        Error::Json(JsonError::Type)
    );
    assert_eq!(
        document_error(&file(r#""filesize":-1,"fileid":0"#)),
        Error::Json(JsonError::Number)
    );
    assert_eq!(
        document_error(&file(r#""filesize":1.5,"fileid":0"#)),
        Error::Json(JsonError::Unexpected)
    );
    assert_eq!(
        document_error(&file(r#""filesize":4294967296,"fileid":0"#)),
        Error::Invalid("filesize")
    );
    assert_eq!(
        document_error(&file(r#""fileid":0"#)),
        Error::Missing("filesize")
    );
    assert_eq!(
        document_error(&file(r#""filesize":1"#)),
        Error::Missing("fileid")
    );
    assert_eq!(
        document_error(&file(r#""filesize":1,"fileid":0,"update_data_url":7"#)),
        Error::Json(JsonError::Type)
    );
    assert_eq!(
        document_error(&file(&format!(
            r#""filesize":1,"fileid":0,"sig-sha256-ecdsa":"{}""#,
            "A".repeat(SIGNATURE_MAX + 4)
        ))),
        Error::TooLong {
            member: "sig-sha256-ecdsa",
            max: SIGNATURE_MAX
        }
    );
    assert_eq!(
        document_error(&file(r#""filesize":1,"fileid":0,"filepath":"a\ud800""#)),
        Error::BadString("filepath")
    );
    assert_eq!(
        document_error(r#"{"afr_ota":{"protocols":["HTTP"],"files":[]}}"#),
        Error::NoFiles
    );
    assert_eq!(
        document_error(r#"{"afr_ota":{"files":[{"filesize":1,"fileid":0}]}}"#),
        Error::Missing("protocols")
    );
    assert_eq!(
        document_error(r#"{"afr_ota":{"protocols":["HTTP"]}}"#),
        Error::Missing("files")
    );
    assert_eq!(
        document_error(r#"{"afr_ota":{"protocols":"HTTP","files":[]}}"#),
        Error::Json(JsonError::Type)
    );
    assert_eq!(format!("{}", Error::Missing("filesize")), "no filesize");
    // A bad escape anywhere makes the whole message unreadable, job id included.
    let text = r#"{"execution":{"jobId":"j1","jobDocument":{"a":"\q"}}}"#;
    assert_eq!(
        ExecutionReply::parse(text.as_bytes()),
        Err(Error::Json(JsonError::Escape))
    );
}

#[test]
fn takes_the_first_of_several_files() {
    let text = r#"{"execution":{"jobId":"j","jobDocument":{"afr_ota":{"protocols":["HTTP"],
        "files":[{"filesize":5,"fileid":1,"update_data_url":"https://a/1"},
                 {"filesize":6,"fileid":2,"update_data_url":"https://a/2"}, 7, "x"]}}}}"#;
    let document = ExecutionReply::parse(text.as_bytes())
        .unwrap()
        .execution
        .unwrap()
        .document
        .unwrap();
    assert_eq!(document.files, 4);
    assert_eq!(document.file.id, 1);
    assert_eq!(document.file.url.as_deref(), Some("https://a/1"));
    assert_eq!(
        document.protocols,
        Protocols {
            http: true,
            mqtt: false
        }
    );
}

#[test]
fn refuses_an_execution_it_cannot_name() {
    let cases = [
        (r#"{"execution":{}}"#, Error::Missing("jobId")),
        (r#"{"execution":{"jobId":"a b"}}"#, Error::Invalid("jobId")),
        (r#"{"execution":{"jobId":""}}"#, Error::Invalid("jobId")),
        (r#"{"execution":{"jobId":7}}"#, Error::Json(JsonError::Type)),
        (
            r#"{"execution":{"jobId":"j","versionNumber":"1"}}"#,
            Error::Json(JsonError::Type),
        ),
        (
            r#"{"execution":{"jobId":"j","jobId":"k"}}"#,
            Error::Json(JsonError::Shape),
        ),
        (r#"{"execution":[]}"#, Error::Json(JsonError::Type)),
        (r#"[]"#, Error::Json(JsonError::Type)),
        (
            r#"{"execution":{"jobId":"j"}} x"#,
            Error::Json(JsonError::Trailing),
        ),
    ];
    for (text, error) in cases {
        assert_eq!(ExecutionReply::parse(text.as_bytes()), Err(error), "{text}");
    }
    let long = format!(r#"{{"execution":{{"jobId":"{}"}}}}"#, "j".repeat(65));
    assert_eq!(
        ExecutionReply::parse(long.as_bytes()),
        Err(Error::TooLong {
            member: "jobId",
            max: 64
        })
    );
    let token = format!(r#"{{"clientToken":"{}"}}"#, "t".repeat(65));
    assert_eq!(
        ExecutionReply::parse(token.as_bytes()),
        Err(Error::TooLong {
            member: "clientToken",
            max: 64
        })
    );
}

#[test]
fn ignores_members_it_does_not_know_and_needs_no_thing_name() {
    let text = r#"{"execution":{"jobId":"j","thingName":"t","unknown":{"deep":[{"a":[1,2,{"b":null}]}]},
        "approximateSecondsBeforeTimedOut":12,"forceCanceled":false,"status":"SOMETHING_NEW"},
        "extra":[true,false,null,-1.5e3]}"#;
    let execution = ExecutionReply::parse(text.as_bytes())
        .unwrap()
        .execution
        .unwrap();
    assert_eq!(execution.job_id.as_str(), "j");
    assert_eq!(execution.status, None);
}

#[test]
fn reads_update_replies_and_rejections() {
    let accepted = UpdateAccepted::parse(
        br#"{"executionState":{"status":"IN_PROGRESS","statusDetails":{"receive":"1/4"},"versionNumber":3},"timestamp":17,"clientToken":"t2"}"#,
    )
    .unwrap();
    assert_eq!(accepted.client_token.as_deref(), Some("t2"));
    assert_eq!(accepted.timestamp, Some(17));
    let state = accepted.execution_state.unwrap();
    assert_eq!(state.status, Some(JobStatus::InProgress));
    assert_eq!(state.version_number, Some(3));
    let plain = UpdateAccepted::parse(br#"{"timestamp":17,"clientToken":"t3"}"#).unwrap();
    assert_eq!(plain.execution_state, None);

    let rejection = Rejection::parse(
        br#"{"code":"VersionMismatch","message":"expectedVersion 1 is not the current version 2","clientToken":"t4","timestamp":18,"executionState":{"status":"IN_PROGRESS","versionNumber":2,"statusDetails":{}}}"#,
    )
    .unwrap();
    assert_eq!(rejection.code, ErrorCode::VersionMismatch);
    assert_eq!(
        rejection.message.as_str(),
        "expectedVersion 1 is not the current version 2"
    );
    assert_eq!(rejection.client_token.as_deref(), Some("t4"));
    assert_eq!(rejection.execution_state.unwrap().version_number, Some(2));

    for (code, parsed) in [
        ("InvalidRequest", ErrorCode::InvalidRequest),
        ("InvalidStateTransition", ErrorCode::InvalidStateTransition),
        ("ResourceNotFound", ErrorCode::ResourceNotFound),
        ("TerminalStateReached", ErrorCode::TerminalStateReached),
        ("RequestThrottled", ErrorCode::RequestThrottled),
        ("InvalidJson", ErrorCode::InvalidJson),
        ("InvalidTopic", ErrorCode::InvalidTopic),
        ("InternalError", ErrorCode::InternalError),
        ("SomethingElse", ErrorCode::Other),
    ] {
        let text = format!(r#"{{"code":"{code}"}}"#);
        let rejection = Rejection::parse(text.as_bytes()).unwrap();
        assert_eq!(rejection.code, parsed);
        assert_eq!(rejection.execution_state, None);
        assert!(rejection.message.is_empty());
    }
    assert!(ErrorCode::TerminalStateReached.means_gone());
    assert!(!ErrorCode::VersionMismatch.means_gone());
    assert_eq!(
        Rejection::parse(br#"{"message":"m"}"#),
        Err(Error::Missing("code"))
    );
    let long_code = format!(r#"{{"code":"{}"}}"#, "C".repeat(40));
    assert_eq!(
        Rejection::parse(long_code.as_bytes()).unwrap().code,
        ErrorCode::Other
    );
}

#[test]
fn a_long_rejection_message_is_cut_not_refused() {
    let text = format!(
        r#"{{"code":"InvalidRequest","message":"\"quoted\"\u00e9{}"}}"#,
        "m".repeat(300)
    );
    let rejection = Rejection::parse(text.as_bytes()).unwrap();
    assert!(rejection.message.starts_with("\"quoted\"é"));
    assert!(rejection.message.len() >= MESSAGE_MAX - 1);
}

#[test]
fn execution_state_reads_an_update_body() {
    let state = ExecutionState::parse(
        br#"{"status":"FAILED","statusDetails":{"reason":"x"},"expectedVersion":2}"#,
    )
    .unwrap();
    assert_eq!(state.status, Some(JobStatus::Failed));
}

#[test]
fn deep_nesting_is_refused_without_recursing() {
    let mut text = StdString::from(r#"{"execution":{"jobId":"j","x":"#);
    text.push_str(&"[".repeat(5000));
    assert_eq!(
        ExecutionReply::parse(text.as_bytes()),
        Err(Error::Json(JsonError::TooDeep))
    );
}

/// A small deterministic generator (xorshift64*).
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

fn parse_everything(bytes: &[u8]) -> bool {
    let reply = ExecutionReply::parse(bytes);
    let _ = UpdateAccepted::parse(bytes);
    let _ = Rejection::parse(bytes);
    let _ = ExecutionState::parse(bytes);
    reply.is_ok()
}

#[test]
fn truncated_input_never_panics() {
    let text = start_next_accepted(SEED_URL_ESCAPED);
    let bytes = text.as_bytes();
    for len in 0..bytes.len() {
        assert!(
            !parse_everything(&bytes[..len]),
            "a prefix of {len} bytes parsed"
        );
    }
    assert!(parse_everything(bytes));
}

#[test]
fn mutated_input_never_panics() {
    let text = start_next_accepted(SEED_URL_ESCAPED);
    let original = text.as_bytes();
    let interesting = b"{}[]\",:\\u0123456789-.eE \n\x00\xff\xc3tfn";
    let mut rng = Rng(0x5EED_0F0A_u64);
    let mut parsed = 0;
    for _ in 0..20_000 {
        let mut bytes: StdVec<u8> = original.to_vec();
        for _ in 0..1 + rng.below(4) {
            let at = rng.below(bytes.len());
            match rng.below(4) {
                0 => bytes[at] = interesting[rng.below(interesting.len())],
                1 => bytes[at] = rng.next() as u8,
                2 => {
                    bytes.remove(at);
                }
                _ => bytes.insert(at, interesting[rng.below(interesting.len())]),
            }
        }
        if parse_everything(&bytes) {
            parsed += 1;
        }
    }
    // Some mutations land in strings and still parse; most do not.
    assert!(parsed > 0 && parsed < 20_000, "{parsed}");
}

#[test]
fn random_bytes_never_panic() {
    let mut rng = Rng(42);
    for _ in 0..5_000 {
        let len = rng.below(64);
        let bytes: StdVec<u8> = (0..len).map(|_| rng.next() as u8).collect();
        parse_everything(&bytes);
    }
}
