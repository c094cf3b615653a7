//! `http` and `https` URLs (RFC 3986), as an OTA job document carries them: presigned S3 URLs,
//! whose signed query strings make them long.
//!
//! [`Url::parse`] accepts `scheme "://" host [":" port] path ["?" query] ["#" fragment]`
//! (RFC 3986 sections 3 and 4.3) for the schemes `http` and `https`, at most [`MAX_URL_LEN`]
//! bytes. It checks every character against the RFC's grammar, so a parsed URL can go into a
//! request line as it is: no spaces, controls or line breaks can reach the wire. The `Display`
//! form is the URL in normal form (RFC 3986 section 6.2.3): lowercase scheme, no default port,
//! `/` for an empty path, no fragment; parsing it gives back the same [`Url`].
//!
//! Not supported, and refused with a reason: user information in the authority (section
//! 3.2.1), IP literals in brackets (section 3.2.2), and host names with percent-encoding.
#![forbid(unsafe_code)]

use core::fmt;

/// The longest URL accepted, in bytes, fragment included (the AWS OTA library's
/// `OTA_MAX_URL_SIZE` is the same).
pub const MAX_URL_LEN: usize = 2048;

/// Why a string is not a URL the clients can fetch.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum UrlError {
    /// Longer than [`MAX_URL_LEN`].
    TooLong { len: usize },
    /// No `scheme://` at the start.
    NoScheme,
    /// A scheme other than `http` or `https`.
    UnsupportedScheme,
    /// User information (`user@host`), which the clients do not send.
    UserInfo,
    /// The host is empty.
    NoHost,
    /// The host is not a name or IPv4 address made of letters, digits, `-`, `.`, `_` and `~`.
    BadHost,
    /// The port is not a number from 1 to 65535.
    BadPort,
    /// A character the path or query may not hold, or a `%` without two hex digits, at this
    /// byte offset into the URL.
    BadCharacter { offset: usize },
}

impl fmt::Display for UrlError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::TooLong { len } => {
                write!(
                    f,
                    "URL is {len} bytes, longer than the {MAX_URL_LEN} allowed"
                )
            }
            Self::NoScheme => f.write_str("URL does not start with scheme://"),
            Self::UnsupportedScheme => f.write_str("URL scheme is neither http nor https"),
            Self::UserInfo => f.write_str("URL user information is not supported"),
            Self::NoHost => f.write_str("URL has no host"),
            Self::BadHost => f.write_str("URL host is not a host name or IPv4 address"),
            Self::BadPort => f.write_str("URL port is not a number from 1 to 65535"),
            Self::BadCharacter { offset } => write!(f, "invalid character in URL at {offset}"),
        }
    }
}

/// The URL schemes the clients speak.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Scheme {
    Http,
    Https,
}

impl Scheme {
    /// The port a URL of this scheme means when it names none (RFC 9110 sections 4.2.1, 4.2.2).
    pub const fn default_port(self) -> u16 {
        match self {
            Self::Http => 80,
            Self::Https => 443,
        }
    }

    const fn as_str(self) -> &'static str {
        match self {
            Self::Http => "http",
            Self::Https => "https",
        }
    }
}

/// A parsed, checked `http` or `https` URL, borrowing its text.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Url<'a> {
    scheme: Scheme,
    host: &'a str,
    port: u16,
    path: &'a str,
    query: Option<&'a str>,
}

impl<'a> Url<'a> {
    /// Parses and checks `text` (see the module documentation).
    pub fn parse(text: &'a str) -> Result<Self, UrlError> {
        if text.len() > MAX_URL_LEN {
            return Err(UrlError::TooLong { len: text.len() });
        }
        let (scheme, after_scheme) = text.split_once("://").ok_or(UrlError::NoScheme)?;
        let scheme = if scheme.eq_ignore_ascii_case("http") {
            Scheme::Http
        } else if scheme.eq_ignore_ascii_case("https") {
            Scheme::Https
        } else {
            return Err(UrlError::UnsupportedScheme);
        };
        // The fragment is for the client alone and never sent (RFC 9110 section 7.1).
        let rest = after_scheme
            .split_once('#')
            .map_or(after_scheme, |(before, _)| before);
        let authority_end = rest.find(['/', '?']).unwrap_or(rest.len());
        let (authority, path_and_query) = rest.split_at(authority_end);
        let (host, port) = parse_authority(authority, scheme)?;
        let (path, query) = match path_and_query.split_once('?') {
            Some((path, query)) => (path, Some(query)),
            None => (path_and_query, None),
        };
        // Offsets into `text`: the path starts after the scheme, "://" and the authority.
        let path_offset = text.len() - after_scheme.len() + authority_end;
        check_characters(path, path_offset, |byte| byte == b'/')?;
        if let Some(query) = query {
            check_characters(query, path_offset + path.len() + 1, |byte| {
                byte == b'/' || byte == b'?'
            })?;
        }
        // An empty path means "/" in a request (RFC 9112 section 3.2.1).
        let path = if path.is_empty() { "/" } else { path };
        let url = Self {
            scheme,
            host,
            port,
            path,
            query,
        };
        // The normal form has that "/" where the text has none; it must parse back as well.
        let mut normal = LenCounter(0);
        // Counting cannot fail.
        let _ = fmt::write(&mut normal, format_args!("{url}"));
        if normal.0 > MAX_URL_LEN {
            return Err(UrlError::TooLong { len: normal.0 });
        }
        Ok(url)
    }

    pub const fn scheme(&self) -> Scheme {
        self.scheme
    }

    /// The host name or IPv4 address, as written.
    pub const fn host(&self) -> &'a str {
        self.host
    }

    /// The port, the scheme's default when the URL names none.
    pub const fn port(&self) -> u16 {
        self.port
    }

    /// The path, `/` when the URL has none.
    pub const fn path(&self) -> &'a str {
        self.path
    }

    /// The query without its `?`, if the URL has one.
    pub const fn query(&self) -> Option<&'a str> {
        self.query
    }
}

impl fmt::Display for Url<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}://{}", self.scheme.as_str(), self.host)?;
        if self.port != self.scheme.default_port() {
            write!(f, ":{}", self.port)?;
        }
        f.write_str(self.path)?;
        if let Some(query) = self.query {
            write!(f, "?{query}")?;
        }
        Ok(())
    }
}

/// Counts the bytes written to it.
struct LenCounter(usize);

impl fmt::Write for LenCounter {
    fn write_str(&mut self, text: &str) -> fmt::Result {
        self.0 = self.0.saturating_add(text.len());
        Ok(())
    }
}

/// Splits `host [":" port]` (RFC 3986 section 3.2).
fn parse_authority(authority: &str, scheme: Scheme) -> Result<(&str, u16), UrlError> {
    if authority.contains('@') {
        return Err(UrlError::UserInfo);
    }
    if authority.starts_with('[') {
        return Err(UrlError::BadHost);
    }
    let (host, port) = match authority.split_once(':') {
        // An empty port means the default one (RFC 3986 section 3.2.3).
        Some((host, "")) => (host, scheme.default_port()),
        Some((host, port)) => (host, parse_port(port)?),
        None => (authority, scheme.default_port()),
    };
    if host.is_empty() {
        return Err(UrlError::NoHost);
    }
    let host_byte = |byte: u8| byte.is_ascii_alphanumeric() || b"-._~".contains(&byte);
    if !host.bytes().all(host_byte) {
        return Err(UrlError::BadHost);
    }
    Ok((host, port))
}

fn parse_port(digits: &str) -> Result<u16, UrlError> {
    if !digits.bytes().all(|byte| byte.is_ascii_digit()) {
        return Err(UrlError::BadPort);
    }
    match digits.parse::<u16>() {
        Ok(port) if port != 0 => Ok(port),
        _ => Err(UrlError::BadPort),
    }
}

/// Checks `part` against RFC 3986's `pchar` (section 3.3) plus the bytes `also_allowed`
/// accepts: unreserved characters, percent-encodings with two hex digits, sub-delimiters, `:`
/// and `@`. `offset` is where `part` starts in the URL, for the error.
fn check_characters(
    part: &str,
    offset: usize,
    also_allowed: impl Fn(u8) -> bool,
) -> Result<(), UrlError> {
    let bytes = part.as_bytes();
    let mut index = 0;
    while let Some(&byte) = bytes.get(index) {
        if byte == b'%' {
            let hex_pair = bytes.get(index + 1..index + 3).unwrap_or_default();
            if hex_pair.len() != 2 || !hex_pair.iter().all(u8::is_ascii_hexdigit) {
                return Err(UrlError::BadCharacter {
                    offset: offset + index,
                });
            }
            index += 3;
            continue;
        }
        let valid = byte.is_ascii_alphanumeric()
            || b"-._~".contains(&byte)
            || b"!$&'()*+,;=".contains(&byte)
            || byte == b':'
            || byte == b'@'
            || also_allowed(byte);
        if !valid {
            return Err(UrlError::BadCharacter {
                offset: offset + index,
            });
        }
        index += 1;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn presigned_s3_url() {
        let text = "https://bucket.s3.us-east-1.amazonaws.com/ota/app_ota.img\
                    ?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=AKIA%2F20261127%2Fus-east-1\
                    &X-Amz-Expires=3600&X-Amz-Signature=0123abcd";
        let url = Url::parse(text).unwrap();
        assert_eq!(url.scheme(), Scheme::Https);
        assert_eq!(url.host(), "bucket.s3.us-east-1.amazonaws.com");
        assert_eq!(url.port(), 443);
        assert_eq!(url.path(), "/ota/app_ota.img");
        assert!(url.query().unwrap().starts_with("X-Amz-Algorithm="));
        assert!(url.query().unwrap().ends_with("Signature=0123abcd"));
        assert_eq!(url.to_string(), text);
    }

    #[test]
    fn ports_and_defaults() {
        let url = Url::parse("http://127.0.0.1:8080/f").unwrap();
        assert_eq!(
            (url.scheme(), url.host(), url.port()),
            (Scheme::Http, "127.0.0.1", 8080)
        );
        assert_eq!(Url::parse("http://h/").unwrap().port(), 80);
        assert_eq!(Url::parse("http://h:/").unwrap().port(), 80);
        assert_eq!(
            Url::parse("https://h:443/x").unwrap().to_string(),
            "https://h/x"
        );
        assert_eq!(
            Url::parse("HTTP://h:8080").unwrap().to_string(),
            "http://h:8080/"
        );
        for bad in [
            "http://h:0/",
            "http://h:65536/",
            "http://h:8o/",
            "http://h:1:2/",
        ] {
            assert_eq!(Url::parse(bad), Err(UrlError::BadPort), "{bad}");
        }
    }

    #[test]
    fn empty_path_query_and_fragment() {
        let url = Url::parse("http://h?a=1#frag").unwrap();
        assert_eq!(url.path(), "/");
        assert_eq!(url.query(), Some("a=1"));
        assert_eq!(url.to_string(), "http://h/?a=1");
        assert_eq!(Url::parse("http://h/p?").unwrap().query(), Some(""));
        assert_eq!(
            Url::parse("http://h/p?x?y=/").unwrap().query(),
            Some("x?y=/")
        );
    }

    #[test]
    fn normal_form_parses_back_to_the_same_url() {
        for text in ["HTTPS://h:443?q#f", "http://h:81/a%20b/c?d=%2F", "http://h"] {
            let url = Url::parse(text).unwrap();
            let normal = url.to_string();
            assert_eq!(Url::parse(&normal), Ok(url), "{text}");
        }
    }

    #[test]
    fn length_limit() {
        let prefix = "https://h/p?";
        let fits = format!("{prefix}{}", "a".repeat(MAX_URL_LEN - prefix.len()));
        assert_eq!(fits.len(), MAX_URL_LEN);
        assert!(Url::parse(&fits).is_ok());
        let too_long = format!("{fits}a");
        assert_eq!(
            Url::parse(&too_long),
            Err(UrlError::TooLong {
                len: MAX_URL_LEN + 1
            })
        );
    }

    /// Found by fuzzing (fuzz/regressions/url/): a URL of the longest length without a path
    /// has a normal form one byte longer, which did not parse back.
    #[test]
    fn the_normal_form_must_fit_the_length_limit_too() {
        let host = "h".repeat(MAX_URL_LEN - "http://".len());
        for text in [format!("http://{host}"), format!("http://{}?q", &host[2..])] {
            assert_eq!(text.len(), MAX_URL_LEN);
            assert_eq!(
                Url::parse(&text),
                Err(UrlError::TooLong {
                    len: MAX_URL_LEN + 1
                }),
                "{text}"
            );
        }
        let fits = format!("http://{}", &host[1..]);
        let url = Url::parse(&fits).unwrap();
        assert_eq!(Url::parse(&url.to_string()), Ok(url));
        // A fragment or a default port the normal form leaves out make room.
        assert!(Url::parse(&format!("http://{}#f", &host[2..])).is_ok());
        assert!(Url::parse(&format!("http://{}:80", &host[3..])).is_ok());
    }

    #[test]
    fn schemes_and_authorities_are_checked() {
        assert_eq!(Url::parse("bucket/key"), Err(UrlError::NoScheme));
        assert_eq!(Url::parse("ftp://h/"), Err(UrlError::UnsupportedScheme));
        assert_eq!(Url::parse("http:/h/"), Err(UrlError::NoScheme));
        assert_eq!(Url::parse("http:///p"), Err(UrlError::NoHost));
        assert_eq!(Url::parse("http://:80/p"), Err(UrlError::NoHost));
        assert_eq!(Url::parse("http://u:p@h/"), Err(UrlError::UserInfo));
        assert_eq!(Url::parse("http://[::1]:80/"), Err(UrlError::BadHost));
        assert_eq!(Url::parse("http://h%41/"), Err(UrlError::BadHost));
        assert_eq!(Url::parse("http://h st/"), Err(UrlError::BadHost));
    }

    #[test]
    fn characters_that_could_break_a_request_line_are_refused() {
        assert_eq!(
            Url::parse("http://h/a b"),
            Err(UrlError::BadCharacter { offset: 10 })
        );
        assert_eq!(
            Url::parse("http://h/a\r\nHost: evil"),
            Err(UrlError::BadCharacter { offset: 10 })
        );
        assert_eq!(
            Url::parse("http://h/?q=\"x\""),
            Err(UrlError::BadCharacter { offset: 12 })
        );
        assert_eq!(
            Url::parse("http://h/caf\u{e9}"),
            Err(UrlError::BadCharacter { offset: 12 })
        );
        assert_eq!(
            Url::parse("http://h/%4"),
            Err(UrlError::BadCharacter { offset: 9 })
        );
        assert_eq!(
            Url::parse("http://h/?%zz"),
            Err(UrlError::BadCharacter { offset: 10 })
        );
        assert!(Url::parse("http://h/a-b_c.d~e!$&'()*+,;=:@/%41?/?:@").is_ok());
    }
}
