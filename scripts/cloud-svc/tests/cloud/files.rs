//! The S3-style file server: presigned URLs as delivered in OTA job documents, Range requests,
//! S3 errors and the download faults.

use std::process::Command;
use std::thread;
use std::time::{Duration, Instant};

use base64ct::{Base64, Encoding};
use serde_json::json;

use crate::harness::{delivered_url, https, split_url, Cloud, Device, Https, PATIENCE, THING};

/// Creates an OTA job for an image of `size` bytes and returns the URL the device received,
/// with the image.
fn delivered_image(
    cloud: &Cloud,
    device: &mut Device,
    size: usize,
    extra: &[&str],
) -> (String, Vec<u8>) {
    let (image, bytes) = cloud.image("app_ota.img", size);
    cloud.create_job("ota", &image, extra);
    let next = device.expect("notify-next");
    (delivered_url(&next["execution"]), bytes)
}

fn s3_code(body: &str) -> &str {
    body.split("<Code>")
        .nth(1)
        .and_then(|rest| rest.split("</Code>").next())
        .unwrap_or_default()
}

#[test]
fn a_fresh_presigned_url_gives_200_and_206_with_the_right_bytes() {
    let cloud = Cloud::start();
    let mut device = Device::connect(&cloud, THING);
    let (url, image) = delivered_image(&cloud, &mut device, 100_000, &[]);

    let whole = https(&cloud, "GET", &url, &[]);
    assert_eq!(whole.status, 200);
    assert!(whole.complete);
    assert_eq!(whole.body, image);
    assert_eq!(whole.header("Accept-Ranges"), Some("bytes"));

    // Block after block on one kept-alive connection, as the OTA agent downloads.
    let mut connection = Https::connect(&cloud, &url, Duration::from_secs(10));
    for (first, last) in [(0, 4095), (4096, 8191), (98_304, 99_999)] {
        let range = format!("bytes={first}-{last}");
        let block = connection.request("GET", &url, &[("Range", &range)]);
        assert_eq!(block.status, 206, "{range}");
        assert_eq!(
            block.header("Content-Range"),
            Some(format!("bytes {first}-{last}/100000").as_str())
        );
        assert_eq!(block.body, &image[first..=last], "{range}");
    }
    let suffix = connection.request("GET", &url, &[("Range", "bytes=-10")]);
    assert_eq!(
        (suffix.status, suffix.body.as_slice()),
        (206, &image[99_990..])
    );
    let beyond = connection.request("GET", &url, &[("Range", "bytes=100000-")]);
    assert_eq!(beyond.status, 416);
    assert_eq!(beyond.header("Content-Range"), Some("bytes */100000"));
    assert_eq!(s3_code(&beyond.text()), "InvalidRange");

    // HEAD needs a URL presigned for HEAD, as with S3.
    let (object, _) = url.split_once('?').unwrap();
    let key = object.rsplit('/').next().unwrap();
    let head_url = cloud.cli(&["presign", key, "--method", "HEAD"])["url"]
        .as_str()
        .unwrap()
        .to_owned();
    let head = https(&cloud, "HEAD", &head_url, &[]);
    assert_eq!(head.status, 200);
    assert_eq!(head.header("Content-Length"), Some("100000"));
    assert!(head.body.is_empty());
    assert_eq!(https(&cloud, "HEAD", &url, &[]).status, 403);
}

#[test]
fn the_image_signature_verifies_with_the_code_signing_certificate() {
    let cloud = Cloud::start();
    let (image, _) = cloud.image("app_ota.img", 5000);
    let described = cloud.create_job("signed", &image, &[]);
    let file = &described["document"]["afr_ota"]["files"][0];
    assert_eq!(file["filesize"], 5000);
    assert_eq!(file["fileid"], 0);
    assert_eq!(file["auth_scheme"], "aws.s3.presigned");
    assert_eq!(
        described["document"]["afr_ota"]["protocols"],
        json!(["HTTP"])
    );
    let signature = Base64::decode_vec(file["sig-sha256-ecdsa"].as_str().unwrap()).unwrap();
    let signature_path = cloud.scratch("signature.der");
    std::fs::write(&signature_path, signature).unwrap();

    // An independent implementation checks it: openssl, with the certificate's public key.
    let public_key = cloud.scratch("code-signing.pub");
    let extracted = Command::new("openssl")
        .args(["x509", "-pubkey", "-noout", "-in"])
        .arg(cloud.pki_file("code-signing.crt"))
        .arg("-out")
        .arg(&public_key)
        .status()
        .expect("running openssl");
    assert!(extracted.success());
    let verified = Command::new("openssl")
        .args(["dgst", "-sha256", "-verify"])
        .arg(&public_key)
        .arg("-signature")
        .arg(&signature_path)
        .arg(&image)
        .output()
        .expect("running openssl");
    assert!(
        verified.status.success(),
        "{}",
        String::from_utf8_lossy(&verified.stdout)
    );
}

#[test]
fn an_expired_url_is_refused_with_403() {
    let cloud = Cloud::start();
    let mut device = Device::connect(&cloud, THING);
    let (url, _) = delivered_image(&cloud, &mut device, 1000, &["--expires", "1"]);
    assert!(url.contains("X-Amz-Expires=1&"), "{url}");
    thread::sleep(Duration::from_millis(2100));
    let expired = https(&cloud, "GET", &url, &[]);
    assert_eq!(expired.status, 403);
    let body = expired.text();
    assert_eq!(s3_code(&body), "AccessDenied");
    assert!(
        body.contains("<Message>Request has expired</Message>"),
        "{body}"
    );
    assert!(body.contains("<X-Amz-Expires>1</X-Amz-Expires>"), "{body}");

    // Asking for the job document again, as the OTA agent does after a 403, mints a new URL.
    let (_, described) = device.request("ota/get", json!({}));
    let fresh = delivered_url(&described["execution"]);
    let signed_at = |url: &str| {
        url.split("X-Amz-Date=")
            .nth(1)
            .map(|rest| rest[..16].to_owned())
    };
    assert!(
        signed_at(&fresh) > signed_at(&url),
        "{fresh} is not newer than {url}"
    );
}

#[test]
fn a_url_with_one_changed_character_is_refused_with_403() {
    let cloud = Cloud::start();
    let mut device = Device::connect(&cloud, THING);
    let (url, _) = delivered_image(&cloud, &mut device, 1000, &[]);
    assert_eq!(https(&cloud, "GET", &url, &[]).status, 200);

    let flip = |url: &str, at: usize| {
        let mut bytes = url.as_bytes().to_vec();
        bytes[at] = if bytes[at] == b'0' { b'1' } else { b'0' };
        String::from_utf8(bytes).unwrap()
    };
    let signature_at = url.find("X-Amz-Signature=").unwrap() + "X-Amz-Signature=".len();
    let date_at = url.find("X-Amz-Date=").unwrap() + "X-Amz-Date=".len() + 12;
    let expires_at = url.find("X-Amz-Expires=").unwrap() + "X-Amz-Expires=".len();
    for at in [signature_at, signature_at + 40, date_at, expires_at] {
        let tampered = flip(&url, at);
        let refused = https(&cloud, "GET", &tampered, &[]);
        assert_eq!(refused.status, 403, "{tampered}");
        assert_eq!(
            s3_code(&refused.text()),
            "SignatureDoesNotMatch",
            "{tampered}"
        );
    }
    let other_object = url.replacen("app_ota.img", "app_ota.imh", 1);
    assert_eq!(https(&cloud, "GET", &other_object, &[]).status, 403);
    let (unsigned, _) = url.split_once('?').unwrap();
    let anonymous = https(&cloud, "GET", unsigned, &[]);
    assert_eq!(
        (anonymous.status, s3_code(&anonymous.text())),
        (403, "AccessDenied")
    );
}

#[test]
fn download_faults_cut_stall_flip_ignore_range_and_expire() {
    let cloud = Cloud::start();
    let mut device = Device::connect(&cloud, THING);
    let (url, image) = delivered_image(&cloud, &mut device, 50_000, &[]);

    cloud.cli(&["fault", "cut-after", "1000", "--times", "1"]);
    let cut = https(&cloud, "GET", &url, &[]);
    assert_eq!(
        (cut.status, cut.complete, cut.body.len()),
        (200, false, 1000)
    );
    assert_eq!(cut.body, &image[..1000]);
    assert!(
        https(&cloud, "GET", &url, &[]).complete,
        "the cut acted once"
    );

    cloud.cli(&["fault", "flip-byte", "4100"]);
    let flipped = https(&cloud, "GET", &url, &[("Range", "bytes=4096-8191")]);
    assert_eq!(flipped.body[4], !image[4100]);
    assert_eq!(flipped.body[5..], image[4101..8192]);
    cloud.cli(&["fault", "flip-byte", "off"]);

    cloud.cli(&["fault", "ignore-range", "on"]);
    let whole = https(&cloud, "GET", &url, &[("Range", "bytes=0-99")]);
    assert_eq!((whole.status, whole.body.len()), (200, image.len()));
    cloud.cli(&["fault", "ignore-range", "off"]);

    cloud.cli(&["fault", "stall-after", "300", "--times", "1"]);
    let mut stalled = Https::connect(&cloud, &url, Duration::from_millis(800));
    let response = stalled.request("GET", &url, &[]);
    assert_eq!((response.complete, response.body.len()), (false, 300));
    drop(stalled);

    cloud.cli(&["fault", "url-expiry", "1", "--times", "1"]);
    let (_, described) = device.request("ota/get", json!({}));
    let short_lived = delivered_url(&described["execution"]);
    assert!(short_lived.contains("X-Amz-Expires=1&"), "{short_lived}");
    thread::sleep(Duration::from_millis(2100));
    assert_eq!(https(&cloud, "GET", &short_lived, &[]).status, 403);
    let (_, described) = device.request("ota/get", json!({}));
    assert!(delivered_url(&described["execution"]).contains("X-Amz-Expires=1800&"));
}

#[test]
fn the_request_log_names_the_client_and_counts_the_object_bytes_it_was_sent() {
    let cloud = Cloud::start();
    let mut device = Device::connect(&cloud, THING);
    let (url, _) = delivered_image(&cloud, &mut device, 50_000, &[]);
    cloud.cli(&["fault", "cut-after", "1000", "--times", "1"]);
    assert!(!https(&cloud, "GET", &url, &[]).complete);
    assert!(https(&cloud, "GET", &url, &[("Range", "bytes=512-")]).complete);
    // A refused request sends no object bytes, so it has no body line.
    let (unsigned, _) = url.split_once('?').unwrap();
    assert_eq!(https(&cloud, "GET", unsigned, &[]).status, 403);

    // The line is written once the response has gone: wait for both.
    let log = cloud.run_dir().join("cloud-svc.log");
    let deadline = Instant::now() + PATIENCE;
    let bodies = loop {
        let text = std::fs::read_to_string(&log).unwrap_or_default();
        let bodies: Vec<String> = text
            .lines()
            .filter(|line| line.starts_with("files: body "))
            .map(str::to_owned)
            .collect();
        if bodies.len() >= 2 || Instant::now() > deadline {
            break bodies;
        }
        thread::sleep(Duration::from_millis(50));
    };
    let (_, path) = split_url(unsigned);
    assert_eq!(
        bodies,
        [
            format!("files: body connection=1 peer=127.0.0.1 {path} from=0 bytes=1000"),
            format!("files: body connection=2 peer=127.0.0.1 {path} from=512 bytes=49488"),
        ]
    );
    let requests = std::fs::read_to_string(&log).unwrap();
    assert_eq!(
        requests
            .lines()
            .filter(|line| line.starts_with("files: request connection=")
                && line.contains(" peer=127.0.0.1 GET "))
            .count(),
        3,
        "{requests}"
    );
}
