//! Flashing over the W800's UART, as the SDK's `flash.py` does it (docs/flashing.md): reset into
//! download mode, ESC until the ROM prompts 'C', optionally a faster baud rate, each image as an
//! XMODEM-1K transfer, then the ROM's reboot command.
//!
//! [`plan`] turns the options and images into [`Step`]s; [`describe`] prints them with the bytes
//! they send (`--dry-run`); [`execute`] runs them over a [`Port`].

use std::fmt::Write as _;
use std::time::{Duration, Instant};

use crate::error::Error;
use crate::rom::{self, Baud};
use crate::serial::Port;
use crate::xmodem::{self, Block};

/// The byte the bootloader and ROM watch for at start-up to stay in download mode.
pub const ESC: u8 = 0x1B;
/// Pause between two ESC bytes.
pub const ESC_INTERVAL: Duration = Duration::from_millis(10);
/// How many 'C' prompts in a row mean the ROM is listening.
pub const SYNC_PROMPTS: usize = 5;
/// Rounds of the automatic reset sequence.
pub const RESET_ROUNDS: usize = 10;
/// How long one DTR/RTS level is held during a reset pulse.
pub const RESET_PULSE: Duration = Duration::from_millis(10);
/// Default for how long to wait for the ROM's prompts.
pub const DEFAULT_SYNC_TIMEOUT: Duration = Duration::from_secs(60);
/// After this long without prompts, ask the user to reset the device.
pub const RESET_HINT_AFTER: Duration = Duration::from_secs(2);
/// How long the ROM may take to answer a block, `EOT` or the start of a transfer.
pub const ANSWER_TIMEOUT: Duration = Duration::from_secs(1);
/// How many times a block (or `EOT`) is sent again after a `NAK`, and how many answers may be
/// waited for before a transfer starts.
pub const RETRIES: usize = 16;
/// Pause before and after the host follows a baud-rate switch.
pub const BAUD_SETTLE: Duration = Duration::from_millis(20);

/// How the device gets into download mode.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ResetMode {
    /// DTR/RTS pulses, `AT+RST`, the shell's `reboot`, each followed by ESC bytes.
    Auto,
    /// The user presses reset; only ESC bytes are sent.
    Manual,
}

/// What `flash` was asked to do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FlashOptions {
    /// The rate of the transfer (the ROM starts at 115 200).
    pub baud: Baud,
    /// How to reset the device into download mode.
    pub reset: ResetMode,
    /// How long to wait for the ROM's prompts.
    pub sync_timeout: Duration,
    /// Whether to send the ROM's reboot command at the end.
    pub reboot: bool,
}

impl Default for FlashOptions {
    fn default() -> Self {
        FlashOptions {
            baud: Baud::B2000000,
            reset: ResetMode::Auto,
            sync_timeout: DEFAULT_SYNC_TIMEOUT,
            reboot: true,
        }
    }
}

/// One file to send.
#[derive(Debug, Clone, Copy)]
pub struct Download<'a> {
    /// Its name, for messages.
    pub name: &'a str,
    /// Its bytes, sent as they are.
    pub data: &'a [u8],
}

/// One step of a flashing session.
#[derive(Debug, Clone, Copy)]
pub enum Step<'a> {
    /// Get the device into download mode.
    Reset(ResetMode),
    /// ESC until the ROM prompts 'C' [`SYNC_PROMPTS`] times in a row.
    Sync,
    /// Switch the ROM, then the host, to another rate.
    SetBaud(Baud),
    /// One XMODEM transfer.
    Send(Download<'a>),
    /// The ROM's reboot command.
    Reboot,
}

/// The steps that flash `downloads` with `options`.
pub fn plan<'a>(downloads: &[Download<'a>], options: &FlashOptions) -> Vec<Step<'a>> {
    let mut steps = vec![Step::Reset(options.reset), Step::Sync];
    if options.baud != rom::DEFAULT_BAUD {
        steps.push(Step::SetBaud(options.baud));
    }
    for (index, download) in downloads.iter().enumerate() {
        if index > 0 {
            steps.push(Step::Sync);
        }
        steps.push(Step::Send(*download));
    }
    if options.reboot {
        steps.push(Step::Reboot);
    }
    steps
}

/// What happens during a session, for the user.
#[derive(Debug, Clone, Copy)]
pub enum Event<'e> {
    /// A line of information.
    Note(&'e str),
    /// `done` of `total` bytes of `name` acknowledged.
    Progress {
        name: &'e str,
        done: usize,
        total: usize,
    },
}

const AUTO_RESET_TEXT: &str =
    "DTR/RTS pulse, ESC x2, \"AT+RST\\r\\n\" x2, ESC x2, \"reboot\\r\\n\", ESC x5";

/// The `--dry-run` text: every step and the bytes it would send, nothing opened or sent.
pub fn describe(steps: &[Step<'_>], port: &str, options: &FlashOptions) -> String {
    let mut text = format!(
        "dry run: nothing is opened or sent\nport {port}: raw 8N1, no flow control, {} baud\n",
        rom::DEFAULT_BAUD
    );
    for (index, step) in steps.iter().enumerate() {
        let number = index + 1;
        // Writing to a String cannot fail.
        let _ = match step {
            Step::Reset(ResetMode::Auto) => writeln!(
                text,
                "{number}. reset: {RESET_ROUNDS} x ({AUTO_RESET_TEXT}), 10 ms between ESC bytes"
            ),
            Step::Reset(ResetMode::Manual) => {
                writeln!(
                    text,
                    "{number}. reset: none, the user presses the reset button"
                )
            }
            Step::Sync => writeln!(
                text,
                "{number}. sync: ESC (1b) x3 whenever nothing arrives, until {SYNC_PROMPTS} 'C' \
                 (43) in a row; at most {} s",
                options.sync_timeout.as_secs_f32()
            ),
            Step::SetBaud(baud) => writeln!(
                text,
                "{number}. baud: {} (command 0x{:02x}, {baud}), then the port at {baud}",
                rom::hex(&baud.command()),
                rom::CMD_SET_BAUD
            ),
            Step::Send(download) => describe_send(&mut text, number, download),
            Step::Reboot => writeln!(
                text,
                "{number}. reboot: {} (command 0x{:02x})",
                rom::hex(&rom::reboot_command()),
                rom::CMD_REBOOT
            ),
        };
    }
    text
}

fn describe_send(text: &mut String, number: usize, download: &Download<'_>) -> std::fmt::Result {
    writeln!(
        text,
        "{number}. send {} ({} bytes) by XMODEM-1K/CRC after a 'C': {} blocks",
        download.name,
        download.data.len(),
        xmodem::block_count(download.data.len())
    )?;
    for block in xmodem::blocks(download.data) {
        let padding = xmodem::BLOCK_LEN - block.len;
        write!(
            text,
            "   {} + {} bytes from 0x{:06x}",
            rom::hex(&block.frame[..3]),
            block.len,
            block.offset
        )?;
        if padding > 0 {
            write!(text, " + {padding} x {:02x}", xmodem::PAD)?;
        }
        writeln!(text, " + crc {}", rom::hex(&block.crc().to_be_bytes()))?;
    }
    writeln!(text, "   {:02x} (EOT)", xmodem::EOT)
}

fn io_error(what: &str) -> impl Fn(std::io::Error) -> Error + '_ {
    move |error| Error::Flash(format!("serial port: {what}: {error}"))
}

/// Runs `steps` over `port`, reporting to `observe`.
pub fn execute(
    port: &mut dyn Port,
    steps: &[Step<'_>],
    options: &FlashOptions,
    observe: &mut dyn FnMut(Event<'_>),
) -> Result<(), Error> {
    let mut baud = rom::DEFAULT_BAUD;
    for step in steps {
        match step {
            Step::Reset(mode) => reset(port, *mode, observe)?,
            Step::Sync => sync(port, options.sync_timeout, observe)?,
            Step::SetBaud(new) => {
                port.send(&new.command()).map_err(io_error("send"))?;
                port.pause(BAUD_SETTLE);
                port.set_baud(*new).map_err(io_error("set the baud rate"))?;
                port.pause(BAUD_SETTLE);
                baud = *new;
                observe(Event::Note(&format!("switched to {new} baud")));
            }
            Step::Send(download) => send(port, download, baud, observe)?,
            Step::Reboot => {
                port.send(&rom::reboot_command())
                    .map_err(io_error("send"))?;
                port.drain().map_err(io_error("send"))?;
                observe(Event::Note("sent the reboot command"));
            }
        }
    }
    Ok(())
}

fn send_esc(port: &mut dyn Port, count: usize) -> Result<(), Error> {
    for _ in 0..count {
        port.send(&[ESC]).map_err(io_error("send"))?;
        port.pause(ESC_INTERVAL);
    }
    Ok(())
}

fn reset(
    port: &mut dyn Port,
    mode: ResetMode,
    observe: &mut dyn FnMut(Event<'_>),
) -> Result<(), Error> {
    if mode == ResetMode::Manual {
        observe(Event::Note("press the W800's reset button"));
        return Ok(());
    }
    observe(Event::Note("resetting the device into download mode"));
    let mut lines_work = true;
    for _ in 0..RESET_ROUNDS {
        if lines_work {
            let pulse = [(false, true), (true, false), (false, false)];
            for (dtr, rts) in pulse {
                if let Err(error) = port.set_lines(dtr, rts) {
                    observe(Event::Note(&format!(
                        "no reset through DTR/RTS ({error}); reset the device by hand if it \
                         does not answer"
                    )));
                    lines_work = false;
                    break;
                }
                port.pause(RESET_PULSE);
            }
        }
        send_esc(port, 2)?;
        for _ in 0..2 {
            port.send(b"AT+RST\r\n").map_err(io_error("send"))?;
        }
        send_esc(port, 2)?;
        port.send(b"reboot\r\n").map_err(io_error("send"))?;
        send_esc(port, 5)?;
    }
    Ok(())
}

fn sync(
    port: &mut dyn Port,
    timeout: Duration,
    observe: &mut dyn FnMut(Event<'_>),
) -> Result<(), Error> {
    let start = Instant::now();
    let mut prompts = 0;
    let mut hinted = false;
    while prompts < SYNC_PROMPTS {
        match port
            .receive(Duration::from_millis(1))
            .map_err(io_error("receive"))?
        {
            Some(xmodem::CRC_REQUEST) => prompts += 1,
            Some(_) => prompts = 0,
            None => send_esc(port, 3)?,
        }
        let waited = start.elapsed();
        if waited >= timeout {
            return Err(Error::Flash(format!(
                "no answer from the W800 within {} s: check the port, the wiring and the power, \
                 and reset the device while this waits",
                timeout.as_secs_f32()
            )));
        }
        if waited >= RESET_HINT_AFTER && !hinted {
            observe(Event::Note("waiting for the ROM: reset the device"));
            hinted = true;
        }
    }
    observe(Event::Note("the ROM is listening"));
    Ok(())
}

/// Sends `bytes` and reads the answer to them, skipping stale 'C' prompts when
/// `skip_prompts`; `Ok(None)` on a timeout.
fn answer(port: &mut dyn Port, bytes: &[u8], skip_prompts: bool) -> Result<Option<u8>, Error> {
    port.send(bytes).map_err(io_error("send"))?;
    let deadline = Instant::now() + ANSWER_TIMEOUT;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match port.receive(left).map_err(io_error("receive"))? {
            Some(xmodem::CRC_REQUEST) if skip_prompts => {}
            other => return Ok(other),
        }
    }
}

/// Cancels the ROM's transfer (CAN twice) and returns `error`.
fn abort(port: &mut dyn Port, error: String) -> Error {
    // The transfer has failed already; a failure to cancel it changes nothing for the user.
    let _ = port.send(&[xmodem::CAN, xmodem::CAN]);
    Error::Flash(error)
}

fn wait_for_start(port: &mut dyn Port, name: &str, baud: Baud) -> Result<(), Error> {
    let mut cancels = 0;
    for _ in 0..RETRIES {
        match port.receive(ANSWER_TIMEOUT).map_err(io_error("receive"))? {
            Some(xmodem::CRC_REQUEST) => return Ok(()),
            Some(xmodem::NAK) => {
                return Err(Error::Flash(format!(
                    "{name}: the device asked for an XMODEM checksum transfer (NAK); the W800 \
                     ROM asks for CRC ('C')"
                )))
            }
            Some(xmodem::CAN) => {
                cancels += 1;
                if cancels == 2 {
                    return Err(Error::Flash(format!(
                        "{name}: the device cancelled (CAN CAN) before the transfer"
                    )));
                }
            }
            _ => cancels = 0,
        }
    }
    let hint = if baud == rom::DEFAULT_BAUD {
        String::new()
    } else {
        format!(" at {baud} baud (the adapter may not do that rate: try --baud 115200)")
    };
    Err(Error::Flash(format!(
        "{name}: no 'C' from the device{hint} within {} s",
        (ANSWER_TIMEOUT * RETRIES as u32).as_secs()
    )))
}

fn send_block(port: &mut dyn Port, name: &str, block: &Block, first: bool) -> Result<(), Error> {
    let what = format!(
        "{name}: block {} (bytes 0x{:x}..0x{:x})",
        block.number(),
        block.offset,
        block.offset + block.len
    );
    let mut naks = 0;
    loop {
        match answer(port, &block.frame, first)? {
            Some(xmodem::ACK) => return Ok(()),
            Some(xmodem::NAK) => {
                naks += 1;
                if naks > RETRIES {
                    return Err(abort(
                        port,
                        format!("{what}: refused (NAK) {naks} times, giving up"),
                    ));
                }
            }
            Some(xmodem::CAN) => {
                return Err(Error::Flash(format!(
                    "{what}: the device cancelled the transfer (CAN)"
                )))
            }
            Some(other) => {
                return Err(abort(
                    port,
                    format!(
                        "{what}: the device answered {} instead of ACK or NAK",
                        rom::describe_answer(other)
                    ),
                ))
            }
            None => {
                return Err(abort(
                    port,
                    format!(
                        "{what}: no answer within {} s",
                        ANSWER_TIMEOUT.as_secs_f32()
                    ),
                ))
            }
        }
    }
}

fn send_eot(port: &mut dyn Port, name: &str) -> Result<(), Error> {
    for _ in 0..=RETRIES {
        match answer(port, &[xmodem::EOT], false)? {
            Some(xmodem::ACK) => return Ok(()),
            Some(xmodem::NAK) => {}
            Some(other) => {
                return Err(Error::Flash(format!(
                    "{name}: the device answered {} to the end of the file (EOT)",
                    rom::describe_answer(other)
                )))
            }
            None => {
                return Err(Error::Flash(format!(
                    "{name}: no answer to the end of the file (EOT) within {} s",
                    ANSWER_TIMEOUT.as_secs_f32()
                )))
            }
        }
    }
    Err(Error::Flash(format!(
        "{name}: the end of the file (EOT) refused {} times",
        RETRIES + 1
    )))
}

fn send(
    port: &mut dyn Port,
    download: &Download<'_>,
    baud: Baud,
    observe: &mut dyn FnMut(Event<'_>),
) -> Result<(), Error> {
    port.discard_input().map_err(io_error("discard input"))?;
    wait_for_start(port, download.name, baud)?;
    let total = download.data.len();
    observe(Event::Progress {
        name: download.name,
        done: 0,
        total,
    });
    for (index, block) in xmodem::blocks(download.data).enumerate() {
        send_block(port, download.name, &block, index == 0)?;
        observe(Event::Progress {
            name: download.name,
            done: block.offset + block.len,
            total,
        });
    }
    send_eot(port, download.name)
}

/// A text progress bar: `[#####-----]  50% 100/200 KiB`.
pub fn progress_bar(done: usize, total: usize, width: usize) -> String {
    let fraction = if total == 0 {
        1.0
    } else {
        done.min(total) as f64 / total as f64
    };
    let filled = (fraction * width as f64).round() as usize;
    format!(
        "[{}{}] {:>3}% {}/{} KiB",
        "#".repeat(filled),
        "-".repeat(width - filled),
        (fraction * 100.0).floor() as usize,
        done.min(total).div_ceil(1024),
        total.div_ceil(1024)
    )
}
