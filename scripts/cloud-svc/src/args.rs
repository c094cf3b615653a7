//! A small command-line parser: options (`--name value`, `--flag`) anywhere, then positionals.
//! Callers take their options first, then the positionals, then call [`Args::finish`] so that
//! anything left over is reported instead of silently ignored.

use std::fmt::Display;
use std::str::FromStr;

use anyhow::{anyhow, bail, Result};

#[derive(Debug)]
pub struct Args {
    items: Vec<String>,
}

impl Args {
    pub fn new(items: impl IntoIterator<Item = String>) -> Self {
        Self {
            items: items.into_iter().collect(),
        }
    }

    /// Removes every `name value` pair and returns the values in order.
    pub fn options(&mut self, name: &str) -> Result<Vec<String>> {
        let mut values = Vec::new();
        while let Some(at) = self.items.iter().position(|item| item == name) {
            let value = self
                .items
                .get(at + 1)
                .filter(|value| !value.starts_with("--"))
                .cloned()
                .ok_or_else(|| anyhow!("{name} needs a value"))?;
            self.items.drain(at..at + 2);
            values.push(value);
        }
        Ok(values)
    }

    /// Removes `name value` and returns the value; the option may be given once.
    pub fn option(&mut self, name: &str) -> Result<Option<String>> {
        let mut values = self.options(name)?;
        if values.len() > 1 {
            bail!("{name} may be given only once");
        }
        Ok(values.pop())
    }

    pub fn required(&mut self, name: &str) -> Result<String> {
        self.option(name)?
            .ok_or_else(|| anyhow!("{name} is required"))
    }

    /// Removes `name value` and parses the value.
    pub fn parsed<T>(&mut self, name: &str) -> Result<Option<T>>
    where
        T: FromStr,
        T::Err: Display,
    {
        self.option(name)?
            .map(|value| {
                value
                    .parse()
                    .map_err(|error| anyhow!("{name} {value}: {error}"))
            })
            .transpose()
    }

    /// Removes `name` and tells whether it was there.
    pub fn flag(&mut self, name: &str) -> bool {
        let before = self.items.len();
        self.items.retain(|item| item != name);
        self.items.len() != before
    }

    /// Removes and returns the first argument that is not an option.
    pub fn positional(&mut self, what: &str) -> Result<String> {
        let at = self
            .items
            .iter()
            .position(|item| !item.starts_with("--"))
            .ok_or_else(|| anyhow!("{what} is required"))?;
        Ok(self.items.remove(at))
    }

    /// Fails on anything that no caller took.
    pub fn finish(self) -> Result<()> {
        match self.items.first() {
            None => Ok(()),
            Some(unexpected) => bail!("unexpected argument {unexpected:?}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(line: &str) -> Args {
        Args::new(line.split_whitespace().map(String::from))
    }

    #[test]
    fn takes_options_flags_and_positionals_in_any_order() {
        let mut parsed = args("job-7 --thing a --force --thing b --expires 60");
        assert_eq!(parsed.options("--thing").unwrap(), ["a", "b"]);
        assert_eq!(parsed.parsed::<u64>("--expires").unwrap(), Some(60));
        assert!(parsed.flag("--force"));
        assert!(!parsed.flag("--force"));
        assert_eq!(parsed.positional("JOB").unwrap(), "job-7");
        parsed.finish().unwrap();
    }

    #[test]
    fn reports_missing_values_repeats_and_leftovers() {
        assert!(args("--thing").option("--thing").is_err());
        assert!(args("--thing --force").option("--thing").is_err());
        assert!(args("--dir a --dir b").option("--dir").is_err());
        assert!(args("--expires soon").parsed::<u64>("--expires").is_err());
        assert!(args("--verbose").finish().is_err());
        assert!(args("").positional("FILE").is_err());
    }
}
