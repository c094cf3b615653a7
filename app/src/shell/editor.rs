//! The line editor: turns the bytes typed on a serial line into command lines.
//!
//! Pure logic, fed one byte at a time; what to echo is returned, not written, so it is
//! tested without a console. Printable ASCII is taken; backspace (0x08) and DEL (0x7F) erase
//! one character, Ctrl-U the whole line; CR, LF or CR LF end the line; other control bytes
//! and non-ASCII are ignored. A line longer than the buffer is refused whole at its end.

/// What the caller does after feeding a byte.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Edit {
    /// Nothing to show.
    None,
    /// Echo this byte.
    Echo(u8),
    /// Erase this many characters on screen (backspace, space, backspace each).
    Erase(usize),
    /// The line is complete: take it with [`LineEditor::line`], then [`LineEditor::clear`].
    Line,
    /// The line ended but was longer than the buffer: it was dropped.
    TooLong,
}

/// A line buffer of at most `N` bytes.
pub struct LineEditor<const N: usize> {
    buf: heapless::Vec<u8, N>,
    overflowed: bool,
    after_cr: bool,
}

impl<const N: usize> Default for LineEditor<N> {
    fn default() -> Self {
        Self::new()
    }
}

impl<const N: usize> LineEditor<N> {
    pub const fn new() -> Self {
        LineEditor {
            buf: heapless::Vec::new(),
            overflowed: false,
            after_cr: false,
        }
    }

    /// Takes one received byte.
    pub fn feed(&mut self, byte: u8) -> Edit {
        let after_cr = core::mem::replace(&mut self.after_cr, byte == b'\r');
        match byte {
            b'\n' if after_cr => Edit::None,
            b'\r' | b'\n' => {
                if self.overflowed {
                    self.clear();
                    Edit::TooLong
                } else {
                    Edit::Line
                }
            }
            0x08 | 0x7F => {
                if self.overflowed {
                    Edit::None
                } else {
                    self.buf.pop().map_or(Edit::None, |_| Edit::Erase(1))
                }
            }
            0x15 => {
                let shown = if self.overflowed { 0 } else { self.buf.len() };
                self.clear();
                if shown == 0 {
                    Edit::None
                } else {
                    Edit::Erase(shown)
                }
            }
            0x20..=0x7E => {
                if self.overflowed || self.buf.push(byte).is_err() {
                    self.overflowed = true;
                    Edit::None
                } else {
                    Edit::Echo(byte)
                }
            }
            _ => Edit::None,
        }
    }

    /// The completed line (printable ASCII, so always valid UTF-8).
    pub fn line(&self) -> &str {
        core::str::from_utf8(&self.buf).unwrap_or("")
    }

    /// Starts a new line.
    pub fn clear(&mut self) {
        self.buf.clear();
        self.overflowed = false;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn type_all<const N: usize>(ed: &mut LineEditor<N>, bytes: &[u8]) -> Vec<Edit> {
        bytes.iter().map(|b| ed.feed(*b)).collect()
    }

    #[test]
    fn a_typed_line_is_echoed_and_completed() {
        let mut ed = LineEditor::<16>::new();
        let edits = type_all(&mut ed, b"help\r");
        assert_eq!(
            edits,
            [
                Edit::Echo(b'h'),
                Edit::Echo(b'e'),
                Edit::Echo(b'l'),
                Edit::Echo(b'p'),
                Edit::Line
            ]
        );
        assert_eq!(ed.line(), "help");
    }

    #[test]
    fn backspace_and_delete_edit_the_line() {
        let mut ed = LineEditor::<16>::new();
        type_all(&mut ed, b"hellp");
        assert_eq!(ed.feed(0x08), Edit::Erase(1));
        assert_eq!(ed.feed(0x7F), Edit::Erase(1));
        type_all(&mut ed, b"p");
        assert_eq!(ed.feed(b'\n'), Edit::Line);
        assert_eq!(ed.line(), "help");
        ed.clear();
        assert_eq!(ed.feed(0x08), Edit::None, "backspace on an empty line");
    }

    #[test]
    fn ctrl_u_erases_the_whole_line() {
        let mut ed = LineEditor::<16>::new();
        type_all(&mut ed, b"reboot");
        assert_eq!(ed.feed(0x15), Edit::Erase(6));
        type_all(&mut ed, b"free\r");
        assert_eq!(ed.line(), "free");
    }

    #[test]
    fn crlf_ends_one_line_not_two() {
        let mut ed = LineEditor::<16>::new();
        assert_eq!(type_all(&mut ed, b"a\r\n").last(), Some(&Edit::None));
        assert_eq!(ed.line(), "a");
        ed.clear();
        // A lone LF after a completed LF line is an empty line of its own.
        assert_eq!(type_all(&mut ed, b"\n\n"), [Edit::Line, Edit::Line]);
    }

    #[test]
    fn control_bytes_and_non_ascii_are_ignored() {
        let mut ed = LineEditor::<16>::new();
        assert_eq!(
            type_all(&mut ed, &[0x1B, 0x00, 0xC3, 0xA9, b'x']).last(),
            Some(&Edit::Echo(b'x'))
        );
        ed.feed(b'\r');
        assert_eq!(ed.line(), "x");
    }

    #[test]
    fn an_overlong_line_is_refused_whole() {
        let mut ed = LineEditor::<4>::new();
        let edits = type_all(&mut ed, b"abcdef");
        assert_eq!(&edits[4..], [Edit::None, Edit::None]);
        assert_eq!(ed.feed(0x08), Edit::None, "no editing once overflowed");
        assert_eq!(ed.feed(b'\r'), Edit::TooLong);
        // The next line starts clean.
        type_all(&mut ed, b"ok\r");
        assert_eq!(ed.line(), "ok");
        // Exactly the buffer size is fine.
        ed.clear();
        assert_eq!(type_all(&mut ed, b"abcd\r").last(), Some(&Edit::Line));
        assert_eq!(ed.line(), "abcd");
    }
}
