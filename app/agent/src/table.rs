//! The agent's states and its one transition table: `(state, event kind) -> handler -> next
//! state`.
//!
//! The design is the AWS OTA library's (`otaTransitionTable` in `source/ota.c` of
//! `aws/ota-for-aws-iot-embedded-sdk`): the agent looks up the row for its state and the
//! event's kind and runs the row's handler; **the state changes to the row's next state only
//! when the handler succeeds**, otherwise it stays (a failure, or nothing to do such as a
//! duplicate notification); **an event with no row in the current state is dropped** and
//! counted. Handlers that find more to do post follow-up events (see [`crate::Signal`]).
//!
//! Where this table differs from AWS's, and why:
//!
//! - `Init` and `Ready` both take `Start`: `Init` is the state of a new agent, `Ready` the
//!   state after `UserAbort` (the agent stopped looking for jobs until started again).
//! - `WaitingForJob` takes `RequestTimer` and `RequestJobDocument`: AWS's has neither, so a
//!   lost reply left its agent waiting for the next `notify-next`.
//! - `CreateFile` both creates the file (new job) and resumes with a fresh URL (same job),
//!   like AWS's `initFileHandler`; only a new job's file is erased. After a restart it first
//!   asks the platform what it kept of the job's file (AWS's agent starts over): it goes on
//!   with the download where the flash stopped, reports again a failure the cloud may not have
//!   received (`FailJob`), or, for an image installed before the cloud had
//!   `self_test: ready`, stays in `CreatingFile` and posts `StartSelfTest`.
//! - `ClosingFile` is entered after the file checked out and waits for the Jobs API to accept
//!   `self_test: ready`; only then does the agent activate the image (AWS activates without
//!   that confirmation).
//! - Download errors are three kinds (resume, refresh the URL, fail) and update replies are
//!   events; `FailJob` carries a failure found by a handler out of the failing state.
//! - `Suspend` is not taken in `ClosingFile`: the `self_test: ready` update is sent again on
//!   the timer until it is answered, connection or not, and the image is activated only then.
//! - `UserAbort` leads to `Ready` (AWS: `WaitingForJob`): the user stopped the agent, so it
//!   takes no further job until `Start`; `Ready` only sees the `FAILED` update confirmed.
//! - `ShuttingDown` is declared, as in AWS, and entered by no row: `Shutdown` stops the
//!   agent at once (erasing an unfinished file; the job stays pending at the service and is
//!   started again from the beginning after the next `Start`).

use crate::event::EventKind;

/// The agent's states (AWS's `OtaState_t`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum State {
    /// Built, not started.
    Init,
    /// Stopped looking for jobs after `UserAbort`; `Start` starts again.
    Ready,
    /// About to ask the Jobs API for a job (or for the current job's document).
    RequestingJob,
    /// Waiting for a job (or a reply): a document, a notification, an update reply.
    WaitingForJob,
    /// A job was taken: its file is about to be created, or its self-test to run.
    CreatingFile,
    /// About to start (or resume) the download, after a back-off if one is due.
    RequestingFileBlock,
    /// Receiving the file's blocks.
    WaitingForFileBlock,
    /// The file checked out; waiting for the Jobs API to accept `self_test: ready`.
    ClosingFile,
    /// Paused by `Suspend`.
    Suspended,
    /// Declared for parity with AWS; no row enters it.
    ShuttingDown,
    /// Shut down, or the new image activated.
    Stopped,
}

impl State {
    /// Every state, in declaration order.
    pub const ALL: [State; 11] = [
        State::Init,
        State::Ready,
        State::RequestingJob,
        State::WaitingForJob,
        State::CreatingFile,
        State::RequestingFileBlock,
        State::WaitingForFileBlock,
        State::ClosingFile,
        State::Suspended,
        State::ShuttingDown,
        State::Stopped,
    ];
}

/// The handlers the table names; `crate::Agent` has one method for each.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Handler {
    /// Forget any old job (keeping an unconfirmed final update) and ask for a job.
    Start,
    /// Publish what is outstanding: an unconfirmed update, else `$next/get` for the current
    /// job's document, else `start-next`; arm the request timer.
    RequestJob,
    /// Read a job document: take a new job (checked) or the current one's fresh URL.
    ProcessJob,
    /// After the reboot: report `SUCCEEDED` if the running version is newer than
    /// `updatedBy`, else `FAILED`.
    SelfTest,
    /// Create the file (a new job), or open what a restart kept of it, and ask for the
    /// download.
    InitFile,
    /// Start the download at the first missing block.
    RequestData,
    /// Write a block; check the image version at the header; report progress; close when
    /// complete.
    ProcessBlock,
    /// No block within the wait: restart the download after a back-off.
    BlockTimeout,
    /// The connection dropped: resume after a back-off.
    DownloadInterrupted,
    /// The URL expired: ask for the document again.
    RefreshUrl,
    /// A download error that fails the job.
    DownloadFailed,
    /// A notification or document while the job runs: a duplicate, a fresh version, or
    /// the job gone (canceled), which aborts it.
    JobNotification,
    /// Check the file and report `self_test: ready`.
    CloseFile,
    /// The `self_test: ready` update was accepted: activate the image.
    Activate,
    /// An update was accepted.
    UpdateAccepted,
    /// An update was rejected: re-read the version, or the job is gone.
    UpdateRejected,
    /// A job request was rejected: ask again later.
    RequestRejected,
    /// Publish an unconfirmed update again.
    ResendReport,
    /// Abort the file and report `FAILED` with the reason a handler found.
    FailJob,
    /// Stop the download and the timer.
    Suspend,
    /// Ask for the job again.
    Resume,
    /// Abort the file and report `FAILED` with `user-abort`.
    UserAbort,
    /// Stop the download and the timer, erase an unfinished file.
    Shutdown,
}

/// One row of the table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Row {
    /// The current state.
    pub state: State,
    /// The event's kind.
    pub event: EventKind,
    /// What runs.
    pub handler: Handler,
    /// The state after the handler succeeded.
    pub next: State,
}

const fn row(state: State, event: EventKind, handler: Handler, next: State) -> Row {
    Row {
        state,
        event,
        handler,
        next,
    }
}

use EventKind as E;
use Handler as H;
use State as S;

/// The transition table.
#[rustfmt::skip]
pub static TABLE: [Row; 60] = [
    // Starting, and finding a job.
    row(S::Init,                E::Start,               H::Start,               S::RequestingJob),
    row(S::Ready,               E::Start,               H::Start,               S::RequestingJob),
    row(S::RequestingJob,       E::RequestJobDocument,  H::RequestJob,          S::WaitingForJob),
    row(S::RequestingJob,       E::RequestTimer,        H::RequestJob,          S::WaitingForJob),
    row(S::WaitingForJob,       E::RequestJobDocument,  H::RequestJob,          S::WaitingForJob),
    row(S::WaitingForJob,       E::RequestTimer,        H::RequestJob,          S::WaitingForJob),
    row(S::WaitingForJob,       E::JobRequestRejected,  H::RequestRejected,     S::WaitingForJob),
    row(S::WaitingForJob,       E::ReceivedJobDocument, H::ProcessJob,          S::CreatingFile),
    row(S::WaitingForJob,       E::UpdateAccepted,      H::UpdateAccepted,      S::WaitingForJob),
    row(S::WaitingForJob,       E::UpdateRejected,      H::UpdateRejected,      S::WaitingForJob),
    row(S::WaitingForJob,       E::FailJob,             H::FailJob,             S::WaitingForJob),
    // After the reboot into the new image.
    row(S::CreatingFile,        E::StartSelfTest,       H::SelfTest,            S::WaitingForJob),
    // The download.
    row(S::CreatingFile,        E::CreateFile,          H::InitFile,            S::RequestingFileBlock),
    row(S::CreatingFile,        E::FailJob,             H::FailJob,             S::WaitingForJob),
    row(S::RequestingFileBlock, E::RequestFileBlock,    H::RequestData,         S::WaitingForFileBlock),
    row(S::RequestingFileBlock, E::RequestTimer,        H::RequestData,         S::WaitingForFileBlock),
    row(S::RequestingFileBlock, E::ReceivedJobDocument, H::JobNotification,     S::RequestingJob),
    row(S::RequestingFileBlock, E::UpdateAccepted,      H::UpdateAccepted,      S::RequestingFileBlock),
    row(S::RequestingFileBlock, E::UpdateRejected,      H::UpdateRejected,      S::RequestingJob),
    row(S::WaitingForFileBlock, E::ReceivedFileBlock,   H::ProcessBlock,        S::WaitingForFileBlock),
    row(S::WaitingForFileBlock, E::RequestTimer,        H::BlockTimeout,        S::RequestingFileBlock),
    row(S::WaitingForFileBlock, E::DownloadInterrupted, H::DownloadInterrupted, S::RequestingFileBlock),
    row(S::WaitingForFileBlock, E::UrlExpired,          H::RefreshUrl,          S::WaitingForJob),
    row(S::WaitingForFileBlock, E::DownloadFailed,      H::DownloadFailed,      S::WaitingForJob),
    row(S::WaitingForFileBlock, E::ReceivedJobDocument, H::JobNotification,     S::RequestingJob),
    row(S::WaitingForFileBlock, E::UpdateAccepted,      H::UpdateAccepted,      S::WaitingForFileBlock),
    row(S::WaitingForFileBlock, E::UpdateRejected,      H::UpdateRejected,      S::RequestingJob),
    row(S::WaitingForFileBlock, E::FailJob,             H::FailJob,             S::WaitingForJob),
    row(S::WaitingForFileBlock, E::CloseFile,           H::CloseFile,           S::ClosingFile),
    // Confirming self_test: ready, then activating.
    row(S::ClosingFile,         E::UpdateAccepted,      H::Activate,            S::Stopped),
    row(S::ClosingFile,         E::UpdateRejected,      H::UpdateRejected,      S::RequestingJob),
    row(S::ClosingFile,         E::RequestTimer,        H::ResendReport,        S::ClosingFile),
    row(S::ClosingFile,         E::ReceivedJobDocument, H::JobNotification,     S::RequestingJob),
    row(S::ClosingFile,         E::FailJob,             H::FailJob,             S::WaitingForJob),
    // Ready after UserAbort: confirming the FAILED update.
    row(S::Ready,               E::UpdateAccepted,      H::UpdateAccepted,      S::Ready),
    row(S::Ready,               E::UpdateRejected,      H::UpdateRejected,      S::Ready),
    row(S::Ready,               E::RequestTimer,        H::ResendReport,        S::Ready),
    row(S::Ready,               E::ReceivedJobDocument, H::JobNotification,     S::Ready),
    // Suspend and resume.
    row(S::RequestingJob,       E::Suspend,             H::Suspend,             S::Suspended),
    row(S::WaitingForJob,       E::Suspend,             H::Suspend,             S::Suspended),
    row(S::CreatingFile,        E::Suspend,             H::Suspend,             S::Suspended),
    row(S::RequestingFileBlock, E::Suspend,             H::Suspend,             S::Suspended),
    row(S::WaitingForFileBlock, E::Suspend,             H::Suspend,             S::Suspended),
    row(S::Suspended,           E::Resume,              H::Resume,              S::RequestingJob),
    // The user's abort.
    row(S::RequestingJob,       E::UserAbort,           H::UserAbort,           S::Ready),
    row(S::WaitingForJob,       E::UserAbort,           H::UserAbort,           S::Ready),
    row(S::CreatingFile,        E::UserAbort,           H::UserAbort,           S::Ready),
    row(S::RequestingFileBlock, E::UserAbort,           H::UserAbort,           S::Ready),
    row(S::WaitingForFileBlock, E::UserAbort,           H::UserAbort,           S::Ready),
    row(S::ClosingFile,         E::UserAbort,           H::UserAbort,           S::Ready),
    row(S::Suspended,           E::UserAbort,           H::UserAbort,           S::Ready),
    // Shutdown, from every state but ShuttingDown and Stopped.
    row(S::Init,                E::Shutdown,            H::Shutdown,            S::Stopped),
    row(S::Ready,               E::Shutdown,            H::Shutdown,            S::Stopped),
    row(S::RequestingJob,       E::Shutdown,            H::Shutdown,            S::Stopped),
    row(S::WaitingForJob,       E::Shutdown,            H::Shutdown,            S::Stopped),
    row(S::CreatingFile,        E::Shutdown,            H::Shutdown,            S::Stopped),
    row(S::RequestingFileBlock, E::Shutdown,            H::Shutdown,            S::Stopped),
    row(S::WaitingForFileBlock, E::Shutdown,            H::Shutdown,            S::Stopped),
    row(S::ClosingFile,         E::Shutdown,            H::Shutdown,            S::Stopped),
    row(S::Suspended,           E::Shutdown,            H::Shutdown,            S::Stopped),
];

/// The row for `state` and `event`, if there is one.
pub fn lookup(state: State, event: EventKind) -> Option<&'static Row> {
    TABLE
        .iter()
        .find(|row| row.state == state && row.event == event)
}
