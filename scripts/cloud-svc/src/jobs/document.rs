//! Job documents with presigned-URL placeholders. AWS IoT replaces
//! `${aws:iot:s3-presigned-url:<S3 URL>}` with a fresh presigned URL each time it delivers the
//! document to a device, valid for the job's `presignedUrlConfig.expiresInSec`.

use std::time::Duration;

use anyhow::Result;
use serde_json::Value;

const PLACEHOLDER_START: &str = "${aws:iot:s3-presigned-url:";

/// Mints presigned GET URLs when a job document is delivered.
pub trait UrlSigner {
    fn presign_get(&self, url: &str, expires_in: Duration) -> Result<String>;
}

/// The placeholder that stands for a presigned URL of `url` in a stored job document.
pub fn placeholder(url: &str) -> String {
    format!("{PLACEHOLDER_START}{url}}}")
}

/// The document as a device receives it: every placeholder replaced by a presigned URL.
pub fn render(document: &Value, expires_in: Duration, signer: &dyn UrlSigner) -> Result<Value> {
    Ok(match document {
        Value::String(text) => Value::String(render_text(text, expires_in, signer)?),
        Value::Array(items) => Value::Array(
            items
                .iter()
                .map(|item| render(item, expires_in, signer))
                .collect::<Result<_>>()?,
        ),
        Value::Object(fields) => Value::Object(
            fields
                .iter()
                .map(|(name, value)| Ok((name.clone(), render(value, expires_in, signer)?)))
                .collect::<Result<_>>()?,
        ),
        other => other.clone(),
    })
}

fn render_text(text: &str, expires_in: Duration, signer: &dyn UrlSigner) -> Result<String> {
    let mut rendered = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(start) = rest.find(PLACEHOLDER_START) {
        let inner = &rest[start + PLACEHOLDER_START.len()..];
        // An unterminated placeholder is plain text, as it is for AWS.
        let Some(end) = inner.find('}') else {
            break;
        };
        rendered.push_str(&rest[..start]);
        rendered.push_str(&signer.presign_get(&inner[..end], expires_in)?);
        rest = &inner[end + 1..];
    }
    rendered.push_str(rest);
    Ok(rendered)
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use serde_json::json;

    /// Marks URLs instead of signing them, and says how long they were minted for.
    pub struct FakeSigner;

    impl UrlSigner for FakeSigner {
        fn presign_get(&self, url: &str, expires_in: Duration) -> Result<String> {
            Ok(format!("{url}?expires={}", expires_in.as_secs()))
        }
    }

    #[test]
    fn replaces_every_placeholder_and_nothing_else() {
        let document = json!({
            "files": [{
                "url": placeholder("https://s3.w800.test/b/k"),
                "note": format!("a {} b", placeholder("https://h/x")),
                "size": 5,
                "broken": "${aws:iot:s3-presigned-url:https://h/y",
            }]
        });
        let rendered = render(&document, Duration::from_secs(60), &FakeSigner).unwrap();
        assert_eq!(
            rendered,
            json!({
                "files": [{
                    "url": "https://s3.w800.test/b/k?expires=60",
                    "note": "a https://h/x?expires=60 b",
                    "size": 5,
                    "broken": "${aws:iot:s3-presigned-url:https://h/y",
                }]
            })
        );
    }
}
