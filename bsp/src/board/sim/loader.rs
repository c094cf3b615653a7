//! The sim's loader: what the W800's bootloader does before the app runs, for a firmware that
//! is a Linux executable (docs/sim-boot.md).
//!
//! On the chip the bootloader installs a staged image from `app_ota` into `app`, checks `app`'s
//! header and body CRC, and starts what `app` holds. The sim's `app` holds the sim firmware
//! itself: a W800 image whose body is the sim's i386 Linux executable. At every start the
//! loader installs a staged image, checks `app`, and when `app`'s body is not the executable
//! that is running, writes it out under the sim's state folder and replaces the process with
//! it (same arguments, same flash, the same reset reason). Whatever it cannot start it
//! refuses out loud, and the running executable goes on, saying that it is not what `app`
//! holds.
//!
//! A staged image is not installed at once: the loader runs it on trial, written out from
//! `app_ota`, while `app` keeps the previous image (MCUboot's test-and-confirm,
//! docs/robustness.md, "Rollback"). It installs the image into `app` only once the record says
//! the cloud accepted the trial's `SUCCEEDED`; a start that finds the trial still open ends it:
//! the record says rolled back and `app`'s image runs, which reports the job `FAILED`.

use crate::factory;
use crate::format::crc::JamCrc;
use crate::format::image::{self, CompressType, ImageAttr, ImageHeaderRepr, ImageType, Version};
use crate::format::ptable::PartitionTableRepr;
use crate::format::xz;
use crate::hal::{Flash, FlashGeometry, ResetReason};
use crate::nor::NorStore;
use crate::ota::content::Sink;
use crate::ota::install::{self, InstallOutcome};
use crate::ota::record::RecordState;
use crate::ota::{content, pal, OtaError, Slots, Workspace};
use std::ffi::OsString;
use std::fmt;
use std::io::{self, Read, Write};
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::time::Instant;

/// Set in the environment of an executable the loader started from `app`, so that it knows
/// (and says) where it came from, and never starts another one.
pub const STARTED_FROM_APP_ENV: &str = "W800_SIM_STARTED_FROM_APP";

/// Set in the environment of an executable the loader started on trial from `app_ota`.
pub const ON_TRIAL_ENV: &str = "W800_SIM_ON_TRIAL";

/// The name of `app`'s executable in the state folder.
const APP_EXECUTABLE: &str = "app";
/// The name of the executable on trial in the state folder.
const TRIAL_EXECUTABLE: &str = "trial";

/// How much a loader line matters.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NoteLevel {
    Info,
    Warn,
    Error,
}

/// Where the loader's lines go (the console, before the firmware's logger exists).
pub type Report<'r> = dyn FnMut(NoteLevel, &str) + 'r;

/// The sim's state folder for the flash file `flash`: `<flash>.state` beside it, where the
/// executable `app` holds is written out to run.
pub fn state_folder(flash: &Path) -> PathBuf {
    let mut name = flash.as_os_str().to_owned();
    name.push(".state");
    PathBuf::from(name)
}

/// An executable file. Its bytes are streamed a chunk at a time, never held whole: before the
/// firmware starts, every allocation comes out of the firmware's own 200 KiB heap.
#[derive(Clone, Debug)]
pub struct Executable {
    path: PathBuf,
    len: u64,
}

impl Executable {
    /// The executable this process runs (even when its file was replaced since it started).
    pub fn current() -> io::Result<Executable> {
        Executable::at(Path::new("/proc/self/exe"))
    }

    /// The executable file at `path`.
    pub fn at(path: &Path) -> io::Result<Executable> {
        let len = std::fs::metadata(path)?.len();
        Ok(Executable {
            path: path.to_owned(),
            len,
        })
    }

    /// The length of the image body it makes: the file padded with 0xFF to a multiple of 4
    /// bytes, as the image packer pads a body.
    fn body_len(&self) -> u64 {
        self.len.next_multiple_of(4)
    }

    /// Hands the body it makes to `each`, a chunk at a time with the chunk's offset.
    fn each_body_chunk(
        &self,
        each: &mut dyn FnMut(u32, &[u8]) -> io::Result<()>,
    ) -> io::Result<()> {
        let mut file = std::fs::File::open(&self.path)?;
        let mut chunk = [0u8; CHUNK];
        let mut offset = 0u32;
        loop {
            let n = file.read(&mut chunk)?;
            if n == 0 {
                break;
            }
            each(offset, &chunk[..n])?;
            offset = offset.saturating_add(n as u32);
        }
        if u64::from(offset) != self.len {
            return Err(io::Error::other("the executable changed while it was read"));
        }
        let padding = (self.body_len() - self.len) as usize;
        if padding > 0 {
            each(offset, &[0xFF; 3][..padding])?;
        }
        Ok(())
    }

    /// Whether `app`'s body (of `img_len` bytes) is this executable, padded.
    fn is_app(&self, flash: &mut dyn Flash, slots: &Slots, img_len: u32) -> io::Result<bool> {
        if self.body_len() != u64::from(img_len) {
            return Ok(false);
        }
        let body = slots.app.offset + image::HEADER_AREA;
        let mut app = [0u8; CHUNK];
        let mut same = true;
        self.each_body_chunk(&mut |offset, chunk| {
            let app = &mut app[..chunk.len()];
            flash.read(body + offset, app).map_err(io::Error::other)?;
            same &= app == chunk;
            Ok(())
        })?;
        Ok(same)
    }
}

/// The bytes the loader moves at a time (on the stack).
const CHUNK: usize = 4096;

/// The most body bytes `app` takes in the sim's partition table.
fn app_capacity() -> u32 {
    PartitionTableRepr::with_ota()
        .find(crate::format::ptable::APP)
        .map_or(0, |app| app.size.saturating_sub(image::HEADER_AREA))
}

/// What a factory-fresh flash got in `app`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FactoryApp {
    /// The running executable, `len` bytes of body, `spare` bytes of `app` left.
    Executable { len: u32, spare: u32 },
    /// The running executable is `len` bytes, more than `app`'s `capacity`: `app` holds a
    /// header without a body.
    TooLarge { len: u64, capacity: u32 },
}

impl fmt::Display for FactoryApp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FactoryApp::Executable { len, spare } => write!(
                f,
                "new flash: app holds this executable ({len} bytes, {spare} bytes of app to spare)"
            ),
            FactoryApp::TooLarge { len, capacity } => write!(
                f,
                "new flash: this executable ({len} bytes) does not fit app ({capacity} bytes): \
                 app holds an image header without code"
            ),
        }
    }
}

/// Writes a factory-fresh flash into `store`, as a flash programmer would: the partition
/// table, and in `app` the running executable as an image of version `version`, when it fits.
pub(crate) fn write_factory_flash(
    store: &mut impl NorStore,
    version: &str,
    running: &Executable,
) -> Result<FactoryApp, String> {
    factory::write_factory_content(store, FlashGeometry::W800, version, None)
        .map_err(|e| e.to_string())?;
    let capacity = app_capacity();
    let Some(len) = u32::try_from(running.body_len())
        .ok()
        .filter(|len| *len <= capacity)
    else {
        return Ok(FactoryApp::TooLarge {
            len: running.len,
            capacity,
        });
    };
    let slots = Slots::from_table(&PartitionTableRepr::with_ota()).map_err(|e| e.to_string())?;
    let body = slots.app.offset + image::HEADER_AREA;
    let mut crc = JamCrc::new();
    running
        .each_body_chunk(&mut |offset, chunk| {
            crc.update(chunk);
            store.store(body + offset, chunk).map_err(io::Error::other)
        })
        .map_err(|e| format!("copying the running executable into app: {e}"))?;
    let version = Version::new(version).map_err(|e| e.to_string())?;
    let attr = ImageAttr::new(ImageType::User, CompressType::None);
    let header = ImageHeaderRepr {
        img_len: len,
        org_checksum: crc.value(),
        ..ImageHeaderRepr::for_partition(
            slots.app.offset,
            Some(slots.app_ota.offset),
            &[],
            version,
            0,
            attr,
        )
        .map_err(|e| e.to_string())?
    };
    store
        .store(slots.app.offset, &header.to_bytes())
        .map_err(|e| e.to_string())?;
    Ok(FactoryApp::Executable {
        len,
        spare: capacity - len,
    })
}

/// What the process does after the loader.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Start {
    /// Goes on as the running executable.
    Running,
    /// Becomes the executable `app` holds, written out at this path.
    App(PathBuf),
    /// Becomes the staged image, on trial, written out at this path.
    Trial(PathBuf),
}

/// Where the loader of the process before this one started it from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StartedFrom {
    /// Not from the loader: a power-on, or a reset of an executable that goes on.
    Elsewhere,
    /// From `app`.
    App,
    /// From `app_ota`, on trial.
    Trial,
}

/// The loader's work at a start: runs a staged image on trial or ends a trial, installs an
/// accepted image, checks `app` and decides what runs. `version` is the running executable's.
pub fn boot(
    flash: &mut dyn Flash,
    state: &Path,
    running: &Executable,
    version: &str,
    started_from: StartedFrom,
    report: &mut Report<'_>,
) -> Start {
    let started_from_app = started_from == StartedFrom::App;
    // What follows every refusal: the executable that goes on is not what `app` holds.
    let instead = |report: &mut Report<'_>| {
        let len = running.len;
        report(
            NoteLevel::Error,
            &format!(
                "running this executable instead ({version}, {len} bytes), which is not what app holds"
            ),
        );
    };
    let Some(slots) = read_slots(flash) else {
        report(NoteLevel::Error, "no partition table with app and app_ota");
        instead(report);
        return Start::Running;
    };
    if let Some(start) = trial(flash, &slots, state, started_from, report) {
        return start;
    }
    install_staged(flash, &slots, report);
    let header = match install::check_app(flash, &slots) {
        Ok(header) => header,
        Err(e) => {
            report(NoteLevel::Error, &format!("app refused: {e}"));
            let holds = flash_state(flash, &slots);
            report(NoteLevel::Error, &format!("the flash holds: {holds}"));
            instead(report);
            return Start::Running;
        }
    };
    let app = describe(&header);
    if header.img_len == 0 {
        let capacity = slots.app.size.saturating_sub(image::HEADER_AREA);
        let why = if running.body_len() > u64::from(capacity) {
            format!(", which does not fit app ({capacity} bytes)")
        } else {
            String::new()
        };
        let len = running.len;
        report(
            NoteLevel::Warn,
            &format!(
                "app holds no code ({app}): running this executable ({version}, {len} bytes{why})"
            ),
        );
        return Start::Running;
    }
    match running.is_app(flash, &slots, header.img_len) {
        Ok(true) => {
            let from = if started_from_app {
                " (started from app)"
            } else {
                ""
            };
            report(NoteLevel::Info, &format!("running app: {app}{from}"));
            return Start::Running;
        }
        Ok(false) => {}
        Err(e) => {
            report(
                NoteLevel::Error,
                &format!("comparing the running executable with app: {e}"),
            );
            instead(report);
            return Start::Running;
        }
    }
    if started_from_app {
        report(
            NoteLevel::Error,
            &format!("started from app, yet app holds another executable ({app})"),
        );
        instead(report);
        return Start::Running;
    }
    let mut start = [0u8; ELF_HEADER_START];
    let is_executable = flash
        .read(slots.app.offset + image::HEADER_AREA, &mut start)
        .is_ok_and(|()| is_i386_linux_executable(&start));
    if !is_executable {
        report(
            NoteLevel::Error,
            &format!("app holds {app}, which is not an i386 Linux executable: not started"),
        );
        instead(report);
        return Start::Running;
    }
    match write_out(flash, &slots, header.img_len, state) {
        Ok(path) => {
            let path_text = path.display();
            report(
                NoteLevel::Info,
                &format!(
                    "app holds {app}, not this executable ({version}): starting it ({path_text})"
                ),
            );
            Start::App(path)
        }
        Err(e) => {
            let folder = state.display();
            report(
                NoteLevel::Error,
                &format!("cannot write app's executable into {folder}: {e}"),
            );
            instead(report);
            Start::Running
        }
    }
}

/// Replaces the process with the executable at `path` that `start` names, with the same
/// arguments and the reset reason `reason`. Returns only if that fails.
pub fn exec_start(
    path: &Path,
    start: StartedFrom,
    args: &[OsString],
    reason: ResetReason,
) -> io::Error {
    let _ = io::stdout().flush();
    let env = match start {
        StartedFrom::Trial => ON_TRIAL_ENV,
        StartedFrom::App | StartedFrom::Elsewhere => STARTED_FROM_APP_ENV,
    };
    super::exec(path, args, reason, &[(env, "1")])
}

/// The trial's part of a start: a staged image is written out to run on trial; a trial that a
/// start finds open ends rolled back, unless this process is the trial. `None` when the start
/// goes on as usual.
fn trial(
    flash: &mut dyn Flash,
    slots: &Slots,
    state: &Path,
    started_from: StartedFrom,
    report: &mut Report<'_>,
) -> Option<Start> {
    let record = pal::record(flash, slots).ok().flatten()?;
    match record.state {
        RecordState::Trial if started_from == StartedFrom::Trial => {
            report(
                NoteLevel::Info,
                "running the staged image on trial: app keeps the previous one until the cloud accepts it",
            );
            Some(Start::Running)
        }
        RecordState::Trial => {
            let ended = pal::advance(flash, slots, RecordState::Trial, RecordState::RolledBack);
            match ended {
                Ok(_) => report(
                    NoteLevel::Warn,
                    "the trial of the staged image ended without its verdict: rolled back to app",
                ),
                Err(e) => report(NoteLevel::Error, &format!("ending the trial: {e}")),
            }
            None
        }
        RecordState::Staged => {
            report(
                NoteLevel::Info,
                "unpacking the staged image from app_ota to run it on trial",
            );
            let path = state.join(TRIAL_EXECUTABLE);
            let refused = match write_out_trial(flash, slots, state, &path) {
                Ok(image) => {
                    let moved = pal::advance(flash, slots, RecordState::Staged, RecordState::Trial);
                    match moved {
                        Ok(true) => {
                            report(
                                NoteLevel::Info,
                                &format!(
                                    "starting {} on trial ({})",
                                    describe(&image),
                                    path.display()
                                ),
                            );
                            return Some(Start::Trial(path));
                        }
                        Ok(false) => return None,
                        Err(e) => format!("marking the trial: {e}"),
                    }
                }
                Err(e) => e,
            };
            let _ = std::fs::remove_file(&path);
            let rejected = pal::advance(flash, slots, RecordState::Staged, RecordState::Rejected);
            let kept = if rejected.is_ok() {
                "rejected"
            } else {
                "not marked"
            };
            report(
                NoteLevel::Error,
                &format!("staged image {kept}: {refused}: app keeps its image"),
            );
            None
        }
        _ => None,
    }
}

/// Writes the staged image's body out as the trial's executable at `path` (under a temporary
/// name, then renamed); its header, or why it cannot run.
fn write_out_trial(
    flash: &mut dyn Flash,
    slots: &Slots,
    state: &Path,
    path: &Path,
) -> Result<ImageHeaderRepr, String> {
    std::fs::create_dir_all(state).map_err(|e| e.to_string())?;
    let tmp = path.with_extension("new");
    let file = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o755)
        .open(&tmp)
        .map_err(|e| format!("{}: {e}", tmp.display()))?;
    let written = unpack_into(flash, slots, file).and_then(|image| {
        std::fs::rename(&tmp, path).map_err(|e| e.to_string())?;
        Ok(image)
    });
    if written.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    written
}

/// Unpacks the staged image's body into `file`; its header, or why it cannot run.
fn unpack_into(
    flash: &mut dyn Flash,
    slots: &Slots,
    file: std::fs::File,
) -> Result<ImageHeaderRepr, String> {
    let mut sink = TrialFile {
        file,
        failed: None,
        start: [0; ELF_HEADER_START],
    };
    // On the stack: the firmware's heap is not the loader's.
    let mut dict = [0u8; xz::DICT_SIZE_MAX];
    let mut probs = [0u16; xz::PROBS_LEN];
    let mut workspace = Workspace {
        dict: &mut dict,
        probs: &mut probs,
    };
    let unpacked = install::unpack_staged(flash, slots, &mut workspace, &mut sink);
    if let Some(e) = sink.failed.take() {
        return Err(format!("writing the trial's executable: {e}"));
    }
    let image = unpacked.map_err(|e| e.to_string())?;
    if !is_i386_linux_executable(&sink.start) {
        return Err(format!(
            "{} is not an i386 Linux executable",
            describe(&image)
        ));
    }
    sink.file.sync_all().map_err(|e| e.to_string())?;
    Ok(image)
}

/// The body of the image on trial, into its file; the first bytes kept for the ELF check.
struct TrialFile {
    file: std::fs::File,
    /// The first write error: the walk stops at it.
    failed: Option<io::Error>,
    start: [u8; ELF_HEADER_START],
}

impl<F: ?Sized> Sink<F> for TrialFile {
    fn header(&mut self, _: &mut F, _: &ImageHeaderRepr) -> Result<(), OtaError> {
        Ok(())
    }

    fn body(&mut self, _: &mut F, offset: u32, data: &[u8]) -> Result<(), OtaError> {
        if let Some(start) = self.start.get_mut(offset as usize..) {
            let n = start.len().min(data.len());
            start[..n].copy_from_slice(&data[..n]);
        }
        self.file.write_all(data).map_err(|e| {
            self.failed = Some(e);
            OtaError::Unsupported("the trial's executable could not be written")
        })
    }
}

fn read_slots(flash: &mut dyn Flash) -> Option<Slots> {
    use crate::format::ptable::{self, PartitionTable};
    let mut raw =
        [0u8; ptable::HEADER_LEN + ptable::MAX_PARTITIONS * ptable::ENTRY_LEN + ptable::MD5_LEN];
    flash.read(ptable::TABLE_OFFSET, &mut raw).ok()?;
    let view = PartitionTable::new_checked(&raw[..]).ok()?;
    let table = PartitionTableRepr::parse(&view, flash.geometry().size).ok()?;
    Slots::from_table(&table).ok()
}

/// Installs the image in `app_ota` whose trial the cloud accepted (docs/sim-boot.md,
/// "Installing").
fn install_staged(flash: &mut dyn Flash, slots: &Slots, report: &mut Report<'_>) {
    let accepted = matches!(
        pal::record(flash, slots),
        Ok(Some(record)) if record.state == RecordState::Accepted
    );
    if !accepted {
        return;
    }
    report(
        NoteLevel::Info,
        "installing the image the cloud accepted from app_ota into app",
    );
    // On the stack: the firmware's heap is not the loader's.
    let mut dict = [0u8; xz::DICT_SIZE_MAX];
    let mut probs = [0u16; xz::PROBS_LEN];
    let mut workspace = Workspace {
        dict: &mut dict,
        probs: &mut probs,
    };
    let started = Instant::now();
    let outcome = install::install_staged(flash, slots, &mut workspace, &mut |done, total| {
        report(NoteLevel::Info, &format!("unpacked {done}/{total} bytes"));
    });
    let ms = started.elapsed().as_millis();
    match outcome {
        Ok(InstallOutcome::Installed(image)) => report(
            NoteLevel::Info,
            &format!(
                "installed {} ({} bytes) in {ms} ms",
                image.version.as_str(),
                image.img_len
            ),
        ),
        Ok(InstallOutcome::AlreadyInstalled(image)) => report(
            NoteLevel::Info,
            &format!("{} was already in app", image.version.as_str()),
        ),
        Ok(InstallOutcome::NothingStaged) => {}
        Err(e) if e.rejected => report(
            NoteLevel::Error,
            &format!("staged image rejected: {}", e.error),
        ),
        Err(e) => report(
            NoteLevel::Error,
            &format!(
                "install failed, to be tried again at the next start: {}",
                e.error
            ),
        ),
    }
}

/// `version, N bytes, CRC 0x...` of an image header.
fn describe(header: &ImageHeaderRepr) -> String {
    format!(
        "{}, {} bytes, CRC 0x{:08X}",
        header.version.as_str(),
        header.img_len,
        header.org_checksum
    )
}

/// What `app`'s header says and what `app_ota` holds, for a refused `app`.
fn flash_state(flash: &mut dyn Flash, slots: &Slots) -> String {
    let mut raw = [0u8; image::HEADER_LEN];
    let app = match flash.read(slots.app.offset, &mut raw) {
        Ok(()) => match ImageHeaderRepr::parse_bytes(&raw) {
            Ok(header) => format!("app's header says {}", describe(&header)),
            Err(e) => format!("app has no valid header ({e})"),
        },
        Err(e) => format!("app unreadable ({e})"),
    };
    let file = match content::file_header(flash, slots) {
        Ok(file) => format!("app_ota holds {}", file.repr().version.as_str()),
        Err(_) => String::from("app_ota holds no image"),
    };
    let record = match pal::record(flash, slots) {
        Ok(Some(record)) => format!("its record says {}", record.state),
        Ok(None) => String::from("no update record"),
        Err(e) => format!("its record unreadable ({e})"),
    };
    format!("{app}; {file}, {record}")
}

/// The bytes of an ELF header up to its `e_machine` field.
const ELF_HEADER_START: usize = 20;

/// Whether `body` starts as a 32-bit little-endian ELF executable for i386 does.
pub fn is_i386_linux_executable(body: &[u8]) -> bool {
    const EM_386: u16 = 3;
    const ET_EXEC: u16 = 2;
    const ET_DYN: u16 = 3;
    let half = |at: usize| {
        body.get(at..at + 2)
            .and_then(|b| b.try_into().ok())
            .map(u16::from_le_bytes)
    };
    body.starts_with(b"\x7fELF\x01\x01")
        && matches!(half(16), Some(ET_EXEC | ET_DYN))
        && half(18) == Some(EM_386)
}

/// Writes `app`'s body (`img_len` bytes) as the state folder's executable, unless it is
/// already there; returns its path. Written under a temporary name and renamed, so a running
/// copy is never written over.
fn write_out(
    flash: &mut dyn Flash,
    slots: &Slots,
    img_len: u32,
    state: &Path,
) -> io::Result<PathBuf> {
    let path = state.join(APP_EXECUTABLE);
    let body = slots.app.offset + image::HEADER_AREA;
    let mut chunk = [0u8; CHUNK];
    let mut each_app_chunk = |each: &mut dyn FnMut(&[u8]) -> io::Result<()>| {
        let mut done = 0u32;
        while done < img_len {
            let n = (img_len - done).min(CHUNK as u32);
            let chunk = &mut chunk[..n as usize];
            flash.read(body + done, chunk).map_err(io::Error::other)?;
            each(chunk)?;
            done += n;
        }
        Ok::<(), io::Error>(())
    };
    if let Ok(mut there) = std::fs::File::open(&path) {
        let mut same = there.metadata()?.len() == u64::from(img_len);
        let mut theirs = [0u8; CHUNK];
        if same {
            each_app_chunk(&mut |chunk| {
                let theirs = &mut theirs[..chunk.len()];
                there.read_exact(theirs)?;
                same &= theirs == chunk;
                Ok(())
            })?;
        }
        if same {
            return Ok(path);
        }
    }
    std::fs::create_dir_all(state)?;
    let tmp = state.join(format!("{APP_EXECUTABLE}.new"));
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o755)
        .open(&tmp)?;
    each_app_chunk(&mut |chunk| file.write_all(chunk))?;
    file.set_permissions(std::fs::Permissions::from_mode(0o755))?;
    file.sync_all()?;
    drop(file);
    std::fs::rename(&tmp, &path)?;
    Ok(path)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::nor::{RamStore, SimulatedNor};

    /// A fresh directory for one test.
    fn temp_dir(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("w800-loader-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    /// A file of `len` bytes in `dir` that starts as an i386 ELF executable does (when `elf`).
    fn executable(dir: &Path, name: &str, len: usize, elf: bool) -> Executable {
        let seed = name.len();
        let mut bytes: Vec<u8> = (0..len).map(|i| ((i + seed) * 7 % 253) as u8).collect();
        if elf {
            bytes[..ELF_HEADER_START].copy_from_slice(&[
                0x7F, b'E', b'L', b'F', 1, 1, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 3, 0, 3, 0,
            ]);
        }
        let path = dir.join(name);
        std::fs::write(&path, bytes).unwrap();
        Executable::at(&path).unwrap()
    }

    /// A factory-fresh flash with `in_app` in `app`, as bytes.
    fn factory_store(in_app: &Executable) -> RamStore<Vec<u8>> {
        let mut store = RamStore(vec![0u8; FlashGeometry::W800.size as usize]);
        write_factory_flash(&mut store, "1.2.3", in_app).unwrap();
        store
    }

    /// A factory-fresh flash with `in_app` in `app`.
    fn flash_with(in_app: &Executable) -> SimulatedNor<RamStore<Vec<u8>>> {
        SimulatedNor::new(factory_store(in_app), FlashGeometry::W800)
    }

    /// Runs the loader; returns what it decided and the lines it reported.
    fn boot_with(
        flash: &mut dyn Flash,
        state: &Path,
        running: &Executable,
        started_from: StartedFrom,
    ) -> (Start, Vec<(NoteLevel, String)>) {
        let mut notes = Vec::new();
        let start = boot(
            flash,
            state,
            running,
            "1.0.0",
            started_from,
            &mut |level, text: &str| notes.push((level, text.to_owned())),
        );
        (start, notes)
    }

    fn said(notes: &[(NoteLevel, String)], level: NoteLevel, text: &str) -> bool {
        notes.iter().any(|(l, t)| *l == level && t.contains(text))
    }

    #[test]
    fn the_executable_in_app_runs_on() {
        let dir = temp_dir("same");
        let running = executable(&dir, "exe", 5000, true);
        let mut flash = flash_with(&running);
        let (start, notes) = boot_with(
            &mut flash,
            &dir.join("state"),
            &running,
            StartedFrom::Elsewhere,
        );
        assert_eq!(start, Start::Running);
        assert!(
            said(&notes, NoteLevel::Info, "running app: 1.2.3, 5000 bytes"),
            "{notes:?}"
        );
        assert!(!dir.join("state").exists());
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn another_executable_in_app_is_written_out_and_started() {
        let dir = temp_dir("other");
        let in_app = executable(&dir, "in-app", 4097, true);
        let running = executable(&dir, "running", 3000, true);
        let mut flash = flash_with(&in_app);
        let state = dir.join("state");
        let (start, notes) = boot_with(&mut flash, &state, &running, StartedFrom::Elsewhere);
        let path = state.join(APP_EXECUTABLE);
        assert_eq!(start, Start::App(path.clone()));
        assert!(
            said(&notes, NoteLevel::Info, "app holds 1.2.3, 4100 bytes"),
            "{notes:?}"
        );
        // The body as app holds it: the executable and its padding.
        let mut expected = std::fs::read(dir.join("in-app")).unwrap();
        expected.extend_from_slice(&[0xFF; 3]);
        assert_eq!(std::fs::read(&path).unwrap(), expected);
        let mode = std::fs::metadata(&path).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o755);

        // Started from there, it finds itself in app and runs on.
        let started = Executable::at(&path).unwrap();
        let (start, notes) = boot_with(&mut flash, &state, &started, StartedFrom::App);
        assert_eq!(start, Start::Running);
        assert!(
            said(&notes, NoteLevel::Info, "(started from app)"),
            "{notes:?}"
        );
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn an_executable_started_from_app_never_starts_another() {
        let dir = temp_dir("loop");
        let in_app = executable(&dir, "in-app", 2000, true);
        let running = executable(&dir, "running", 2000, true);
        let mut flash = flash_with(&in_app);
        let (start, notes) = boot_with(&mut flash, &dir.join("state"), &running, StartedFrom::App);
        assert_eq!(start, Start::Running);
        assert!(
            said(&notes, NoteLevel::Error, "yet app holds another executable"),
            "{notes:?}"
        );
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn a_damaged_app_is_refused_and_the_flash_reported() {
        let dir = temp_dir("damaged");
        let in_app = executable(&dir, "in-app", 6000, true);
        let running = executable(&dir, "running", 3000, true);
        let mut store = factory_store(&in_app);
        store.0[0xF400 + 1234] ^= 0x10;
        let mut flash = SimulatedNor::new(store, FlashGeometry::W800);
        let (start, notes) = boot_with(
            &mut flash,
            &dir.join("state"),
            &running,
            StartedFrom::Elsewhere,
        );
        assert_eq!(start, Start::Running);
        assert!(
            said(
                &notes,
                NoteLevel::Error,
                "app refused: app image: image body checksum mismatch"
            ),
            "{notes:?}"
        );
        assert!(
            said(
                &notes,
                NoteLevel::Error,
                "the flash holds: app's header says 1.2.3, 6000 bytes"
            ),
            "{notes:?}"
        );
        assert!(
            said(
                &notes,
                NoteLevel::Error,
                "app_ota holds no image, no update record"
            ),
            "{notes:?}"
        );
        assert!(
            said(
                &notes,
                NoteLevel::Error,
                "running this executable instead (1.0.0"
            ),
            "{notes:?}"
        );
        assert!(!dir.join("state").exists());
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn a_body_that_is_no_executable_is_not_started() {
        let dir = temp_dir("not-elf");
        let in_app = executable(&dir, "in-app", 4000, false);
        let running = executable(&dir, "running", 3000, true);
        let mut flash = flash_with(&in_app);
        let (start, notes) = boot_with(
            &mut flash,
            &dir.join("state"),
            &running,
            StartedFrom::Elsewhere,
        );
        assert_eq!(start, Start::Running);
        assert!(
            said(&notes, NoteLevel::Error, "not an i386 Linux executable"),
            "{notes:?}"
        );
        assert!(!dir.join("state").exists());
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn an_app_without_code_is_said_and_the_running_executable_goes_on() {
        let dir = temp_dir("no-code");
        let running = executable(&dir, "running", 3000, true);
        let large = dir.join("large");
        std::fs::File::create(&large)
            .unwrap()
            .set_len(u64::from(app_capacity()) + 1)
            .unwrap();
        let mut flash = flash_with(&Executable::at(&large).unwrap());
        let (start, notes) = boot_with(
            &mut flash,
            &dir.join("state"),
            &running,
            StartedFrom::Elsewhere,
        );
        assert_eq!(start, Start::Running);
        assert!(
            said(&notes, NoteLevel::Warn, "app holds no code (1.2.3, 0 bytes"),
            "{notes:?}"
        );
        std::fs::remove_dir_all(dir).unwrap();
    }

    fn record_state(flash: &mut dyn Flash) -> Option<RecordState> {
        let slots = read_slots(flash).unwrap();
        pal::record(flash, &slots)
            .unwrap()
            .map(|record| record.state)
    }

    /// A factory flash with `in_app` in `app` and, staged in `app_ota`, an image of 2.0.0
    /// whose body is `staged`.
    fn flash_with_staged(in_app: &Executable, staged: &Path) -> SimulatedNor<RamStore<Vec<u8>>> {
        let mut flash = flash_with(in_app);
        let body = std::fs::read(staged).unwrap();
        let file = crate::ota::tests::xz_ota_file("2.0.0", &body);
        crate::ota::tests::stage(&mut flash, &file).unwrap();
        flash
    }

    #[test]
    fn a_staged_image_runs_on_trial_and_a_start_that_finds_the_trial_open_rolls_it_back() {
        let dir = temp_dir("trial");
        let in_app = executable(&dir, "in-app", 3000, true);
        executable(&dir, "new", 5000, true);
        let mut flash = flash_with_staged(&in_app, &dir.join("new"));
        let state = dir.join("state");

        // The start after staging: written out and started on trial; app is left alone.
        let (start, notes) = boot_with(&mut flash, &state, &in_app, StartedFrom::Elsewhere);
        let trial = state.join(TRIAL_EXECUTABLE);
        assert_eq!(start, Start::Trial(trial.clone()), "{notes:?}");
        assert!(
            said(&notes, NoteLevel::Info, "starting 2.0.0, 5000 bytes"),
            "{notes:?}"
        );
        assert_eq!(
            std::fs::read(&trial).unwrap(),
            std::fs::read(dir.join("new")).unwrap()
        );
        assert_eq!(record_state(&mut flash), Some(RecordState::Trial));
        let slots = read_slots(&mut flash).unwrap();
        assert!(install::check_app(&mut flash, &slots).is_ok());

        // Started from there, it runs on.
        let running = Executable::at(&trial).unwrap();
        let (start, notes) = boot_with(&mut flash, &state, &running, StartedFrom::Trial);
        assert_eq!(start, Start::Running);
        assert!(said(&notes, NoteLevel::Info, "on trial"), "{notes:?}");

        // Any other start ends the trial: rolled back, and app's executable runs.
        let (start, notes) = boot_with(&mut flash, &state, &running, StartedFrom::Elsewhere);
        assert!(
            said(&notes, NoteLevel::Warn, "rolled back to app"),
            "{notes:?}"
        );
        assert_eq!(record_state(&mut flash), Some(RecordState::RolledBack));
        assert_eq!(start, Start::App(state.join(APP_EXECUTABLE)), "{notes:?}");
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn an_accepted_trial_is_installed_and_runs_from_app() {
        let dir = temp_dir("accepted");
        let in_app = executable(&dir, "in-app", 3000, true);
        executable(&dir, "new", 5000, true);
        let mut flash = flash_with_staged(&in_app, &dir.join("new"));
        let state = dir.join("state");
        let (start, _) = boot_with(&mut flash, &state, &in_app, StartedFrom::Elsewhere);
        let Start::Trial(trial) = start else {
            panic!("not on trial: {start:?}");
        };
        let slots = read_slots(&mut flash).unwrap();
        let accepted = pal::advance(
            &mut flash,
            &slots,
            RecordState::Trial,
            RecordState::Accepted,
        );
        assert_eq!(accepted, Ok(true));

        // The trial's restart: the image goes into app, which then holds the running executable.
        let running = Executable::at(&trial).unwrap();
        let (start, notes) = boot_with(&mut flash, &state, &running, StartedFrom::Elsewhere);
        assert!(
            said(&notes, NoteLevel::Info, "installed 2.0.0"),
            "{notes:?}"
        );
        assert!(
            said(&notes, NoteLevel::Info, "running app: 2.0.0"),
            "{notes:?}"
        );
        assert_eq!(start, Start::Running);
        assert_eq!(record_state(&mut flash), Some(RecordState::Committed));
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn a_staged_image_that_is_no_executable_is_rejected_and_app_runs() {
        let dir = temp_dir("trial-not-elf");
        let in_app = executable(&dir, "in-app", 3000, true);
        executable(&dir, "new", 5000, false);
        let mut flash = flash_with_staged(&in_app, &dir.join("new"));
        let state = dir.join("state");
        let (start, notes) = boot_with(&mut flash, &state, &in_app, StartedFrom::Elsewhere);
        assert_eq!(start, Start::Running, "{notes:?}");
        assert!(
            said(
                &notes,
                NoteLevel::Error,
                "is not an i386 Linux executable: app keeps its image"
            ),
            "{notes:?}"
        );
        assert_eq!(record_state(&mut flash), Some(RecordState::Rejected));
        // Nothing of it is left in the state folder, under either name.
        assert!(!state.join(TRIAL_EXECUTABLE).exists());
        assert!(!state.join(format!("{TRIAL_EXECUTABLE}.new")).exists());
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn only_32_bit_little_endian_i386_elf_files_are_executables() {
        let mut header = [0u8; ELF_HEADER_START];
        header[..6].copy_from_slice(b"\x7fELF\x01\x01");
        header[16] = 2;
        header[18] = 3;
        assert!(is_i386_linux_executable(&header));
        header[16] = 3;
        assert!(is_i386_linux_executable(&header));
        let mut x86_64 = header;
        x86_64[4] = 2;
        assert!(!is_i386_linux_executable(&x86_64));
        let mut arm = header;
        arm[18] = 40;
        assert!(!is_i386_linux_executable(&arm));
        let mut object = header;
        object[16] = 1;
        assert!(!is_i386_linux_executable(&object));
        assert!(!is_i386_linux_executable(&header[..19]));
        assert!(!is_i386_linux_executable(b""));
    }

    #[test]
    fn the_state_folder_is_beside_the_flash_file() {
        assert_eq!(
            state_folder(Path::new("target/sim/flash.bin")),
            PathBuf::from("target/sim/flash.bin.state")
        );
    }
}
