//! The ports the firmware implements for the agent: the control channel (MQTT publish), the
//! file download, the platform layer (PAL) and the request timer with a clock. None of them
//! may block: each hands work to another task or does a bounded amount of it, and results
//! come back to the agent as events.
//!
//! They follow the interfaces the AWS OTA library asks of an application (`OtaInterfaces_t`
//! in `source/include/ota.h`, the PAL in `source/include/ota_platform_interface.h` of
//! `aws/ota-for-aws-iot-embedded-sdk`), cut down to what an HTTP download with a streaming
//! Range request needs.

use crate::reason::Reason;
use crate::version::Version;

/// The MQTT quality of service of a publish.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Qos {
    /// QoS 0: progress updates, which the next one supersedes.
    AtMostOnce,
    /// QoS 1: job requests and the updates that must arrive (self-test, final status).
    AtLeastOnce,
}

/// A request was not handed over (no connection, the other task's queue is full); the agent
/// tries again when its request timer fires.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NotSent;

/// The control channel: publishing on the Jobs API's topics.
///
/// `publish` only hands the message to the MQTT task. What confirms an update is not the
/// PUBACK of a QoS 1 publish but the Jobs API's reply on `<jobId>/update/accepted` or
/// `/rejected`, which the firmware posts as [`crate::Event::UpdateAccepted`] or
/// [`crate::Event::UpdateRejected`]; the agent publishes again on its timer until one comes.
pub trait Control {
    /// Queues `payload` for `topic` at `qos`.
    fn publish(&mut self, topic: &str, payload: &[u8], qos: Qos) -> Result<(), NotSent>;
}

/// What to download: the file of the current job, from `offset` to its end.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FileRequest<'a> {
    /// Tags every block and error of this request; the agent drops events of earlier ones.
    pub transfer: u32,
    /// Where the file is: `update_data_url` for HTTP (a stream name for MQTT delivery).
    pub url: &'a str,
    /// `fileid` of the document (for MQTT delivery).
    pub file_id: u32,
    /// The first byte wanted: a multiple of `block_size`.
    pub offset: u32,
    /// The file's size (`filesize`).
    pub size: u32,
    /// The size of every block but the last, which ends the file.
    pub block_size: u32,
}

/// The download: one interface for the HTTP Range download and, later, MQTT streams.
///
/// After `start`, the firmware's download task delivers the file as
/// [`crate::Event::ReceivedFileBlock`] events, in order for HTTP: each block starts at a
/// multiple of `block_size` and is `block_size` long, except the one that ends the file; a
/// block cut short by a lost connection is not delivered. Problems come back as
/// [`crate::Event::DownloadError`]. After the last block, or an error, the task stops by
/// itself; `stop` ends a download early.
pub trait Download {
    /// Starts fetching `request`, ending any download still running.
    fn start(&mut self, request: &FileRequest<'_>) -> Result<(), NotSent>;
    /// Stops the download; events already queued are dropped by the agent (their
    /// `transfer` is no longer current).
    fn stop(&mut self);
}

/// Which job's file the update partition receives: what a download that a restart cut short
/// is recognised by.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FileKey<'a> {
    /// The job's `jobId`.
    pub job_id: &'a str,
    /// The execution's `executionNumber` (0 when the Jobs API gave none): a job run again
    /// on the thing is a new execution, whose file starts over.
    pub execution: u64,
    /// `filesize`.
    pub size: u32,
}

/// What the update partition holds of a job's file after a restart.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Kept {
    /// Nothing to go on with: the file is created anew.
    Nothing,
    /// The file's first bytes, this many, are in and checked: the download goes on from there.
    Prefix(u32),
    /// The download failed before the restart, for this reason, which the cloud may not have
    /// received: it is reported again, not downloaded again.
    Failed(Reason),
    /// The file was staged before the cloud had `self_test: ready`, and the restart started
    /// its image (installed, or on trial): it now runs, and the self-test follows, against this
    /// version, the one that ran when the download began (what `updatedBy` would have said).
    Installed(Version),
}

/// The platform layer: the file in the update partition and the running image.
///
/// Errors are [`Reason`]s, reported as they are: the PAL picks the code (`oversize`,
/// `flash`, `signature`, `image`, `activate`) and a short detail.
pub trait Platform {
    /// The largest file the update partition takes, in bytes.
    fn capacity(&self) -> u32;
    /// Makes room for the file of `key` (`key.size` bytes), erasing any previous one, and
    /// notes its key and its progress from then on so that [`Platform::resume_file`] can go on
    /// after a restart; refuses an oversize file before erasing anything.
    fn create_file(&mut self, key: &FileKey<'_>) -> Result<(), Reason>;
    /// What is kept of the file of `key` from before a restart (or a power cut); with
    /// [`Kept::Prefix`] the file is open again for the rest of its blocks.
    fn resume_file(&mut self, key: &FileKey<'_>) -> Kept;
    /// Writes `data` at `offset` of the file; blocks may come in any order.
    fn write_block(&mut self, offset: u32, data: &[u8]) -> Result<(), Reason>;
    /// The version of the image being written, read from its header: `Ok(None)` until the
    /// header's bytes are in, an error when the header is invalid.
    fn file_version(&mut self) -> Result<Option<Version>, Reason>;
    /// Checks the complete file (header, CRC, `signature`, content) and stages it for
    /// installation. `signature` is the decoded `sig-sha256-ecdsa`; it is empty only when the
    /// build allows unsigned images.
    fn close_file(&mut self, signature: &[u8]) -> Result<(), Reason>;
    /// Gives the file up because of `reason`: at once nothing of it can install, and the
    /// reason is kept (until [`Platform::abort`]) for [`Platform::resume_file`] to return.
    fn fail_file(&mut self, reason: &Reason) -> Result<(), Reason>;
    /// Erases the file (partial, failed or staged), so that nothing of it installs and
    /// nothing of it is kept.
    fn abort(&mut self) -> Result<(), Reason>;
    /// The new image passed its self-test: it makes itself permanent before `SUCCEEDED` is
    /// reported (AWS's PAL sets the image state accepted at this point). An image on trial
    /// restarts here to be installed (on a device, this does not return), and the installed
    /// image runs the self-test again and reports.
    fn commit_image(&mut self);
    /// The new image's self-test verdict (`passed` or not) reached the cloud: nothing of this
    /// update is left to do after a restart. An image on trial that failed restarts here into
    /// the previous image (on a device, this does not return).
    fn confirm_image(&mut self, passed: bool);
    /// The version of an update that did not become the running image, although the cloud
    /// has not had its verdict: the installer refused it, or its trial ended without
    /// `SUCCEEDED` and the previous image runs. Its self-test then fails with this.
    fn rolled_back(&mut self) -> Option<Version>;
    /// No job is under way (the Jobs API offers none): whatever the partition keeps of an
    /// earlier one (a download, a verdict, an image awaiting its self-test) is stale, since
    /// that job ended (canceled, timed out) while the device was away. Erases only what is
    /// there.
    fn forget_file(&mut self);
    /// The version of the running image.
    fn running_version(&self) -> Version;
    /// Activates the staged image: on a device, resets and does not return; it returns
    /// `Ok` only where the reset is simulated.
    fn activate(&mut self) -> Result<(), Reason>;
}

/// The agent's one-shot request timer and a clock.
pub trait Timer {
    /// Arms the timer to post [`crate::Event::RequestTimer`] after `ms` milliseconds,
    /// replacing any earlier arming.
    fn start(&mut self, ms: u32);
    /// Disarms the timer.
    fn stop(&mut self);
    /// Milliseconds since some fixed point (boot), never going back.
    fn now_ms(&self) -> u64;
}
