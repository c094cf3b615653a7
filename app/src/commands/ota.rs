//! `ota`: the OTA partitions' state, and the local apply of a file in `app_ota` (check and
//! stage it, restart into it, accept it after its trial) over the platform layer (`bsp::ota`,
//! `crate::ota`).

use crate::ota::{slots, CodeSigning, DecoderMemory, SIGNATURE_MAX};
use crate::shell::command::{CommandError, CommandResult, Context};
use alloc::format;
use alloc::string::{String, ToString};
use bsp::format::image::ImageHeaderRepr;
use bsp::hal::ResetReason;
use bsp::ota::install;
use bsp::ota::pal;
use bsp::ota::record::RecordState;
use bsp::ota::OtaError;
use net::digest::Sha256;
use ota_agent::base64;

/// `ota [status] | verify <signature> | activate | accept`.
pub fn command(ctx: &mut Context<'_>, args: &[&str]) -> CommandResult {
    match args {
        [] | ["status"] => {
            status(ctx)?;
            super::aws_ota::agent_status(ctx)
        }
        ["abort"] => super::aws_ota::abort(ctx),
        ["verify", signature] => verify(ctx, signature),
        ["activate"] => activate(ctx),
        ["accept"] => accept(ctx),
        _ => Err(CommandError::Usage),
    }
}

fn failed(e: impl ToString) -> CommandError {
    CommandError::Failed(e.to_string())
}

fn describe(header: &ImageHeaderRepr) -> String {
    format!(
        "{}, {} bytes, {}",
        header.version.as_str(),
        header.img_len,
        header.attr.compress_type().map_or("?", |c| match c {
            bsp::format::image::CompressType::None => "uncompressed",
            bsp::format::image::CompressType::Xz => "xz",
        })
    )
}

fn status(ctx: &mut Context<'_>) -> CommandResult {
    let slots = slots(ctx.platform).map_err(failed)?;
    let mut flash = ctx.platform.flash.lock();
    let app = install::check_app(&mut *flash, &slots);
    let file = bsp::ota::content::file_header(&mut *flash, &slots);
    let record = pal::record(&mut *flash, &slots);
    drop(flash);
    match app {
        Ok(h) => writeln!(ctx.out, "app:     {} (CRC ok)", describe(&h))?,
        Err(e) => writeln!(ctx.out, "app:     {e}")?,
    }
    match file {
        Ok(h) => writeln!(ctx.out, "app_ota: {}", describe(h.repr()))?,
        Err(OtaError::Header(_)) => writeln!(ctx.out, "app_ota: no image")?,
        Err(e) => writeln!(ctx.out, "app_ota: {e}")?,
    }
    match record.map_err(failed)? {
        Some(record) => writeln!(
            ctx.out,
            "record:  {} ({} bytes, org_checksum 0x{:08X})",
            record.state, record.file_len, record.org_checksum
        )?,
        None => writeln!(ctx.out, "record:  none")?,
    }
    Ok(())
}

/// Checks the file in `app_ota` with `signature` (base64 DER) and stages it; a refused file
/// loses its header in `app_ota` (the platform layer keeps a copy, so it can be verified
/// again).
fn verify(ctx: &mut Context<'_>, signature: &str) -> CommandResult {
    let mut der = [0u8; SIGNATURE_MAX];
    let len = base64::decode(signature.as_bytes(), &mut der).map_err(failed)?;
    let slots = slots(ctx.platform).map_err(failed)?;
    let mut memory = DecoderMemory::take().map_err(failed)?;
    let check = CodeSigning {
        certificate: ctx.platform.ota.code_signing,
        digest: Sha256::new(),
    };
    let started = kernel::now_ms();
    let mut flash = ctx.platform.flash.lock();
    let staged = pal::open_file(&mut *flash, &slots)
        .and_then(|file| {
            pal::close_file(
                &mut *flash,
                &slots,
                file,
                &der[..len],
                check,
                &mut memory.workspace(),
            )
        })
        .map_err(|e| failed(format!("refused: {e}")))?;
    drop(flash);
    writeln!(
        ctx.out,
        "staged {}: file {} bytes, image {} bytes; header, CRC, signature and content checked in {} ms",
        staged.file.version.as_str(),
        staged.file_len,
        staged.inner.img_len,
        kernel::now_ms() - started
    )?;
    Ok(())
}

/// Accepts the image on trial by hand (as its passed self-test does): it goes into `app`.
fn accept(ctx: &mut Context<'_>) -> CommandResult {
    crate::ota::accept_trial(ctx.platform).map_err(failed)?;
    Err(failed("no image is on trial"))
}

/// Restarts into the staged image.
fn activate(ctx: &mut Context<'_>) -> CommandResult {
    let slots = slots(ctx.platform).map_err(failed)?;
    let record = pal::record(&mut *ctx.platform.flash.lock(), &slots).map_err(failed)?;
    if !matches!(record, Some(r) if r.state == RecordState::Staged) {
        return Err(failed("no image is staged (ota verify <signature> first)"));
    }
    log::info!(target: "ota", "restarting into the staged image");
    ctx.platform.reset.reset(ResetReason::Ota)
}
