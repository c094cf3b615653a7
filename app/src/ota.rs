//! OTA on the device, over the platform layer in `bsp::ota`: the boot stage that installs a
//! staged image, the code-signing check and the xz decoder's memory that staging needs (the
//! `ota` command, `crate::commands::ota`, and the agent use them).
//!
//! The signature is ECDSA P-256 over SHA-256 of the whole file, checked with the public key
//! of the code-signing certificate built into the firmware, as the AWS OTA library's PAL does
//! with `sig-sha256-ecdsa` from the job document.

use crate::layout;
use crate::platform::{Installer, Platform};
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

/// The boot stage, before anything else runs: installs a staged image where the board says
/// the firmware does that, and otherwise reports what the record says.
pub fn boot_stage(platform: &Platform) {
    let slots = match slots(platform) {
        Ok(slots) => slots,
        Err(e) => {
            log::error!(target: "ota", "no OTA partitions: {e}");
            return;
        }
    };
    if platform.ota.installer == Installer::Bootloader {
        if let Ok(Some(record)) = pal::record(&mut *platform.flash.lock(), &slots) {
            log::info!(target: "ota", "app_ota image is {}", record.state);
        }
        return;
    }
    let staged = matches!(
        pal::record(&mut *platform.flash.lock(), &slots),
        Ok(Some(record)) if record.state == RecordState::Staged
    );
    if !staged {
        return;
    }
    let mut memory = match DecoderMemory::take() {
        Ok(memory) => memory,
        Err(e) => {
            log::error!(target: "ota", "cannot install the staged image: {e}");
            return;
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
