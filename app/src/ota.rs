//! OTA on the device, over the platform layer in `bsp::ota`: the boot stage that installs a
//! staged image, the code-signing check and the xz decoder's memory that staging needs (the
//! `ota` command, `crate::commands::ota`, and the agent use them).
//!
//! The signature is ECDSA P-256 over SHA-256 of the whole file, checked with the public key
//! of the code-signing certificate built into the firmware, as the AWS OTA library's PAL does
//! with `sig-sha256-ecdsa` from the job document.

use crate::layout;
use crate::platform::{Installer, Platform};
use crate::settings::{OtaSettings, SELF_TEST_DEADLINE_S};
use alloc::format;
use alloc::string::{String, ToString};
use alloc::vec::Vec;
use bsp::format::xz;
use bsp::hal::ResetReason;
use bsp::ota::install::{self, InstallOutcome};
use bsp::ota::journal::DownloadIdentity;
use bsp::ota::pal;
use bsp::ota::record::RecordState;
use bsp::ota::{ImageSignature, SignatureFailure, Slots, Workspace};
use core::time::Duration;
use kernel::Timer;
use net::digest::{verify_ecdsa_sha256_by_certificate, Sha256, SignatureError};

/// The longest DER ECDSA P-256 signature (two 33-byte integers in a sequence).
pub(crate) const SIGNATURE_MAX: usize = 72;

/// The xz decoder's memory, on the heap for as long as one check or install takes.
pub(crate) struct DecoderMemory {
    dict: Vec<u8>,
    probs: Vec<u16>,
}

impl DecoderMemory {
    /// Fails (rather than aborting) when the heap cannot spare it.
    pub(crate) fn take() -> Result<DecoderMemory, String> {
        let mut dict = Vec::new();
        let mut probs = Vec::new();
        let no_room = |_| {
            format!(
                "no room for the xz decoder ({} bytes; {} free)",
                xz::DICT_SIZE_MAX + 2 * xz::PROBS_LEN,
                kernel::heap_stats().free
            )
        };
        dict.try_reserve_exact(xz::DICT_SIZE_MAX).map_err(no_room)?;
        probs.try_reserve_exact(xz::PROBS_LEN).map_err(no_room)?;
        dict.resize(xz::DICT_SIZE_MAX, 0);
        probs.resize(xz::PROBS_LEN, 0);
        Ok(DecoderMemory { dict, probs })
    }

    pub(crate) fn workspace(&mut self) -> Workspace<'_> {
        Workspace {
            dict: &mut self.dict,
            probs: &mut self.probs,
        }
    }
}

pub(crate) fn slots(platform: &Platform) -> Result<Slots, String> {
    let table = layout::partition_table(platform)?;
    Slots::from_table(&table).map_err(|e| e.to_string())
}

/// The download that `app_ota`'s journal says a restart or a power cut stopped, if any.
pub(crate) fn pending_download(platform: &Platform) -> Option<DownloadIdentity> {
    let slots = slots(platform).ok()?;
    let mut flash = platform.flash.lock();
    pal::pending_download(&mut *flash, &slots).ok().flatten()
}

/// Whether the image in `app` was installed from `app_ota` and its self-test verdict has not
/// reached the cloud yet (a restart came first): the agent then runs the self-test again.
pub(crate) fn awaits_self_test(platform: &Platform) -> bool {
    let Ok(slots) = slots(platform) else {
        return false;
    };
    let mut flash = platform.flash.lock();
    matches!(pal::awaits_confirmation(&mut *flash, &slots), Ok(true))
}

/// The version of an update that did not become the running image and whose job still
/// awaits its `FAILED` (the installer refused it, or its trial ended without `SUCCEEDED`).
pub(crate) fn rolled_back(platform: &Platform) -> Option<bsp::format::image::Version> {
    let slots = slots(platform).ok()?;
    let mut flash = platform.flash.lock();
    pal::rolled_back(&mut *flash, &slots).ok().flatten()
}

/// Accepts the image on trial (its self-test passed, or the user says so): marks it accepted
/// and restarts, and the boot stage installs it into `app`. `Ok(())` when no image is on trial.
pub(crate) fn accept_trial(platform: &Platform) -> Result<(), String> {
    end_trial(
        platform,
        RecordState::Accepted,
        "the image passed its trial: restarting to install it into app",
    )
}

/// Ends the trial of the running image, if it is still on trial: marks the record `to`
/// (accepted or rolled back), says `why` and restarts, so that the boot stage installs it or
/// runs the previous image. Of two that race to end it (the verdict and the deadline), the
/// first moves the record and restarts; the other finds nothing on trial and returns `Ok`.
pub(crate) fn end_trial(platform: &Platform, to: RecordState, why: &str) -> Result<(), String> {
    let slots = slots(platform)?;
    let mut flash = platform.flash.lock();
    let ended = pal::advance(&mut *flash, &slots, RecordState::Trial, to)
        .map_err(|e| format!("marking the image {to}: {e}"))?;
    drop(flash);
    if ended {
        if to == RecordState::Accepted {
            log::info!(target: "ota", "{why}");
        } else {
            log::warn!(target: "ota", "{why}");
        }
        platform.reset.reset(ResetReason::Ota)
    }
    Ok(())
}

/// Where the running code came from, as the boot stage found it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RunningImage {
    /// The image `app` holds.
    App,
    /// The staged image, on trial: `app` holds the previous one.
    Trial,
}

/// The boot stage, before anything else runs: installs a staged image where the board says
/// the firmware does that, and otherwise reports what the record says. An image on trial gets
/// its self-test's deadline.
pub fn boot_stage(platform: &'static Platform) -> RunningImage {
    let slots = match slots(platform) {
        Ok(slots) => slots,
        Err(e) => {
            log::error!(target: "ota", "no OTA partitions: {e}");
            return RunningImage::App;
        }
    };
    if platform.ota.installer == Installer::Bootloader {
        let record = pal::record(&mut *platform.flash.lock(), &slots);
        if let Ok(Some(record)) = record {
            log::info!(target: "ota", "app_ota image is {}", record.state);
            if record.state == RecordState::Trial {
                arm_self_test_deadline(platform);
                return RunningImage::Trial;
            }
        }
        return RunningImage::App;
    }
    let staged = matches!(
        pal::record(&mut *platform.flash.lock(), &slots),
        Ok(Some(record)) if record.state == RecordState::Staged
    );
    if !staged {
        return RunningImage::App;
    }
    let mut memory = match DecoderMemory::take() {
        Ok(memory) => memory,
        Err(e) => {
            log::error!(target: "ota", "cannot install the staged image: {e}");
            return RunningImage::App;
        }
    };
    log::info!(target: "ota", "installing the staged image from app_ota into app");
    let started = kernel::now_ms();
    let mut flash = platform.flash.lock();
    let outcome = install::install_staged(
        &mut *flash,
        &slots,
        &mut memory.workspace(),
        &mut |done, total| log::info!(target: "ota", "unpacked {done}/{total} bytes"),
    );
    drop(flash);
    let elapsed = kernel::now_ms() - started;
    match outcome {
        Ok(InstallOutcome::Installed(image)) => {
            log::info!(
                target: "ota",
                "installed {} ({} bytes) in {elapsed} ms; restarting into it",
                image.version.as_str(),
                image.img_len
            );
            // The board starts what `app` holds when it starts (QEMU's copy stage), as the
            // W800's bootloader does: the new code runs from the next start on.
            platform.reset.reset(ResetReason::Ota)
        }
        Ok(InstallOutcome::AlreadyInstalled(image)) => log::info!(
            target: "ota",
            "{} was already in app",
            image.version.as_str()
        ),
        Ok(InstallOutcome::NothingStaged) => {}
        Err(e) if e.rejected => {
            log::error!(target: "ota", "staged image rejected: {}", e.error)
        }
        Err(e) => log::error!(
            target: "ota",
            "install failed, to be tried again at the next start: {}",
            e.error
        ),
    }
    RunningImage::App
}

/// Arms the deadline of the self-test of the image on trial: when it passes with the trial
/// still open (no verdict accepted), the image marks itself rolled back and restarts, and the
/// boot stage then runs the previous image, which reports the job `FAILED`.
fn arm_self_test_deadline(platform: &'static Platform) {
    let seconds = OtaSettings::parse(platform.ota.settings)
        .map(|settings| settings.self_test_deadline_s)
        .unwrap_or(SELF_TEST_DEADLINE_S);
    log::info!(
        target: "ota",
        "on trial: the cloud must accept this image's self-test within {seconds} s, or it rolls back"
    );
    let expired = move || {
        let why = format!("the self-test had no accepted verdict within {seconds} s: rolling back");
        if let Err(e) = end_trial(platform, RecordState::RolledBack, &why) {
            log::error!(target: "ota", "{e}");
        }
    };
    let armed = Timer::new(
        "self-test",
        Duration::from_secs(u64::from(seconds)),
        false,
        expired,
    )
    .and_then(|timer| timer.start(kernel::FOREVER).map(|()| timer));
    match armed {
        // It runs until the restart that ends the trial: the deadline holds for the whole run.
        Ok(timer) => core::mem::forget(timer),
        Err(e) => log::error!(target: "ota", "cannot arm the self-test's deadline: {e:?}"),
    }
}

/// The signature check of a file with the firmware's code-signing certificate.
pub(crate) struct CodeSigning {
    pub(crate) certificate: Option<&'static [u8]>,
    pub(crate) digest: Sha256,
}

impl ImageSignature for CodeSigning {
    fn update(&mut self, data: &[u8]) {
        self.digest.update(data);
    }

    fn verify(self, signature: &[u8]) -> Result<(), SignatureFailure> {
        let certificate = self.certificate.ok_or(SignatureFailure::NoCertificate)?;
        let digest = self.digest.finish();
        verify_ecdsa_sha256_by_certificate(certificate, &digest, signature).map_err(|e| match e {
            SignatureError::BadKey(code) => SignatureFailure::BadCertificate(code),
            SignatureError::Mismatch(code) => SignatureFailure::Mismatch(code),
        })
    }
}
