//! Why a job failed: a reason code and a short detail, reported as
//! `statusDetails.reason = "<code>"` or `"<code>: <detail>"` with status `FAILED`.
//!
//! The AWS OTA library reports failures the same way, as `FAILED` with a `reason` in
//! `statusDetails` (`source/ota_mqtt.c`, `prvBuildStatusMessageFinish`, of
//! `aws/ota-for-aws-iot-embedded-sdk`); its reasons are hex codes, ours are words.

use core::fmt::{self, Write};
use heapless::String;

/// The longest detail kept; a longer one is cut.
pub const DETAIL_MAX: usize = 96;
/// The longest rendered reason: code, `": "` and detail.
pub const REASON_MAX: usize = 128;

/// The reason codes, each the first word of `statusDetails.reason`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReasonCode {
    /// `doc-parse`: the job document is malformed or not `afr_ota`; the detail names the
    /// parse error.
    DocParse,
    /// `protocol`: the document offers no protocol this firmware downloads with.
    Protocol,
    /// `oversize`: the file does not fit the partition (refused before any erase).
    Oversize,
    /// `unsigned`: the document has no `sig-sha256-ecdsa` and the build requires one.
    Unsigned,
    /// `version-not-newer`: the image's version is not newer than the running one.
    VersionNotNewer,
    /// `signature`: the signature does not verify (or cannot be checked).
    Signature,
    /// `image`: the file's header, CRC or content is wrong.
    Image,
    /// `flash`: the platform could not erase or write the partition.
    Flash,
    /// `download`: the file could not be fetched (an HTTP error the agent does not retry,
    /// data that contradicts the request, or retries used up).
    Download,
    /// `user-abort`: the user stopped the job (`ota abort`).
    UserAbort,
    /// `self-test`: the new image's self-test failed after the reboot.
    SelfTest,
    /// `activate`: the platform could not activate the new image.
    Activate,
}

impl ReasonCode {
    /// Every code.
    pub const ALL: [ReasonCode; 12] = [
        ReasonCode::DocParse,
        ReasonCode::Protocol,
        ReasonCode::Oversize,
        ReasonCode::Unsigned,
        ReasonCode::VersionNotNewer,
        ReasonCode::Signature,
        ReasonCode::Image,
        ReasonCode::Flash,
        ReasonCode::Download,
        ReasonCode::UserAbort,
        ReasonCode::SelfTest,
        ReasonCode::Activate,
    ];

    /// The code as reported.
    pub fn as_str(self) -> &'static str {
        match self {
            ReasonCode::DocParse => "doc-parse",
            ReasonCode::Protocol => "protocol",
            ReasonCode::Oversize => "oversize",
            ReasonCode::Unsigned => "unsigned",
            ReasonCode::VersionNotNewer => "version-not-newer",
            ReasonCode::Signature => "signature",
            ReasonCode::Image => "image",
            ReasonCode::Flash => "flash",
            ReasonCode::Download => "download",
            ReasonCode::UserAbort => "user-abort",
            ReasonCode::SelfTest => "self-test",
            ReasonCode::Activate => "activate",
        }
    }
}

/// A reason code with an optional detail.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reason {
    code: ReasonCode,
    detail: String<DETAIL_MAX>,
}

/// Writes into a bounded string, cutting what does not fit.
struct Cut<'a, const N: usize>(&'a mut String<N>);

impl<const N: usize> Write for Cut<'_, N> {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        for c in s.chars() {
            if self.0.push(c).is_err() {
                break;
            }
        }
        Ok(())
    }
}

impl Reason {
    /// The code alone.
    pub fn new(code: ReasonCode) -> Self {
        Reason {
            code,
            detail: String::new(),
        }
    }

    /// The code with a detail, cut to [`DETAIL_MAX`] bytes.
    pub fn with(code: ReasonCode, detail: fmt::Arguments<'_>) -> Self {
        let mut reason = Reason::new(code);
        let _ = Cut(&mut reason.detail).write_fmt(detail);
        reason
    }

    /// The code.
    pub fn code(&self) -> ReasonCode {
        self.code
    }

    /// The detail (empty when none).
    pub fn detail(&self) -> &str {
        &self.detail
    }

    /// Reads back what [`Reason::render`] wrote (a reason kept in flash across a restart);
    /// `None` for a text that does not start with a known code.
    pub fn parse(text: &str) -> Option<Reason> {
        let (code, detail) = match text.split_once(": ") {
            Some((code, detail)) => (code, detail),
            None => (text, ""),
        };
        let code = ReasonCode::ALL
            .into_iter()
            .find(|known| known.as_str() == code)?;
        Some(Reason::with(code, format_args!("{detail}")))
    }

    /// `"<code>"` or `"<code>: <detail>"`, as reported.
    pub fn render(&self) -> String<REASON_MAX> {
        let mut text = String::new();
        let _ = write!(Cut(&mut text), "{self}");
        text
    }
}

impl fmt::Display for Reason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.code.as_str())?;
        if !self.detail.is_empty() {
            write!(f, ": {}", self.detail)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_code_and_detail() {
        assert_eq!(
            Reason::new(ReasonCode::UserAbort).render().as_str(),
            "user-abort"
        );
        let reason = Reason::with(ReasonCode::DocParse, format_args!("no {}", "filesize"));
        assert_eq!(reason.render().as_str(), "doc-parse: no filesize");
        assert_eq!(reason.code(), ReasonCode::DocParse);
        assert_eq!(reason.detail(), "no filesize");
    }

    #[test]
    fn a_rendered_reason_reads_back() {
        for code in ReasonCode::ALL {
            let reason = Reason::with(code, format_args!("at 4096: x: y"));
            assert_eq!(Reason::parse(&reason.render()), Some(reason));
            assert_eq!(Reason::parse(code.as_str()), Some(Reason::new(code)));
        }
        assert_eq!(Reason::parse("no-such-code: x"), None);
        assert_eq!(Reason::parse(""), None);
    }

    #[test]
    fn cuts_a_long_detail() {
        let long = "é".repeat(100);
        let reason = Reason::with(ReasonCode::Download, format_args!("{long}"));
        assert_eq!(reason.detail().len(), DETAIL_MAX);
        assert!(reason.render().len() <= REASON_MAX);
    }
}
