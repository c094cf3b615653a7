//! The agent's platform port over `bsp::ota`'s platform layer: the file goes into `app_ota`
//! block by block, its header last; `close_file` checks it (header rules, CRC, the ECDSA
//! signature with the built-in code-signing certificate, a dry-run decode) and stages it, and
//! `activate` restarts into it.

use crate::ota::{CodeSigning, DecoderMemory};
use crate::platform::Platform;
use bsp::format::image::{self, ImageHeaderRepr};
use bsp::hal::ResetReason;
use bsp::ota::journal::{DownloadIdentity, Verdict};
use bsp::ota::pal::{self, IncomingFile};
use bsp::ota::record::RecordState;
use bsp::ota::{OtaError, Slots};
use net::digest::Sha256;
use ota_agent::ports::{self, FileKey, Kept};
use ota_agent::reason::{Reason, ReasonCode};
use ota_agent::version::Version;

pub struct FlashPlatform {
    platform: &'static Platform,
    slots: Slots,
    file: Option<IncomingFile>,
    running: Version,
}

impl FlashPlatform {
    pub fn new(platform: &'static Platform, slots: Slots, running: Version) -> FlashPlatform {
        FlashPlatform {
            platform,
            slots,
            file: None,
            running,
        }
    }

    /// The journal's identity of the file of `key`, which replaces the version running.
    fn identity(&self, key: &FileKey<'_>) -> Result<DownloadIdentity, Reason> {
        let running = image::Version::new(self.running.as_str())
            .map_err(|e| Reason::with(ReasonCode::Flash, format_args!("running version: {e}")))?;
        DownloadIdentity::new(key.job_id, key.execution, key.size, running).ok_or_else(|| {
            Reason::with(
                ReasonCode::Flash,
                format_args!("job id of {} bytes", key.job_id.len()),
            )
        })
    }
}

/// The agent's reason for a platform-layer error.
fn reason(error: OtaError) -> Reason {
    let code = match error {
        OtaError::Flash(_) | OtaError::ReadBack { .. } | OtaError::NoPartition(_) => {
            ReasonCode::Flash
        }
        OtaError::TooLarge { .. } => ReasonCode::Oversize,
        OtaError::Signature(_) => ReasonCode::Signature,
        _ => ReasonCode::Image,
    };
    Reason::with(code, format_args!("{error}"))
}

impl ports::Platform for FlashPlatform {
    fn capacity(&self) -> u32 {
        self.slots.file_capacity()
    }

    fn create_file(&mut self, key: &FileKey<'_>) -> Result<(), Reason> {
        self.file = None;
        let identity = self.identity(key)?;
        let mut flash = self.platform.flash.lock();
        let file = pal::create_download(&mut *flash, &self.slots, &identity).map_err(reason)?;
        self.file = Some(file);
        Ok(())
    }

    fn resume_file(&mut self, key: &FileKey<'_>) -> Kept {
        self.file = None;
        let Ok(identity) = self.identity(key) else {
            return Kept::Nothing;
        };
        let mut flash = self.platform.flash.lock();
        let installed = pal::installed_download(&mut *flash, &self.slots, &identity);
        if let Some(version) = installed
            .ok()
            .flatten()
            .and_then(|v| Version::new(v.as_str()))
        {
            return Kept::Installed(version);
        }
        let kept = pal::download_verdict(&mut *flash, &self.slots, &identity).and_then(|verdict| {
            if let Some(verdict) = verdict {
                let reason = Reason::parse(&verdict.reason).unwrap_or_else(|| {
                    Reason::with(ReasonCode::Flash, format_args!("{}", verdict.reason))
                });
                return Ok(Kept::Failed(reason));
            }
            let file = pal::resume_download(&mut *flash, &self.slots, &identity)?;
            let kept = file
                .as_ref()
                .map_or(Kept::Nothing, |f| Kept::Prefix(f.prefix()));
            self.file = file;
            Ok(kept)
        });
        kept.unwrap_or_else(|e| {
            log::warn!(target: "ota", "the kept download cannot be read: {e}");
            Kept::Nothing
        })
    }

    fn write_block(&mut self, offset: u32, data: &[u8]) -> Result<(), Reason> {
        let file = self
            .file
            .as_mut()
            .ok_or_else(|| Reason::with(ReasonCode::Flash, format_args!("no file open")))?;
        let mut flash = self.platform.flash.lock();
        pal::write_block(&mut *flash, &self.slots, file, offset, data).map_err(reason)
    }

    fn file_version(&mut self) -> Result<Option<Version>, Reason> {
        let Some(header) = self.file.as_ref().and_then(IncomingFile::header) else {
            return Ok(None);
        };
        let header = ImageHeaderRepr::parse_bytes(header)
            .map_err(|e| Reason::with(ReasonCode::Image, format_args!("header: {e}")))?;
        Version::new(header.version.as_str())
            .map(Some)
            .ok_or_else(|| {
                Reason::with(
                    ReasonCode::Image,
                    format_args!("version {:?} is not comparable", header.version.as_str()),
                )
            })
    }

    fn close_file(&mut self, signature: &[u8]) -> Result<(), Reason> {
        let file = self
            .file
            .take()
            .ok_or_else(|| Reason::with(ReasonCode::Flash, format_args!("no file open")))?;
        let mut memory = DecoderMemory::take()
            .map_err(|e| Reason::with(ReasonCode::Image, format_args!("{e}")))?;
        let check = CodeSigning {
            certificate: self.platform.ota.code_signing,
            digest: Sha256::new(),
        };
        let started = kernel::now_ms();
        let mut flash = self.platform.flash.lock();
        let staged = pal::close_file(
            &mut *flash,
            &self.slots,
            file,
            signature,
            check,
            &mut memory.workspace(),
        )
        .map_err(reason)?;
        log::info!(
            target: "ota",
            "staged {}: file {} bytes, image {} bytes, checked in {} ms",
            staged.file.version.as_str(),
            staged.file_len,
            staged.inner.img_len,
            kernel::now_ms().wrapping_sub(started)
        );
        Ok(())
    }

    fn fail_file(&mut self, why: &Reason) -> Result<(), Reason> {
        self.file = None;
        let mut flash = self.platform.flash.lock();
        pal::fail_download(&mut *flash, &self.slots, &Verdict::new(&why.render())).map_err(reason)
    }

    fn commit_image(&mut self) {
        if let Err(e) = crate::ota::accept_trial(self.platform) {
            log::error!(target: "ota", "{e}");
        }
    }

    fn confirm_image(&mut self, passed: bool) {
        let mut flash = self.platform.flash.lock();
        let state = match pal::record(&mut *flash, &self.slots) {
            Ok(Some(record)) => record.state,
            _ => return,
        };
        match (state, passed) {
            (RecordState::Installed, _) => {
                if let Err(e) = pal::mark(&mut *flash, &self.slots, RecordState::Confirmed) {
                    log::error!(target: "ota", "marking the image confirmed: {e}");
                }
            }
            (RecordState::Trial, false) => {
                drop(flash);
                let why = "this image failed its self-test: restarting into the previous one";
                if let Err(e) = crate::ota::end_trial(self.platform, RecordState::RolledBack, why) {
                    log::error!(target: "ota", "{e}");
                }
            }
            // The cloud has the verdict on an image that went into app after its trial, or
            // on one that did not become the running image: nothing of the update is kept.
            (RecordState::Committed | RecordState::Rejected | RecordState::RolledBack, _) => {
                if let Err(e) = pal::abort_file(&mut *flash, &self.slots) {
                    log::error!(target: "ota", "dropping the update's file: {e}");
                }
            }
            _ => {}
        }
    }

    fn rolled_back(&mut self) -> Option<Version> {
        let mut flash = self.platform.flash.lock();
        let version = pal::rolled_back(&mut *flash, &self.slots).ok().flatten()?;
        Version::new(version.as_str())
    }

    fn forget_file(&mut self) {
        // An image on trial whose job ended (canceled, timed out) is not kept: the previous
        // image comes back.
        let why = "no job is under way for this image on trial: restarting into the previous one";
        if let Err(e) = crate::ota::end_trial(self.platform, RecordState::RolledBack, why) {
            log::error!(target: "ota", "{e}");
        }
        let mut flash = self.platform.flash.lock();
        let pending = pal::pending_download(&mut *flash, &self.slots);
        let installed = pal::awaits_confirmation(&mut *flash, &self.slots);
        let refused = pal::rolled_back(&mut *flash, &self.slots);
        if matches!(pending, Ok(Some(_)))
            || matches!(installed, Ok(true))
            || matches!(refused, Ok(Some(_)))
        {
            log::info!(target: "ota", "no job is under way: dropping what app_ota kept of one");
            self.file = None;
            if let Err(e) = pal::abort_file(&mut *flash, &self.slots) {
                log::error!(target: "ota", "dropping the kept file: {e}");
            }
        }
    }

    fn abort(&mut self) -> Result<(), Reason> {
        self.file = None;
        let mut flash = self.platform.flash.lock();
        pal::abort_file(&mut *flash, &self.slots).map_err(reason)
    }

    fn running_version(&self) -> Version {
        self.running.clone()
    }

    fn activate(&mut self) -> Result<(), Reason> {
        // The OTA's tasks have done their deepest work (the download, the staging): what
        // their stacks never used is the margin their sizes in `config` leave.
        for task in kernel::task_list()
            .iter()
            .filter(|task| task.name.starts_with("ota-") || task.name == "cloud")
        {
            log::info!(
                target: "ota",
                "stack never used by {}: {} bytes",
                task.name,
                task.stack_high_water_words * 4
            );
        }
        log::info!(target: "ota", "activating the new image: restarting");
        self.platform.reset.reset(ResetReason::Ota)
    }
}
