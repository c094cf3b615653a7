//! Commands: the table's entry type, splitting a line into words, and finding the command.

use crate::config::ARGS_MAX;
use crate::platform::Platform;
use crate::services::Services;
use alloc::string::String;
use core::fmt;

/// What a command gets: where to print, the board, and the firmware's services.
pub struct Context<'a> {
    pub out: &'a mut dyn fmt::Write,
    pub platform: &'static Platform,
    pub services: &'static Services,
}

/// Why a command did not do its job.
#[derive(Debug, PartialEq, Eq)]
pub enum CommandError {
    /// Wrong arguments: the shell prints the usage.
    Usage,
    /// It failed; the text says why.
    Failed(String),
}

impl From<fmt::Error> for CommandError {
    fn from(_: fmt::Error) -> Self {
        CommandError::Failed(String::from("console write failed"))
    }
}

pub type CommandResult = Result<(), CommandError>;

/// One shell command. Every command is a row of one static table (`commands::TABLE`).
pub struct Command {
    pub name: &'static str,
    /// The arguments, as `help` and usage errors show them.
    pub usage: &'static str,
    /// One line on what it does.
    pub help: &'static str,
    /// Runs it; `args` excludes the command's name.
    pub run: fn(&mut Context<'_>, &[&str]) -> CommandResult,
}

/// Why a line could not be split into words.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SplitError {
    TooManyWords,
    UnterminatedQuote,
}

impl fmt::Display for SplitError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SplitError::TooManyWords => write!(f, "too many arguments (at most {})", ARGS_MAX - 1),
            SplitError::UnterminatedQuote => write!(f, "unterminated quote"),
        }
    }
}

/// Splits on spaces; a word in double quotes may hold spaces (an SSID, say).
pub fn split(line: &str) -> Result<heapless::Vec<&str, ARGS_MAX>, SplitError> {
    let mut words = heapless::Vec::new();
    let mut rest = line.trim_start_matches(' ');
    while !rest.is_empty() {
        let (word, after) = if let Some(quoted) = rest.strip_prefix('"') {
            let end = quoted.find('"').ok_or(SplitError::UnterminatedQuote)?;
            (&quoted[..end], &quoted[end + 1..])
        } else {
            let end = rest.find(' ').unwrap_or(rest.len());
            (&rest[..end], &rest[end..])
        };
        words.push(word).map_err(|_| SplitError::TooManyWords)?;
        rest = after.trim_start_matches(' ');
    }
    Ok(words)
}

/// The command called `name`.
pub fn find<'t>(table: &'t [Command], name: &str) -> Option<&'t Command> {
    table.iter().find(|c| c.name == name)
}

/// The command most like a mistyped `name`, if one is close: a prefix, or at most two edits.
pub fn suggest<'t>(table: &'t [Command], name: &str) -> Option<&'t Command> {
    if name.is_empty() {
        return None;
    }
    table.iter().find(|c| c.name.starts_with(name)).or_else(|| {
        table
            .iter()
            .map(|c| (edit_distance(c.name, name), c))
            .filter(|(d, _)| *d <= 2)
            .min_by_key(|(d, _)| *d)
            .map(|(_, c)| c)
    })
}

/// Levenshtein distance over bytes, for names of up to 32 bytes (longer ones never match).
fn edit_distance(a: &str, b: &str) -> usize {
    const MAX: usize = 32;
    let (a, b) = (a.as_bytes(), b.as_bytes());
    if a.len() > MAX || b.len() > MAX {
        return usize::MAX;
    }
    let mut row = [0usize; MAX + 1];
    for (j, cell) in row.iter_mut().enumerate().take(b.len() + 1) {
        *cell = j;
    }
    for (i, ca) in a.iter().enumerate() {
        let mut diagonal = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let above = row[j + 1];
            row[j + 1] = (above + 1)
                .min(row[j] + 1)
                .min(diagonal + usize::from(ca != cb));
            diagonal = above;
        }
    }
    row[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn words_split_on_spaces_and_quotes_keep_spaces() {
        assert_eq!(
            split("  flash  read 0xE000 64 ").unwrap().as_slice(),
            ["flash", "read", "0xE000", "64"]
        );
        assert_eq!(
            split(r#"wifi connect "my ap" 12345678"#)
                .unwrap()
                .as_slice(),
            ["wifi", "connect", "my ap", "12345678"]
        );
        assert_eq!(split(r#"x """#).unwrap().as_slice(), ["x", ""]);
        assert!(split("").unwrap().is_empty());
        assert_eq!(
            split(r#"wifi connect "my ap"#),
            Err(SplitError::UnterminatedQuote)
        );
        let many = "a ".repeat(ARGS_MAX + 1);
        assert_eq!(split(&many), Err(SplitError::TooManyWords));
    }

    fn nothing(_: &mut Context<'_>, _: &[&str]) -> CommandResult {
        Ok(())
    }

    const TABLE: &[Command] = &[
        Command {
            name: "help",
            usage: "",
            help: "",
            run: nothing,
        },
        Command {
            name: "reboot",
            usage: "",
            help: "",
            run: nothing,
        },
        Command {
            name: "partition",
            usage: "",
            help: "",
            run: nothing,
        },
    ];

    #[test]
    fn commands_are_found_by_exact_name_only() {
        assert_eq!(find(TABLE, "help").map(|c| c.name), Some("help"));
        assert!(find(TABLE, "hel").is_none());
        assert!(find(TABLE, "HELP").is_none());
    }

    #[test]
    fn near_misses_get_a_suggestion() {
        assert_eq!(suggest(TABLE, "reboo").map(|c| c.name), Some("reboot"));
        assert_eq!(suggest(TABLE, "hlep").map(|c| c.name), Some("help"));
        assert_eq!(
            suggest(TABLE, "partiton").map(|c| c.name),
            Some("partition")
        );
        assert!(suggest(TABLE, "xyzzy").is_none());
        assert!(suggest(TABLE, "").is_none());
    }

    #[test]
    fn edit_distance_counts_edits() {
        assert_eq!(edit_distance("kitten", "sitting"), 3);
        assert_eq!(edit_distance("", "abc"), 3);
        assert_eq!(edit_distance("same", "same"), 0);
        assert_eq!(edit_distance(&"a".repeat(40), "a"), usize::MAX);
    }
}
