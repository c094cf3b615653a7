//! OTA jobs in the shape AWS IoT OTA creates them: an `afr_ota` job document with one file,
//! fetched over HTTP from a presigned S3 URL, and signed with ECDSA P-256 / SHA-256 as AWS
//! code signing for FreeRTOS signs images (an ASN.1 DER signature, base64 in the document).

use std::path::Path;

use anyhow::{Context, Result};
use base64ct::{Base64, Encoding};
use p256::ecdsa::signature::Signer;
use p256::ecdsa::{Signature, SigningKey};
use p256::pkcs8::DecodePrivateKey;
use serde_json::{json, Value};

use crate::jobs::document::placeholder;

/// The document key of the signature, named after its algorithm as the OTA library expects.
pub const SIGNATURE_KEY: &str = "sig-sha256-ecdsa";

/// Loads a code-signing key: PKCS#8 PEM (`BEGIN PRIVATE KEY`, as certs/make-pki writes) or
/// SEC1 PEM (`BEGIN EC PRIVATE KEY`, as `openssl ecparam -genkey` writes).
pub fn load_signing_key(path: &Path) -> Result<SigningKey> {
    let pem = std::fs::read_to_string(path)
        .with_context(|| format!("reading the signing key {}", path.display()))?;
    SigningKey::from_pkcs8_pem(&pem)
        .or_else(|_| p256::SecretKey::from_sec1_pem(&pem).map(SigningKey::from))
        .map_err(|_| {
            anyhow::anyhow!(
                "{} is not a P-256 private key in PKCS#8 or SEC1 PEM",
                path.display()
            )
        })
}

/// The image's ECDSA P-256 signature over its SHA-256 digest, DER-encoded.
pub fn sign_image(key: &SigningKey, image: &[u8]) -> Vec<u8> {
    let signature: Signature = key.sign(image);
    signature.to_der().as_bytes().to_vec()
}

/// One file of an OTA job.
#[derive(Debug)]
pub struct OtaFile<'a> {
    /// Where the device stores the file (`filepath`).
    pub file_path: &'a str,
    pub size: u64,
    /// The code-signing certificate's name on the device (`certfile`).
    pub cert_file: &'a str,
    /// The S3 object's URL; the document holds a placeholder for its presigned form.
    pub object_url: &'a str,
    pub signature_der: &'a [u8],
}

/// The `afr_ota` job document for one file over HTTP.
pub fn job_document(file: &OtaFile<'_>) -> Value {
    json!({
        "afr_ota": {
            "protocols": ["HTTP"],
            "files": [{
                "filepath": file.file_path,
                "filesize": file.size,
                "fileid": 0,
                "certfile": file.cert_file,
                "update_data_url": placeholder(file.object_url),
                "auth_scheme": "aws.s3.presigned",
                SIGNATURE_KEY: Base64::encode_string(file.signature_der),
            }]
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use p256::ecdsa::signature::Verifier;
    use p256::ecdsa::VerifyingKey;

    #[test]
    fn signs_images_verifiably_and_builds_the_afr_ota_document() {
        let dir = tempfile::tempdir().unwrap();
        let key_path = dir.path().join("code-signing.key");
        // A key from a fixed scalar, in SEC1 PEM (the PKI script's PKCS#8 keys are covered by
        // the integration tests).
        let secret = p256::SecretKey::from_slice(&[7; 32]).unwrap();
        let pem = secret.to_sec1_pem(p256::pkcs8::LineEnding::LF).unwrap();
        std::fs::write(&key_path, pem.as_bytes()).unwrap();
        let key = load_signing_key(&key_path).unwrap();
        let image = b"W800 image bytes";
        let der = sign_image(&key, image);
        let signature = Signature::from_der(&der).unwrap();
        VerifyingKey::from(&key).verify(image, &signature).unwrap();

        let document = job_document(&OtaFile {
            file_path: "app_ota.img",
            size: 16,
            cert_file: "code-signing.crt",
            object_url: "https://s3.w800.test:8443/w800-ota/app_ota.img",
            signature_der: &der,
        });
        let file = &document["afr_ota"]["files"][0];
        assert_eq!(document["afr_ota"]["protocols"], json!(["HTTP"]));
        assert_eq!(file["fileid"], 0);
        assert_eq!(file["filesize"], 16);
        assert_eq!(file["auth_scheme"], "aws.s3.presigned");
        assert_eq!(
            file["update_data_url"],
            "${aws:iot:s3-presigned-url:https://s3.w800.test:8443/w800-ota/app_ota.img}"
        );
        let encoded = file[SIGNATURE_KEY].as_str().unwrap();
        assert_eq!(Base64::decode_vec(encoded).unwrap(), der);
    }

    #[test]
    fn refuses_what_is_not_a_p256_key() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("not-a.key");
        std::fs::write(&path, "hello").unwrap();
        assert!(load_signing_key(&path).is_err());
        assert!(load_signing_key(&dir.path().join("missing.key")).is_err());
    }
}
