//! S3 presigned URLs: AWS Signature Version 4 with query-string authentication, minted and
//! verified with the AWS SDK's own signer (`aws-sigv4`).
//!
//! Verification signs the received request again, with the parameters it claims (time, expiry,
//! credential scope, signed headers), and compares the result with the received signature in
//! constant time, as S3 does.
//!
//! URLs may also be minted as with temporary (STS) credentials: they then carry an
//! `X-Amz-Security-Token`, which the signature covers. Real session tokens run to about a
//! thousand characters, which is how presigned URLs in AWS IoT job documents grow past 1 KB;
//! here a token of any asked length is derived from the secret key, so that the verifier knows
//! every token it minted.

use std::fs::File;
use std::io::Read;
use std::path::Path;
use std::time::{Duration, SystemTime};

use anyhow::{Context, Result};
use aws_credential_types::Credentials;
use aws_sigv4::http_request::{
    sign, PercentEncodingMode, SignableBody, SignableRequest, SignatureLocation, SigningSettings,
    UriPathNormalizationMode,
};
use aws_sigv4::sign::v4;
use base64ct::{Base64, Encoding};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;
use time::{Date, Month, PrimitiveDateTime, Time};

use crate::storage;

const REGION: &str = "us-east-1";
const SERVICE: &str = "s3";
const ALGORITHM: &str = "AWS4-HMAC-SHA256";
/// S3 refuses presigned URLs valid for longer than a week.
pub const MAX_EXPIRES_SECS: u64 = 7 * 24 * 3600;
/// S3 accepts a request signed this far in the future (clock skew).
const MAX_CLOCK_SKEW: Duration = Duration::from_secs(15 * 60);

const PARAM_ALGORITHM: &str = "X-Amz-Algorithm";
const PARAM_CREDENTIAL: &str = "X-Amz-Credential";
const PARAM_DATE: &str = "X-Amz-Date";
const PARAM_EXPIRES: &str = "X-Amz-Expires";
const PARAM_SIGNED_HEADERS: &str = "X-Amz-SignedHeaders";
const PARAM_SIGNATURE: &str = "X-Amz-Signature";
const PARAM_SECURITY_TOKEN: &str = "X-Amz-Security-Token";
/// The characters of a session token (base64's, as STS tokens are).
const TOKEN_ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/// The bucket owner's access key, made once per state directory.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AccessKey {
    pub access_key_id: String,
    pub secret_access_key: String,
}

impl AccessKey {
    /// Loads the key from `path`, or makes a random one there.
    pub fn load_or_create(path: &Path) -> Result<Self> {
        if let Some(key) = storage::read_json(path)? {
            return Ok(key);
        }
        let mut random = [0u8; 40];
        File::open("/dev/urandom")
            .and_then(|mut urandom| urandom.read_exact(&mut random))
            .context("reading /dev/urandom")?;
        const ID_ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
        let (id_bytes, secret_bytes) = random.split_at(16);
        let key = AccessKey {
            access_key_id: "AKIA"
                .chars()
                .chain(
                    id_bytes
                        .iter()
                        .map(|byte| char::from(ID_ALPHABET[usize::from(byte % 32)])),
                )
                .collect(),
            secret_access_key: Base64::encode_string(secret_bytes),
        };
        storage::write_json(path, &key)?;
        Ok(key)
    }
}

/// Why S3 would refuse a presigned request; each maps to one S3 error response.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum AuthError {
    /// No query authentication at all: an anonymous request to a private bucket.
    Anonymous,
    /// Query authentication that is incomplete or malformed.
    Malformed(String),
    UnknownAccessKey,
    Expired {
        expires_secs: u64,
        expired_at: SystemTime,
    },
    NotYetValid,
    SignatureMismatch,
    /// An `X-Amz-Security-Token` this service did not mint.
    InvalidToken,
}

/// What the verifier needs of a received request. `target` is the request target as sent
/// (path and query, percent-encoded); `header` looks a header up by lower-case name.
pub struct ReceivedRequest<'a> {
    pub method: &'a str,
    pub host: &'a str,
    pub target: &'a str,
    pub header: &'a dyn Fn(&str) -> Option<&'a str>,
}

#[derive(Debug)]
pub struct Presigner {
    key: AccessKey,
}

impl Presigner {
    pub fn new(key: AccessKey) -> Self {
        Self { key }
    }

    /// Presigns `method url` (an `https://host[:port]/path` URL without a query), valid for
    /// `expires_in` from `issued_at`; with `token_len`, as with temporary credentials whose
    /// session token has that many characters.
    pub fn presign(
        &self,
        method: &str,
        url: &str,
        issued_at: SystemTime,
        expires_in: Duration,
        token_len: Option<usize>,
    ) -> Result<String> {
        let token = token_len.map(|len| self.session_token(len));
        let signed = self
            .sign(method, url, &[], issued_at, expires_in, token.as_deref())
            .with_context(|| format!("presigning {url}"))?;
        let mut query = form_urlencoded::Serializer::new(String::new());
        for (name, value) in &signed.params {
            query.append_pair(name, value);
        }
        Ok(format!("{url}?{}", query.finish()))
    }

    /// The session token of `len` characters: SHA-256 of the secret key, the length and a
    /// counter, block after block, in base64's alphabet.
    fn session_token(&self, len: usize) -> String {
        let mut token = String::with_capacity(len);
        let mut counter = 0u64;
        while token.len() < len {
            let block = Sha256::new()
                .chain_update(self.key.secret_access_key.as_bytes())
                .chain_update((len as u64).to_le_bytes())
                .chain_update(counter.to_le_bytes())
                .finalize();
            token.extend(
                block
                    .iter()
                    .map(|byte| char::from(TOKEN_ALPHABET[usize::from(byte % 64)]))
                    .take(len - token.len()),
            );
            counter += 1;
        }
        token
    }

    /// Checks a request made with a presigned URL at time `now`.
    pub fn verify(&self, request: &ReceivedRequest<'_>, now: SystemTime) -> Result<(), AuthError> {
        let (path, query) = request
            .target
            .split_once('?')
            .unwrap_or((request.target, ""));
        let mut auth = QueryAuth::default();
        let mut other_params = form_urlencoded::Serializer::new(String::new());
        let mut has_other_params = false;
        for (name, value) in form_urlencoded::parse(query.as_bytes()) {
            let slot = match name.as_ref() {
                PARAM_ALGORITHM => &mut auth.algorithm,
                PARAM_CREDENTIAL => &mut auth.credential,
                PARAM_DATE => &mut auth.date,
                PARAM_EXPIRES => &mut auth.expires,
                PARAM_SIGNED_HEADERS => &mut auth.signed_headers,
                PARAM_SIGNATURE => &mut auth.signature,
                PARAM_SECURITY_TOKEN => &mut auth.session_token,
                _ => {
                    other_params.append_pair(&name, &value);
                    has_other_params = true;
                    continue;
                }
            };
            if slot.replace(value.into_owned()).is_some() {
                return Err(AuthError::Malformed(format!("{name} is given twice")));
            }
        }
        let session_token = auth.session_token.take();
        let auth = auth.complete()?;
        let scope = auth.credential_scope()?;
        if scope.access_key_id != self.key.access_key_id {
            return Err(AuthError::UnknownAccessKey);
        }
        let issued_at = parse_amz_date(&auth.date).ok_or_else(|| {
            AuthError::Malformed(format!(
                "{PARAM_DATE} must be in the ISO8601 Long Format \"yyyyMMdd'T'HHmmss'Z'\""
            ))
        })?;
        let expires_secs: u64 = auth
            .expires
            .parse()
            .ok()
            .filter(|secs| (1..=MAX_EXPIRES_SECS).contains(secs))
            .ok_or_else(|| {
                AuthError::Malformed(format!(
                    "{PARAM_EXPIRES} must be a number of seconds from 1 to {MAX_EXPIRES_SECS}"
                ))
            })?;
        let expired_at = issued_at + Duration::from_secs(expires_secs);
        if now > expired_at {
            return Err(AuthError::Expired {
                expires_secs,
                expired_at,
            });
        }
        if issued_at > now + MAX_CLOCK_SKEW {
            return Err(AuthError::NotYetValid);
        }
        if let Some(token) = &session_token {
            let minted: bool = self
                .session_token(token.len())
                .as_bytes()
                .ct_eq(token.as_bytes())
                .into();
            if !minted {
                return Err(AuthError::InvalidToken);
            }
        }

        let mut signed_headers = Vec::new();
        for name in auth
            .signed_headers
            .split(';')
            .filter(|name| *name != "host")
        {
            let value = (request.header)(name).ok_or(AuthError::SignatureMismatch)?;
            signed_headers.push((name, value));
        }
        let mut url = format!("https://{}{path}", request.host);
        if has_other_params {
            url.push('?');
            url.push_str(&other_params.finish());
        }
        let expected = self
            .sign(
                request.method,
                &url,
                &signed_headers,
                issued_at,
                Duration::from_secs(expires_secs),
                session_token.as_deref(),
            )
            .map_err(|_| AuthError::SignatureMismatch)?;
        // Every signing parameter must be the one the signature covers, character for
        // character: the signature alone does not cover a reformatted credential scope.
        let received = [
            (PARAM_ALGORITHM, &auth.algorithm),
            (PARAM_CREDENTIAL, &auth.credential),
            (PARAM_DATE, &auth.date),
            (PARAM_EXPIRES, &auth.expires),
            (PARAM_SIGNED_HEADERS, &auth.signed_headers),
        ];
        let params_match = received.iter().all(|(name, value)| {
            expected
                .params
                .iter()
                .any(|(expected_name, expected_value)| {
                    expected_name == name && expected_value == *value
                })
        });
        let signature_matches: bool = expected
            .signature
            .as_bytes()
            .ct_eq(auth.signature.as_bytes())
            .into();
        if params_match && signature_matches {
            Ok(())
        } else {
            Err(AuthError::SignatureMismatch)
        }
    }

    fn sign(
        &self,
        method: &str,
        url: &str,
        headers: &[(&str, &str)],
        time: SystemTime,
        expires_in: Duration,
        session_token: Option<&str>,
    ) -> Result<Signed> {
        let identity = Credentials::new(
            &self.key.access_key_id,
            &self.key.secret_access_key,
            session_token.map(str::to_owned),
            None,
            "cloud-svc",
        )
        .into();
        let mut settings = SigningSettings::default();
        settings.signature_location = SignatureLocation::QueryParams;
        settings.expires_in = Some(expires_in);
        // S3 takes the path as sent: no second encoding, no normalisation.
        settings.percent_encoding_mode = PercentEncodingMode::Single;
        settings.uri_path_normalization_mode = UriPathNormalizationMode::Disabled;
        let signing_params = v4::SigningParams::builder()
            .identity(&identity)
            .region(REGION)
            .name(SERVICE)
            .time(time)
            .settings(settings)
            .build()?
            .into();
        let request = SignableRequest::new(
            method,
            url,
            headers.iter().copied(),
            SignableBody::UnsignedPayload,
        )?;
        let (instructions, signature) = sign(request, &signing_params)?.into_parts();
        let (_, query_params) = instructions.into_parts();
        let params = query_params
            .into_iter()
            .map(|(name, value)| (name, value.into_owned()))
            .collect();
        Ok(Signed { params, signature })
    }
}

struct Signed {
    /// The query parameters to add to the URL, the signature among them.
    params: Vec<(&'static str, String)>,
    signature: String,
}

#[derive(Default)]
struct QueryAuth {
    algorithm: Option<String>,
    credential: Option<String>,
    date: Option<String>,
    expires: Option<String>,
    signed_headers: Option<String>,
    signature: Option<String>,
    session_token: Option<String>,
}

struct CompleteQueryAuth {
    algorithm: String,
    credential: String,
    date: String,
    expires: String,
    signed_headers: String,
    signature: String,
}

struct CredentialScope<'a> {
    access_key_id: &'a str,
}

impl QueryAuth {
    /// The six parameters every presigned request carries (the session token, which only
    /// some carry, taken out before).
    fn complete(self) -> Result<CompleteQueryAuth, AuthError> {
        let fields = [
            &self.algorithm,
            &self.credential,
            &self.date,
            &self.expires,
            &self.signed_headers,
            &self.signature,
        ];
        if fields.iter().all(|field| field.is_none()) {
            return Err(AuthError::Anonymous);
        }
        match self {
            QueryAuth {
                algorithm: Some(algorithm),
                credential: Some(credential),
                date: Some(date),
                expires: Some(expires),
                signed_headers: Some(signed_headers),
                signature: Some(signature),
                session_token: _,
            } if algorithm == ALGORITHM => Ok(CompleteQueryAuth {
                algorithm,
                credential,
                date,
                expires,
                signed_headers,
                signature,
            }),
            QueryAuth {
                algorithm: Some(algorithm),
                ..
            } if algorithm != ALGORITHM => Err(AuthError::Malformed(format!(
                "{PARAM_ALGORITHM} only supports \"{ALGORITHM}\""
            ))),
            _ => Err(AuthError::Malformed(format!(
                "Query-string authentication version 4 requires the {PARAM_ALGORITHM}, \
                 {PARAM_CREDENTIAL}, {PARAM_SIGNATURE}, {PARAM_DATE}, {PARAM_SIGNED_HEADERS}, \
                 and {PARAM_EXPIRES} parameters."
            ))),
        }
    }
}

impl CompleteQueryAuth {
    /// `<access key id>/<yyyymmdd>/<region>/s3/aws4_request`.
    fn credential_scope(&self) -> Result<CredentialScope<'_>, AuthError> {
        let parts: Vec<&str> = self.credential.split('/').collect();
        match parts.as_slice() {
            [access_key_id, date, region, service, "aws4_request"]
                if date.len() == 8 && *region == REGION && *service == SERVICE =>
            {
                Ok(CredentialScope { access_key_id })
            }
            [_, _, region, _, _] if *region != REGION => Err(AuthError::Malformed(format!(
                "Error parsing the {PARAM_CREDENTIAL} parameter; the region '{region}' is wrong; \
                 expecting '{REGION}'"
            ))),
            _ => Err(AuthError::Malformed(format!(
                "Error parsing the {PARAM_CREDENTIAL} parameter"
            ))),
        }
    }
}

/// Parses the SigV4 long date format, `yyyyMMddTHHmmssZ`.
fn parse_amz_date(text: &str) -> Option<SystemTime> {
    let bytes = text.as_bytes();
    if bytes.len() != 16 || bytes[8] != b'T' || bytes[15] != b'Z' {
        return None;
    }
    let number = |range: std::ops::Range<usize>| -> Option<u32> {
        let digits = text.get(range)?;
        digits
            .bytes()
            .all(|byte| byte.is_ascii_digit())
            .then(|| digits.parse().ok())
            .flatten()
    };
    let year = i32::try_from(number(0..4)?).ok()?;
    let month = Month::try_from(u8::try_from(number(4..6)?).ok()?).ok()?;
    let day = u8::try_from(number(6..8)?).ok()?;
    let hour = u8::try_from(number(9..11)?).ok()?;
    let minute = u8::try_from(number(11..13)?).ok()?;
    let second = u8::try_from(number(13..15)?).ok()?;
    let date = Date::from_calendar_date(year, month, day).ok()?;
    let time = Time::from_hms(hour, minute, second).ok()?;
    Some(PrimitiveDateTime::new(date, time).assume_utc().into())
}

#[cfg(test)]
mod tests {
    use super::*;

    const URL: &str = "https://s3.w800.test:8443/w800-ota/app_ota.img";

    fn presigner() -> Presigner {
        Presigner::new(AccessKey {
            access_key_id: "AKIATESTTESTTESTTEST".into(),
            secret_access_key: "c2VjcmV0IHNlY3JldCBzZWNyZXQgc2VjcmV0".into(),
        })
    }

    fn issued_at() -> SystemTime {
        parse_amz_date("20261127T120000Z").unwrap()
    }

    fn verify_url(
        presigner: &Presigner,
        method: &str,
        url: &str,
        now: SystemTime,
    ) -> Result<(), AuthError> {
        let rest = url.strip_prefix("https://").unwrap();
        let (host, path) = rest.split_at(rest.find('/').unwrap());
        let no_headers = |_: &str| None;
        presigner.verify(
            &ReceivedRequest {
                method,
                host,
                target: path,
                header: &no_headers,
            },
            now,
        )
    }

    #[test]
    fn parses_the_long_date_format() {
        let parsed = parse_amz_date("19700102T000001Z").unwrap();
        assert_eq!(parsed, SystemTime::UNIX_EPOCH + Duration::from_secs(86_401));
        for bad in [
            "19700102T000001",
            "1970010200000Z1",
            "19701302T000001Z",
            "+9700102T000001Z",
        ] {
            assert_eq!(parse_amz_date(bad), None, "{bad}");
        }
    }

    #[test]
    fn a_fresh_url_verifies_until_it_expires() {
        let presigner = presigner();
        let url = presigner
            .presign("GET", URL, issued_at(), Duration::from_secs(60), None)
            .unwrap();
        assert!(url.contains("X-Amz-Date=20261127T120000Z"), "{url}");
        assert!(url.contains("X-Amz-Expires=60"), "{url}");
        let within = issued_at() + Duration::from_secs(60);
        assert_eq!(verify_url(&presigner, "GET", &url, within), Ok(()));
        let after = within + Duration::from_secs(1);
        assert!(matches!(
            verify_url(&presigner, "GET", &url, after),
            Err(AuthError::Expired {
                expires_secs: 60,
                ..
            })
        ));
    }

    #[test]
    fn any_changed_character_breaks_the_signature() {
        let presigner = presigner();
        let url = presigner
            .presign("GET", URL, issued_at(), Duration::from_secs(600), None)
            .unwrap();
        let now = issued_at() + Duration::from_secs(1);
        // Change each character of the path and of the query, one at a time.
        for at in URL.find("/w800").unwrap()..url.len() {
            let mut tampered = url.clone().into_bytes();
            tampered[at] = if tampered[at] == b'1' { b'2' } else { b'1' };
            let tampered = String::from_utf8(tampered).unwrap();
            assert!(
                verify_url(&presigner, "GET", &tampered, now).is_err(),
                "{tampered} verified"
            );
        }
    }

    #[test]
    fn a_url_with_a_session_token_verifies_and_its_token_is_checked() {
        let presigner = presigner();
        let url = presigner
            .presign(
                "GET",
                URL,
                issued_at(),
                Duration::from_secs(600),
                Some(1570),
            )
            .unwrap();
        // Base64's '+' and '/' are percent-encoded: the URL grows past the token's length.
        assert!((2000..=2048).contains(&url.len()), "{} bytes", url.len());
        let now = issued_at() + Duration::from_secs(1);
        assert_eq!(verify_url(&presigner, "GET", &url, now), Ok(()));

        let token_at = url.find("X-Amz-Security-Token=").unwrap() + 21;
        let mut forged = url.clone().into_bytes();
        forged[token_at + 100] = if forged[token_at + 100] == b'A' {
            b'B'
        } else {
            b'A'
        };
        let forged = String::from_utf8(forged).unwrap();
        assert_eq!(
            verify_url(&presigner, "GET", &forged, now),
            Err(AuthError::InvalidToken)
        );
        // Without the token the signature no longer matches: the token is signed.
        let token_end = url[token_at..]
            .find('&')
            .map_or(url.len(), |end| token_at + end + 1);
        let stripped = format!("{}{}", &url[..token_at - 21], &url[token_end..]);
        assert_eq!(
            verify_url(&presigner, "GET", stripped.trim_end_matches('&'), now),
            Err(AuthError::SignatureMismatch)
        );
    }

    #[test]
    fn the_method_and_the_host_are_signed() {
        let presigner = presigner();
        let url = presigner
            .presign("GET", URL, issued_at(), Duration::from_secs(600), None)
            .unwrap();
        let now = issued_at();
        assert_eq!(
            verify_url(&presigner, "HEAD", &url, now),
            Err(AuthError::SignatureMismatch)
        );
        let other_host = url.replace("s3.w800.test:8443", "localhost:8443");
        assert_eq!(
            verify_url(&presigner, "GET", &other_host, now),
            Err(AuthError::SignatureMismatch)
        );
    }

    #[test]
    fn incomplete_or_foreign_authentication_is_refused() {
        let presigner = presigner();
        let now = issued_at();
        assert_eq!(
            verify_url(&presigner, "GET", URL, now),
            Err(AuthError::Anonymous)
        );
        let partial = format!("{URL}?X-Amz-Algorithm=AWS4-HMAC-SHA256");
        assert!(matches!(
            verify_url(&presigner, "GET", &partial, now),
            Err(AuthError::Malformed(_))
        ));
        let stranger = Presigner::new(AccessKey {
            access_key_id: "AKIAOTHEROTHEROTHER".into(),
            secret_access_key: "other".into(),
        });
        let foreign = stranger
            .presign("GET", URL, now, Duration::from_secs(60), None)
            .unwrap();
        assert_eq!(
            verify_url(&presigner, "GET", &foreign, now),
            Err(AuthError::UnknownAccessKey)
        );
    }

    #[test]
    fn the_access_key_is_made_once() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("access-key.json");
        let made = AccessKey::load_or_create(&path).unwrap();
        assert_eq!(made.access_key_id.len(), 20);
        let loaded = AccessKey::load_or_create(&path).unwrap();
        assert_eq!(made.secret_access_key, loaded.secret_access_key);
    }
}
