//! The Jobs API's replies and the `afr_ota` job document, parsed from the bytes of an MQTT
//! payload into bounded representations (smoltcp style: a `Repr` that `parse`s only valid
//! values and never panics on any input).
//!
//! - [`ExecutionReply`], for `start-next/accepted`, `$next/get/accepted`, `<jobId>/get/accepted`
//!   and `notify-next`, `{"execution": {...}, "timestamp", "clientToken"}`; no `execution`
//!   means no pending job.
//! - [`UpdateAccepted`], for `<jobId>/update/accepted`.
//! - [`Rejection`], for any `.../rejected`, `{"code", "message", "clientToken", "timestamp",
//!   "executionState"}`.
//!
//! Reference: <https://docs.aws.amazon.com/iot/latest/developerguide/jobs-mqtt-api.html>
//! (replies and error codes); the `afr_ota` document is the one the AWS OTA library models in
//! `source/ota.c` (`otaJobDocModelParamStructure`) of `aws/ota-for-aws-iot-embedded-sdk`.
//!
//! How: the text is first checked to be JSON nested at most [`json::MAX_DEPTH`] deep (without
//! recursion), then serde-json-core reads fixed structs whose strings are borrowed raw
//! (`EscapedStr`), and each string is unescaped into its own bounded buffer, so an over-long
//! or badly escaped member is refused by name. The execution is read in a first pass that
//! skips `jobDocument`, and the document in a second: a document that is not `afr_ota` or is
//! malformed still yields the job id and version, with the error kept in
//! [`Execution::document`].
//!
//! Sizes: an [`ExecutionReply`] holding a document is about 3.3 KB (the URL alone is 2048
//! bytes); parsing itself needs a few hundred bytes of stack.

use crate::jobs::{ClientToken, JobId, JobStatus};
use crate::json::{self, JsonError, UnescapeError};
use core::fmt;
use core::marker::PhantomData;
use heapless::String;
use serde::de::{Deserialize, Deserializer, IgnoredAny, SeqAccess, Visitor};
use serde_json_core::str::EscapedStr;

/// The longest presigned URL accepted (`update_data_url`): S3 URLs with an STS session token
/// run past 1 KB.
pub const URL_MAX: usize = 2048;
/// The longest `sig-sha256-ecdsa` (base64): 384 bytes of signature, room for RSA-3072 as the
/// AWS OTA library allows; an ECDSA P-256 DER signature needs 96 characters.
pub const SIGNATURE_MAX: usize = 512;
/// The longest `filepath` and `certfile`.
pub const PATH_MAX: usize = 256;
/// The longest `auth_scheme` (e.g. `aws.s3.presigned`).
pub const AUTH_SCHEME_MAX: usize = 32;
/// The longest `self_test` status detail (`ready`, `active`).
pub const SELF_TEST_MAX: usize = 16;
/// The longest `updatedBy` status detail (a version text).
pub const UPDATED_BY_MAX: usize = 32;
/// The longest rejection `message` kept; a longer one is cut at a character boundary.
pub const MESSAGE_MAX: usize = 128;

/// Why a message (or a job document) was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Error {
    /// The text is not JSON, or a member has the wrong JSON type.
    Json(JsonError),
    /// A string member is longer than its buffer.
    TooLong { member: &'static str, max: usize },
    /// A string member with a bad escape or a raw control character.
    BadString(&'static str),
    /// A member's value is out of range or has characters it may not have.
    Invalid(&'static str),
    /// A member that must be there is not.
    Missing(&'static str),
    /// The job document has no `afr_ota` object.
    NotAfrOta,
    /// `afr_ota.files` is empty.
    NoFiles,
}

impl From<JsonError> for Error {
    fn from(e: JsonError) -> Self {
        Error::Json(e)
    }
}

impl From<serde_json_core::de::Error> for Error {
    fn from(e: serde_json_core::de::Error) -> Self {
        Error::Json(e.into())
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Json(e) => write!(f, "{e}"),
            Error::TooLong { member, max } => write!(f, "{member} longer than {max} bytes"),
            Error::BadString(member) => write!(f, "bad string in {member}"),
            Error::Invalid(member) => write!(f, "invalid {member}"),
            Error::Missing(member) => write!(f, "no {member}"),
            Error::NotAfrOta => f.write_str("not an afr_ota document"),
            Error::NoFiles => f.write_str("afr_ota lists no files"),
        }
    }
}

/// Unescapes a borrowed member into a bounded string, naming the member on failure.
fn text<const N: usize>(raw: EscapedStr<'_>, member: &'static str) -> Result<String<N>, Error> {
    let mut out = String::new();
    json::unescape(raw.0, &mut out).map_err(|e| match e {
        UnescapeError::TooLong => Error::TooLong { member, max: N },
        UnescapeError::Escape => Error::BadString(member),
    })?;
    Ok(out)
}

fn optional_text<const N: usize>(
    raw: Option<EscapedStr<'_>>,
    member: &'static str,
) -> Result<Option<String<N>>, Error> {
    raw.map(|raw| text(raw, member)).transpose()
}

/// Unescapes an optional member into `dst` in place: no bounded string is built on the stack
/// and moved (a URL's buffer is 2 KB).
fn text_into<const N: usize>(
    dst: &mut Option<String<N>>,
    raw: Option<EscapedStr<'_>>,
    member: &'static str,
) -> Result<(), Error> {
    let Some(raw) = raw else {
        *dst = None;
        return Ok(());
    };
    let out = dst.get_or_insert_with(String::new);
    out.clear();
    json::unescape(raw.0, out).map_err(|e| match e {
        UnescapeError::TooLong => Error::TooLong { member, max: N },
        UnescapeError::Escape => Error::BadString(member),
    })
}

/// Checks the JSON, then reads `T` from it.
fn read<'a, T: Deserialize<'a>>(bytes: &'a [u8]) -> Result<T, Error> {
    json::check(bytes)?;
    let (value, _) = serde_json_core::from_slice::<T>(bytes)?;
    Ok(value)
}

/// The `statusDetails` the agent reads back (the Jobs API keeps any string map there; the
/// others are skipped).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ExecutionDetails {
    /// `self_test`: set (`ready`) before the device activates a new image.
    pub self_test: Option<String<SELF_TEST_MAX>>,
    /// `updatedBy`: the version that downloaded the update.
    pub updated_by: Option<String<UPDATED_BY_MAX>>,
}

#[derive(serde::Deserialize)]
struct DetailsWire<'a> {
    #[serde(borrow)]
    self_test: Option<EscapedStr<'a>>,
    #[serde(rename = "updatedBy", borrow)]
    updated_by: Option<EscapedStr<'a>>,
}

impl ExecutionDetails {
    fn from_wire(wire: Option<DetailsWire<'_>>) -> Result<Self, Error> {
        let Some(wire) = wire else {
            return Ok(Self::default());
        };
        Ok(ExecutionDetails {
            self_test: optional_text(wire.self_test, "self_test")?,
            updated_by: optional_text(wire.updated_by, "updatedBy")?,
        })
    }
}

fn status(raw: Option<EscapedStr<'_>>) -> Result<Option<JobStatus>, Error> {
    let name: Option<String<16>> = optional_text(raw, "status")?;
    // A status this code does not know is kept as none rather than refusing the job.
    Ok(name.and_then(|name| JobStatus::from_name(&name)))
}

/// The protocols `afr_ota.protocols` offers for the file.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Protocols {
    /// `"HTTP"`: `update_data_url`.
    pub http: bool,
    /// `"MQTT"`: MQTT-based file delivery (a stream).
    pub mqtt: bool,
}

impl<'de> Deserialize<'de> for Protocols {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct ProtocolsVisitor;
        impl<'de> Visitor<'de> for ProtocolsVisitor {
            type Value = Protocols;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("an array of protocol names")
            }

            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Protocols, A::Error> {
                let mut protocols = Protocols::default();
                while let Some(name) = seq.next_element::<EscapedStr<'de>>()? {
                    // Names are compared raw: an escaped spelling of a protocol is not one.
                    match name.0 {
                        "HTTP" => protocols.http = true,
                        "MQTT" => protocols.mqtt = true,
                        _ => {}
                    }
                }
                Ok(protocols)
            }
        }
        deserializer.deserialize_seq(ProtocolsVisitor)
    }
}

/// `afr_ota.files`: the first file, and how many the list has. The AWS OTA library takes only
/// the first file of a job (`OTA_MAX_FILES` is 1), and so does this agent.
struct FilesWire<'a> {
    first: Option<FileWire<'a>>,
    count: usize,
}

impl<'de: 'a, 'a> Deserialize<'de> for FilesWire<'a> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct FilesVisitor<'a>(PhantomData<&'a ()>);
        impl<'de: 'a, 'a> Visitor<'de> for FilesVisitor<'a> {
            type Value = FilesWire<'a>;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("an array of files")
            }

            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<FilesWire<'a>, A::Error> {
                let first = seq.next_element::<FileWire<'a>>()?;
                let mut count = usize::from(first.is_some());
                while seq.next_element::<IgnoredAny>()?.is_some() {
                    count += 1;
                }
                Ok(FilesWire { first, count })
            }
        }
        deserializer.deserialize_seq(FilesVisitor(PhantomData))
    }
}

#[derive(serde::Deserialize)]
struct FileWire<'a> {
    #[serde(borrow)]
    filepath: Option<EscapedStr<'a>>,
    filesize: Option<u64>,
    fileid: Option<u64>,
    #[serde(borrow)]
    certfile: Option<EscapedStr<'a>>,
    #[serde(borrow)]
    update_data_url: Option<EscapedStr<'a>>,
    #[serde(borrow)]
    auth_scheme: Option<EscapedStr<'a>>,
    #[serde(rename = "sig-sha256-ecdsa", borrow)]
    signature: Option<EscapedStr<'a>>,
}

#[derive(serde::Deserialize)]
struct AfrOtaWire<'a> {
    protocols: Option<Protocols>,
    #[serde(borrow)]
    files: Option<FilesWire<'a>>,
}

#[derive(serde::Deserialize)]
struct JobDocumentWire<'a> {
    #[serde(borrow)]
    afr_ota: Option<AfrOtaWire<'a>>,
}

#[derive(serde::Deserialize)]
struct DocumentExecutionWire<'a> {
    #[serde(rename = "jobDocument", borrow)]
    job_document: Option<JobDocumentWire<'a>>,
}

#[derive(serde::Deserialize)]
struct DocumentReplyWire<'a> {
    #[serde(borrow)]
    execution: Option<DocumentExecutionWire<'a>>,
}

/// The file an `afr_ota` document describes (its first file).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileDescription {
    /// `filepath`: where the file goes (informational here).
    pub path: Option<String<PATH_MAX>>,
    /// `filesize`, in bytes.
    pub size: u32,
    /// `fileid`: the file's index in the stream (MQTT delivery).
    pub id: u32,
    /// `certfile`: the code-signing certificate's name on the device (informational here).
    pub cert_file: Option<String<PATH_MAX>>,
    /// `update_data_url`: the presigned URL (HTTP delivery), without control characters or
    /// spaces.
    pub url: Option<String<URL_MAX>>,
    /// `auth_scheme`, e.g. `aws.s3.presigned`.
    pub auth_scheme: Option<String<AUTH_SCHEME_MAX>>,
    /// `sig-sha256-ecdsa`: base64 of the DER ECDSA signature over the file's SHA-256.
    pub signature: Option<String<SIGNATURE_MAX>>,
}

/// An `afr_ota` job document.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OtaDocument {
    /// The offered protocols.
    pub protocols: Protocols,
    /// How many files the document lists; only the first is taken.
    pub files: usize,
    /// The first file.
    pub file: FileDescription,
}

impl OtaDocument {
    /// A document with no file, for [`ExecutionReply::parse_into`] to fill.
    pub const EMPTY: OtaDocument = OtaDocument {
        protocols: Protocols {
            http: false,
            mqtt: false,
        },
        files: 0,
        file: FileDescription {
            path: None,
            size: 0,
            id: 0,
            cert_file: None,
            url: None,
            auth_scheme: None,
            signature: None,
        },
    };

    /// Reads `wire` into `self`, in place; on an error `self` holds part of it.
    fn fill(&mut self, wire: Option<JobDocumentWire<'_>>) -> Result<(), Error> {
        let afr_ota = wire.and_then(|doc| doc.afr_ota).ok_or(Error::NotAfrOta)?;
        let protocols = afr_ota.protocols.ok_or(Error::Missing("protocols"))?;
        let files = afr_ota.files.ok_or(Error::Missing("files"))?;
        let file = files.first.ok_or(Error::NoFiles)?;
        let size = file.filesize.ok_or(Error::Missing("filesize"))?;
        let id = file.fileid.ok_or(Error::Missing("fileid"))?;
        self.protocols = protocols;
        self.files = files.count;
        let out = &mut self.file;
        out.size = u32::try_from(size).map_err(|_| Error::Invalid("filesize"))?;
        out.id = u32::try_from(id).map_err(|_| Error::Invalid("fileid"))?;
        text_into(&mut out.url, file.update_data_url, "update_data_url")?;
        // The URL goes into an HTTP request line: no controls (CR, LF) and no spaces.
        if out
            .url
            .as_ref()
            .is_some_and(|url| url.is_empty() || url.chars().any(|c| c.is_control() || c == ' '))
        {
            return Err(Error::Invalid("update_data_url"));
        }
        text_into(&mut out.path, file.filepath, "filepath")?;
        text_into(&mut out.cert_file, file.certfile, "certfile")?;
        text_into(&mut out.auth_scheme, file.auth_scheme, "auth_scheme")?;
        text_into(&mut out.signature, file.signature, "sig-sha256-ecdsa")
    }

    /// Reads the document of the execution in `bytes` (which the first pass already read)
    /// into `document`, in place.
    fn parse_in_reply(bytes: &[u8], document: &mut Result<OtaDocument, Error>) {
        let wire = serde_json_core::from_slice::<DocumentReplyWire<'_>>(bytes);
        let wire = match wire {
            Ok((wire, _)) => wire,
            Err(e) => {
                *document = Err(e.into());
                return;
            }
        };
        if document.is_err() {
            *document = Ok(OtaDocument::EMPTY);
        }
        if let Ok(doc) = document {
            if let Err(e) = doc.fill(wire.execution.and_then(|execution| execution.job_document)) {
                *document = Err(e);
            }
        }
    }
}

#[derive(serde::Deserialize)]
struct ExecutionWire<'a> {
    #[serde(rename = "jobId", borrow)]
    job_id: Option<EscapedStr<'a>>,
    #[serde(borrow)]
    status: Option<EscapedStr<'a>>,
    #[serde(rename = "statusDetails", borrow)]
    status_details: Option<DetailsWire<'a>>,
    #[serde(rename = "versionNumber")]
    version_number: Option<u64>,
    #[serde(rename = "executionNumber")]
    execution_number: Option<u64>,
}

#[derive(serde::Deserialize)]
struct ExecutionReplyWire<'a> {
    #[serde(borrow)]
    execution: Option<ExecutionWire<'a>>,
    timestamp: Option<u64>,
    #[serde(rename = "clientToken", borrow)]
    client_token: Option<EscapedStr<'a>>,
}

/// A job execution, as the Jobs API describes it to the device.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Execution {
    /// `jobId`.
    pub job_id: JobId,
    /// `status`; none when absent or not a status this code knows.
    pub status: Option<JobStatus>,
    /// `versionNumber`: the execution's version, which `expectedVersion` refers to.
    pub version_number: Option<u64>,
    /// `executionNumber`.
    pub execution_number: Option<u64>,
    /// `statusDetails`, the members the agent reads.
    pub status_details: ExecutionDetails,
    /// `jobDocument` as an `afr_ota` document, or why it is not one.
    pub document: Result<OtaDocument, Error>,
}

/// A reply that describes the next (or a named) job execution: `start-next/accepted`,
/// `$next/get/accepted`, `<jobId>/get/accepted`, `notify-next`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExecutionReply {
    /// The execution; none when no job is pending.
    pub execution: Option<Execution>,
    /// `timestamp`, seconds since the epoch.
    pub timestamp: Option<u64>,
    /// `clientToken` of the request this answers.
    pub client_token: Option<ClientToken>,
}

impl ExecutionReply {
    /// No reply yet, for [`ExecutionReply::parse_into`] to fill.
    pub const EMPTY: ExecutionReply = ExecutionReply {
        execution: None,
        timestamp: None,
        client_token: None,
    };

    /// Parses a reply. Fails only when the execution itself cannot be read (its job id
    /// above all); a bad job document is kept in [`Execution::document`].
    pub fn parse(bytes: &[u8]) -> Result<Self, Error> {
        let mut reply = ExecutionReply::EMPTY;
        reply.parse_into(bytes)?;
        Ok(reply)
    }

    /// [`ExecutionReply::parse`] into `self`, in place, so that a device keeps one reply
    /// buffer and no 3 KB reply passes through its stack. After an error `self` holds part of
    /// the reply and is not to be read.
    pub fn parse_into(&mut self, bytes: &[u8]) -> Result<(), Error> {
        let wire: ExecutionReplyWire<'_> = read(bytes)?;
        self.timestamp = wire.timestamp;
        text_into(&mut self.client_token, wire.client_token, "clientToken")?;
        let Some(wire) = wire.execution else {
            self.execution = None;
            return Ok(());
        };
        let raw_id = wire.job_id.ok_or(Error::Missing("jobId"))?;
        let id: String<{ crate::jobs::JOB_ID_MAX }> = text(raw_id, "jobId")?;
        let execution = self.execution.get_or_insert(Execution::EMPTY);
        execution.job_id = JobId::new(&id).map_err(|_| Error::Invalid("jobId"))?;
        execution.status = status(wire.status)?;
        execution.version_number = wire.version_number;
        execution.execution_number = wire.execution_number;
        execution.status_details = ExecutionDetails::from_wire(wire.status_details)?;
        OtaDocument::parse_in_reply(bytes, &mut execution.document);
        Ok(())
    }
}

impl Execution {
    /// An execution with nothing read yet.
    const EMPTY: Execution = Execution {
        job_id: JobId::EMPTY,
        status: None,
        version_number: None,
        execution_number: None,
        status_details: ExecutionDetails {
            self_test: None,
            updated_by: None,
        },
        document: Err(Error::Missing("jobDocument")),
    };
}

#[derive(serde::Deserialize)]
struct ExecutionStateWire<'a> {
    #[serde(borrow)]
    status: Option<EscapedStr<'a>>,
    #[serde(rename = "statusDetails", borrow)]
    status_details: Option<DetailsWire<'a>>,
    #[serde(rename = "versionNumber")]
    version_number: Option<u64>,
}

/// `executionState` of an update reply or a rejection.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ExecutionState {
    /// `status`.
    pub status: Option<JobStatus>,
    /// `statusDetails`, the members the agent reads.
    pub status_details: ExecutionDetails,
    /// `versionNumber`.
    pub version_number: Option<u64>,
}

impl ExecutionState {
    fn from_wire(wire: Option<ExecutionStateWire<'_>>) -> Result<Option<Self>, Error> {
        let Some(wire) = wire else {
            return Ok(None);
        };
        Ok(Some(ExecutionState {
            status: status(wire.status)?,
            status_details: ExecutionDetails::from_wire(wire.status_details)?,
            version_number: wire.version_number,
        }))
    }

    /// Parses an `executionState` object on its own (also the shape of an update request's
    /// `status` and `statusDetails`).
    pub fn parse(bytes: &[u8]) -> Result<Self, Error> {
        let wire: ExecutionStateWire<'_> = read(bytes)?;
        Ok(Self::from_wire(Some(wire))?.unwrap_or_default())
    }
}

#[derive(serde::Deserialize)]
struct UpdateAcceptedWire<'a> {
    #[serde(rename = "executionState", borrow)]
    execution_state: Option<ExecutionStateWire<'a>>,
    timestamp: Option<u64>,
    #[serde(rename = "clientToken", borrow)]
    client_token: Option<EscapedStr<'a>>,
}

/// `<jobId>/update/accepted`. `jobDocument`, if the request asked for it, is skipped.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UpdateAccepted {
    /// `executionState`, present when the request set `includeJobExecutionState`.
    pub execution_state: Option<ExecutionState>,
    /// `timestamp`.
    pub timestamp: Option<u64>,
    /// `clientToken` of the update this answers.
    pub client_token: Option<ClientToken>,
}

impl UpdateAccepted {
    /// Parses the reply.
    pub fn parse(bytes: &[u8]) -> Result<Self, Error> {
        let wire: UpdateAcceptedWire<'_> = read(bytes)?;
        Ok(UpdateAccepted {
            execution_state: ExecutionState::from_wire(wire.execution_state)?,
            timestamp: wire.timestamp,
            client_token: optional_text(wire.client_token, "clientToken")?,
        })
    }
}

/// The `code` of a Jobs API error response.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorCode {
    InvalidTopic,
    InvalidJson,
    InvalidRequest,
    InvalidStateTransition,
    ResourceNotFound,
    VersionMismatch,
    InternalError,
    RequestThrottled,
    TerminalStateReached,
    /// A code this version does not know.
    Other,
}

impl ErrorCode {
    fn from_name(name: &str) -> Self {
        match name {
            "InvalidTopic" => ErrorCode::InvalidTopic,
            "InvalidJson" => ErrorCode::InvalidJson,
            "InvalidRequest" => ErrorCode::InvalidRequest,
            "InvalidStateTransition" => ErrorCode::InvalidStateTransition,
            "ResourceNotFound" => ErrorCode::ResourceNotFound,
            "VersionMismatch" => ErrorCode::VersionMismatch,
            "InternalError" => ErrorCode::InternalError,
            "RequestThrottled" => ErrorCode::RequestThrottled,
            "TerminalStateReached" => ErrorCode::TerminalStateReached,
            _ => ErrorCode::Other,
        }
    }

    /// Whether the code says that the execution is no longer there to update: canceled,
    /// removed, or already terminal.
    pub fn means_gone(self) -> bool {
        matches!(
            self,
            ErrorCode::InvalidStateTransition
                | ErrorCode::TerminalStateReached
                | ErrorCode::ResourceNotFound
        )
    }
}

#[derive(serde::Deserialize)]
struct RejectionWire<'a> {
    #[serde(borrow)]
    code: Option<EscapedStr<'a>>,
    #[serde(borrow)]
    message: Option<EscapedStr<'a>>,
    #[serde(rename = "clientToken", borrow)]
    client_token: Option<EscapedStr<'a>>,
    timestamp: Option<u64>,
    #[serde(rename = "executionState", borrow)]
    execution_state: Option<ExecutionStateWire<'a>>,
}

/// A `.../rejected` error response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rejection {
    /// `code`.
    pub code: ErrorCode,
    /// `message`, cut to [`MESSAGE_MAX`] bytes.
    pub message: String<MESSAGE_MAX>,
    /// `clientToken` of the request this answers.
    pub client_token: Option<ClientToken>,
    /// `timestamp`.
    pub timestamp: Option<u64>,
    /// `executionState`, which the service adds to `InvalidStateTransition` and
    /// `VersionMismatch`.
    pub execution_state: Option<ExecutionState>,
}

impl Rejection {
    /// Parses the error response; `code` must be there.
    pub fn parse(bytes: &[u8]) -> Result<Self, Error> {
        let wire: RejectionWire<'_> = read(bytes)?;
        let code: String<32> = match wire.code {
            None => return Err(Error::Missing("code")),
            Some(raw) => match text(raw, "code") {
                Ok(code) => code,
                Err(Error::TooLong { .. }) => String::new(),
                Err(e) => return Err(e),
            },
        };
        Ok(Rejection {
            code: ErrorCode::from_name(&code),
            message: wire
                .message
                .map(cut_message)
                .transpose()?
                .unwrap_or_default(),
            client_token: optional_text(wire.client_token, "clientToken")?,
            timestamp: wire.timestamp,
            execution_state: ExecutionState::from_wire(wire.execution_state)?,
        })
    }
}

/// The message unescaped and cut to [`MESSAGE_MAX`] bytes: it is for logs only.
fn cut_message(raw: EscapedStr<'_>) -> Result<String<MESSAGE_MAX>, Error> {
    let mut out = String::new();
    json::unescape_cut(raw.0, &mut out).map_err(|_| Error::BadString("message"))?;
    Ok(out)
}

#[cfg(test)]
mod tests;
