//! The last words of a C-SKY board: the report of a panic or of an exception nothing
//! expected, written straight to the console UART, without its lock or its interrupt (nothing
//! else runs any more).

use core::fmt::{self, Write};

/// A `fmt::Write` onto a byte sink: the console UART's polled transmit.
pub struct LastWords<F: FnMut(u8)>(pub F);

impl<F: FnMut(u8)> Write for LastWords<F> {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        s.bytes().for_each(&mut self.0);
        Ok(())
    }
}

/// Reports a panic.
pub fn report_panic(out: &mut impl Write, info: &impl fmt::Display) {
    let _ = writeln!(out, "\npanic: {info}");
}

/// Reports an exception nothing expected, with what `startup.S` hands the board's
/// `xt804_fault_handler`: the vector, where it happened, the PSR then and the link register.
pub fn report_fault(out: &mut impl Write, vector: u32, epc: u32, epsr: u32, lr: u32) {
    let _ = writeln!(
        out,
        "\nfatal exception {vector} at pc 0x{epc:08X} (psr 0x{epsr:08X}, lr 0x{lr:08X})"
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reports_go_byte_by_byte_to_the_sink() {
        let mut bytes = Vec::new();
        report_fault(
            &mut LastWords(|b| bytes.push(b)),
            16,
            0x0800_F6A2,
            0x8010_0140,
            0x0801_2345,
        );
        assert_eq!(
            String::from_utf8(bytes).unwrap(),
            "\nfatal exception 16 at pc 0x0800F6A2 (psr 0x80100140, lr 0x08012345)\n"
        );
        let mut text = String::new();
        report_panic(&mut text, &"index out of bounds");
        assert_eq!(text, "\npanic: index out of bounds\n");
    }
}
