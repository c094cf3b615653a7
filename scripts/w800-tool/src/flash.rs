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
/// How many times a block (or `EOT`) is sent again after a `NAK`; a transfer's first 'C' may
/// take this many answer timeouts.
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
    let budget = ANSWER_TIMEOUT * RETRIES as u32;
    let deadline = Instant::now() + budget;
    let mut cancels = 0;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            break;
        }
        match port.receive(left).map_err(io_error("receive"))? {
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
            Some(_) => cancels = 0,
            None => break,
        }
    }
    let hint = if baud == rom::DEFAULT_BAUD {
        String::new()
    } else {
        format!(" at {baud} baud (the adapter may not do that rate: try --baud 115200)")
    };
    Err(Error::Flash(format!(
        "{name}: no 'C' from the device{hint} within {} s",
        budget.as_secs()
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

#[cfg(test)]
mod tests {
    use std::collections::VecDeque;
    use std::io;

    use super::*;
    use crate::crc16::{crc16, XMODEM_INIT};

    /// A port whose other end is `respond`: every sent chunk goes to it, and what it returns
    /// is what the port then receives. Nothing waits: pauses are counted, reads of an empty
    /// queue time out at once.
    struct Scripted<R: FnMut(&[u8]) -> Vec<u8>> {
        respond: R,
        incoming: VecDeque<u8>,
        sent: Vec<Vec<u8>>,
        bauds: Vec<(usize, Baud)>,
    }

    impl<R: FnMut(&[u8]) -> Vec<u8>> Scripted<R> {
        fn new(respond: R) -> Self {
            Scripted {
                respond,
                incoming: VecDeque::new(),
                sent: Vec::new(),
                bauds: Vec::new(),
            }
        }
    }

    impl<R: FnMut(&[u8]) -> Vec<u8>> Port for Scripted<R> {
        fn send(&mut self, bytes: &[u8]) -> io::Result<()> {
            self.sent.push(bytes.to_vec());
            let answer = (self.respond)(bytes);
            self.incoming.extend(answer);
            Ok(())
        }
        fn receive(&mut self, _timeout: Duration) -> io::Result<Option<u8>> {
            if self.incoming.is_empty() {
                // Nothing pending: the other end may say something by itself (an empty send).
                let spontaneous = (self.respond)(&[]);
                self.incoming.extend(spontaneous);
            }
            Ok(self.incoming.pop_front())
        }
        fn drain(&mut self) -> io::Result<()> {
            Ok(())
        }
        fn set_baud(&mut self, baud: Baud) -> io::Result<()> {
            self.bauds.push((self.sent.len(), baud));
            Ok(())
        }
        fn set_lines(&mut self, _dtr: bool, _rts: bool) -> io::Result<()> {
            Err(io::Error::other("no modem lines"))
        }
        fn discard_input(&mut self) -> io::Result<()> {
            self.incoming.clear();
            Ok(())
        }
        fn pause(&mut self, _duration: Duration) {}
    }

    /// A ROM that prompts five 'C' per ESC and one whenever asked while it waits for a file,
    /// checks each frame's CRC and block number, and answers each frame (or EOT) with what
    /// `answer(frames seen so far, bytes)` says.
    fn rom(mut answer: impl FnMut(usize, &[u8]) -> Vec<u8>) -> impl FnMut(&[u8]) -> Vec<u8> {
        let mut frames = 0;
        let mut prompting = false;
        move |bytes: &[u8]| match bytes {
            [ESC] => {
                prompting = true;
                b"CCCCC".to_vec()
            }
            [] if prompting => b"C".to_vec(),
            [xmodem::EOT] => {
                let reply = answer(frames, bytes);
                prompting = reply == [xmodem::ACK];
                reply
            }
            frame if frame.len() == xmodem::FRAME_LEN => {
                assert_eq!(crc16(XMODEM_INIT, &frame[3..]), 0, "CRC of frame {frames}");
                assert_eq!(frame[1], !frame[2]);
                prompting = false;
                frames += 1;
                answer(frames, bytes)
            }
            _ => Vec::new(),
        }
    }

    fn options(baud: Baud) -> FlashOptions {
        FlashOptions {
            baud,
            reset: ResetMode::Auto,
            sync_timeout: Duration::from_secs(5),
            reboot: true,
        }
    }

    fn run(
        port: &mut dyn Port,
        data: &[u8],
        options: &FlashOptions,
    ) -> (Result<(), Error>, Vec<String>) {
        let downloads = [Download {
            name: "app.fls",
            data,
        }];
        let mut notes = Vec::new();
        let result = execute(port, &plan(&downloads, options), options, &mut |event| {
            if let Event::Note(text) = event {
                notes.push(text.to_owned());
            }
        });
        (result, notes)
    }

    #[test]
    fn plans() {
        let data = [1u8; 10];
        let downloads = [
            Download {
                name: "a",
                data: &data,
            },
            Download {
                name: "b",
                data: &data,
            },
        ];
        let steps = plan(&downloads, &options(Baud::B921600));
        let kinds: Vec<String> = steps.iter().map(|step| format!("{step:?}")).collect();
        assert!(kinds[0].starts_with("Reset(Auto)"));
        assert!(kinds[1].starts_with("Sync"));
        assert!(kinds[2].starts_with("SetBaud(B921600)"));
        assert!(kinds[3].starts_with("Send"));
        assert!(kinds[4].starts_with("Sync"));
        assert!(kinds[5].starts_with("Send"));
        assert!(kinds[6].starts_with("Reboot"));
        assert_eq!(steps.len(), 7);

        let quiet = FlashOptions {
            reboot: false,
            ..options(Baud::B115200)
        };
        let steps = plan(&downloads[..1], &quiet);
        assert_eq!(steps.len(), 3, "{steps:?}");
        assert!(matches!(steps[2], Step::Send(_)));
    }

    #[test]
    fn a_whole_session() {
        let data = bsp::sample::noise(9, 3 * xmodem::BLOCK_LEN + 100);
        let mut port = Scripted::new(rom(|_, _| vec![xmodem::ACK]));
        let (result, notes) = run(&mut port, &data, &options(Baud::B921600));
        result.unwrap();
        assert!(notes
            .iter()
            .any(|note| note.starts_with("no reset through DTR/RTS")));

        let baud_command = port
            .sent
            .iter()
            .position(|chunk| *chunk == Baud::B921600.command())
            .expect("the baud command was sent");
        assert_eq!(port.bauds, vec![(baud_command + 1, Baud::B921600)]);
        let frames: Vec<&Vec<u8>> = port
            .sent
            .iter()
            .filter(|chunk| chunk.len() == xmodem::FRAME_LEN)
            .collect();
        assert_eq!(frames.len(), 4);
        let received: Vec<u8> = frames
            .iter()
            .flat_map(|frame| frame[3..3 + 1024].to_vec())
            .collect();
        assert_eq!(&received[..data.len()], &data[..]);
        assert!(received[data.len()..]
            .iter()
            .all(|&byte| byte == xmodem::PAD));
        let tail: Vec<&Vec<u8>> = port.sent.iter().rev().take(2).collect();
        assert_eq!(*tail[0], rom::reboot_command());
        assert_eq!(*tail[1], vec![xmodem::EOT]);
        let text = port.sent.concat();
        assert_eq!(
            text.windows(8).filter(|w| w == b"AT+RST\r\n").count(),
            2 * RESET_ROUNDS
        );
        assert_eq!(
            text.windows(8).filter(|w| w == b"reboot\r\n").count(),
            RESET_ROUNDS
        );
    }

    #[test]
    fn a_refused_block_is_sent_again_and_many_refusals_cancel() {
        let data = bsp::sample::noise(4, 2 * xmodem::BLOCK_LEN);
        let mut port = Scripted::new(rom(|frames, _| match frames {
            2 => vec![xmodem::NAK],
            _ => vec![xmodem::ACK],
        }));
        run(&mut port, &data, &options(Baud::B115200)).0.unwrap();
        let frames: Vec<&Vec<u8>> = port
            .sent
            .iter()
            .filter(|chunk| chunk.len() == xmodem::FRAME_LEN)
            .collect();
        assert_eq!(frames.len(), 3);
        assert_eq!(frames[1], frames[2], "the refused block again, unchanged");

        let mut port = Scripted::new(rom(|frames, _| match frames {
            1 => vec![xmodem::ACK],
            _ => vec![xmodem::NAK],
        }));
        let error = run(&mut port, &data, &options(Baud::B115200))
            .0
            .unwrap_err();
        assert_eq!(
            error.to_string(),
            "app.fls: block 2 (bytes 0x400..0x800): refused (NAK) 17 times, giving up"
        );
        assert_eq!(port.sent.last().unwrap(), &vec![xmodem::CAN, xmodem::CAN]);
    }

    #[test]
    fn stale_prompts_before_the_first_answer_are_skipped() {
        let data = [7u8; 100];
        let mut port = Scripted::new(rom(|_, bytes| match bytes {
            [xmodem::EOT] => vec![xmodem::ACK],
            _ => b"CC\x06".to_vec(),
        }));
        run(&mut port, &data, &options(Baud::B115200)).0.unwrap();
    }

    #[test]
    fn wrong_answers_and_silence_are_errors() {
        let data = [7u8; 3000];
        let mut port = Scripted::new(rom(|frames, _| match frames {
            2 => b"M".to_vec(),
            _ => vec![xmodem::ACK],
        }));
        let error = run(&mut port, &data, &options(Baud::B115200))
            .0
            .unwrap_err();
        assert_eq!(
            error.to_string(),
            "app.fls: block 2 (bytes 0x400..0x800): the device answered 'M' (0x4d), the ROM's \
             \"image content check failed\" instead of ACK or NAK"
        );
        assert_eq!(port.sent.last().unwrap(), &vec![xmodem::CAN, xmodem::CAN]);

        let mut port = Scripted::new(rom(|frames, _| match frames {
            3 => Vec::new(),
            _ => vec![xmodem::ACK],
        }));
        let error = run(&mut port, &data, &options(Baud::B115200))
            .0
            .unwrap_err();
        assert_eq!(
            error.to_string(),
            "app.fls: block 3 (bytes 0x800..0xbb8): no answer within 1 s"
        );

        let mut port = Scripted::new(rom(|_, bytes| match bytes {
            [xmodem::EOT] => vec![xmodem::NAK],
            _ => vec![xmodem::ACK],
        }));
        let error = run(&mut port, &data, &options(Baud::B115200))
            .0
            .unwrap_err();
        assert_eq!(
            error.to_string(),
            "app.fls: the end of the file (EOT) refused 17 times"
        );
    }

    #[test]
    fn no_prompt_after_the_baud_switch_names_the_rate() {
        let data = [7u8; 10];
        // Prompts before the switch only.
        let mut switched = false;
        let mut port = Scripted::new(move |bytes: &[u8]| {
            if bytes == Baud::B2000000.command() {
                switched = true;
            }
            match bytes {
                [ESC] if !switched => b"CCCCC".to_vec(),
                _ => Vec::new(),
            }
        });
        let error = run(&mut port, &data, &options(Baud::B2000000))
            .0
            .unwrap_err();
        assert_eq!(
            error.to_string(),
            "app.fls: no 'C' from the device at 2000000 baud (the adapter may not do that rate: \
             try --baud 115200) within 16 s"
        );
    }

    #[test]
    fn dry_run_text() {
        let data = bsp::sample::noise(5, 1500);
        let downloads = [Download {
            name: "w800.fls",
            data: &data,
        }];
        let options = options(Baud::B2000000);
        let text = describe(&plan(&downloads, &options), "/dev/ttyUSB0", &options);
        let first = xmodem::blocks(&data).next().unwrap();
        for expected in [
            "dry run: nothing is opened or sent".to_owned(),
            "port /dev/ttyUSB0: raw 8N1, no flow control, 115200 baud".to_owned(),
            "3. baud: 21 0a 00 ef 2a 31 00 00 00 80 84 1e 00 (command 0x31, 2000000)".to_owned(),
            "4. send w800.fls (1500 bytes) by XMODEM-1K/CRC after a 'C': 2 blocks".to_owned(),
            format!(
                "   02 01 fe + 1024 bytes from 0x000000 + crc {}",
                rom::hex(&first.crc().to_be_bytes())
            ),
            "   02 02 fd + 476 bytes from 0x000400 + 548 x 1a + crc".to_owned(),
            "   04 (EOT)".to_owned(),
            "5. reboot: 21 06 00 c7 7c 3f 00 00 00 (command 0x3f)".to_owned(),
        ] {
            assert!(text.contains(&expected), "missing {expected:?} in\n{text}");
        }
    }

    #[test]
    fn progress_bars() {
        assert_eq!(progress_bar(0, 2048, 10), "[----------]   0% 0/2 KiB");
        assert_eq!(progress_bar(1024, 2048, 10), "[#####-----]  50% 1/2 KiB");
        assert_eq!(progress_bar(2048, 2048, 10), "[##########] 100% 2/2 KiB");
        assert_eq!(progress_bar(0, 0, 4), "[####] 100% 0/0 KiB");
    }
}
