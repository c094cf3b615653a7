//! The sim on its test network (scripts/testnet: a namespace with DHCP, DNS and NTP): Wi-Fi
//! association, DHCP, DNS, ping and SNTP through lwIP over the TAP radio.

mod support;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;
use support::{in_net, make_pki, temp_flash, workspace, Session, TestNet};

/// A mosquitto broker with mutual TLS inside a test network, stopped on drop: port 8883 with
/// the EC server certificate, 8884 with the RSA one (under the RSA root).
struct Broker {
    pid_file: PathBuf,
}

impl Broker {
    fn start(net: &TestNet, pki: &Path, dir: &Path) -> Broker {
        let conf = dir.join("mosquitto.conf");
        let pid_file = dir.join("mosquitto.pid");
        // AWS-policy-like isolation: a thing reaches only its own topics; the service all.
        let acl = dir.join("acl");
        std::fs::write(
            &acl,
            "user jobs-svc\ntopic readwrite $aws/things/#\n\npattern readwrite $aws/things/%u/#\n",
        )
        .unwrap();
        std::fs::write(
            &conf,
            format!(
                "per_listener_settings false\nlistener 8883 10.80.0.1\n\
                 cafile {pki}/ca.crt\ncertfile {pki}/iot.crt\nkeyfile {pki}/iot.key\n\
                 require_certificate true\nuse_identity_as_username true\ntls_version tlsv1.2\n\
                 listener 8884 10.80.0.1\n\
                 cafile {pki}/ca.crt\ncertfile {pki}/iot-rsa.crt\nkeyfile {pki}/iot-rsa.key\n\
                 require_certificate true\nuse_identity_as_username true\ntls_version tlsv1.2\n\
                 allow_anonymous false\npersistence false\nuser root\npid_file {pid}\n\
                 log_dest file {log}\nacl_file {acl}\n",
                pki = pki.display(),
                pid = pid_file.display(),
                log = dir.join("mosquitto.log").display(),
                acl = acl.display(),
            ),
        )
        .unwrap();
        let status = Command::new(workspace().join("scripts/testnet"))
            .args(["exec", "--name", &net.name, "--", "mosquitto", "-d", "-c"])
            .arg(&conf)
            .status()
            .expect("start mosquitto");
        assert!(status.success(), "mosquitto did not start");
        for _ in 0..50 {
            if pid_file.exists() {
                break;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        Broker { pid_file }
    }
}

impl Drop for Broker {
    fn drop(&mut self) {
        if let Ok(pid) = std::fs::read_to_string(&self.pid_file) {
            let _ = Command::new("kill").arg(pid.trim()).status();
        }
    }
}

#[test]
fn wifi_dhcp_dns_ping_and_ntp_on_the_test_network() {
    let net = TestNet::up("n");
    let flash = temp_flash("basic");
    let text = net.run_sim(
        &flash,
        &[],
        "wifi connect 61test 12345678\nwifi init\nwifi init\n\
         wifi connect 61test wrongpass\nifconfig\n\
         wifi connect other 12345678\n\
         wifi connect 61test 12345678\nifconfig\n\
         ping 10.80.0.1 2\nping iot.w800.test 1\nping 10.80.0.99 1\n\
         ntp start\nntp\n",
    );
    let expect = [
        "error: wifi: wifi is not initialised: run 'wifi init'",
        "wifi initialised",
        "error: wifi: the network stack runs already",
        "error: wifi: authentication failed (wrong passphrase?)",
        "wl0: link down",
        "error: wifi: no access point with that SSID",
        "sta connected",
        "sta got ip 10.80.0.",
        "inet 10.80.0.",
        "gateway 10.80.0.1",
        "dns 10.80.0.1",
        "reply from 10.80.0.1: seq=2",
        "2 sent, 2 received",
        "1 sent, 1 received",
        "no reply from 10.80.0.99: seq=1",
        "error: ping: 10.80.0.99 did not answer",
        "ntp server 0: 10.80.0.1",
        "local time: 20",
    ];
    for line in expect {
        assert!(text.contains(line), "missing {line:?} in:\n{text}");
    }
    // The wrong passphrase gave no address: the first ifconfig shows none.
    let first_ifconfig = text.split("W800: ifconfig").nth(1).unwrap_or("");
    assert!(first_ifconfig.contains("inet 0.0.0.0"), "{first_ifconfig}");
    // The clock came from the test network's NTP server, which serves the host's time.
    let host_year = 1970
        + std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs()
            / 31_556_952;
    assert!(
        text.contains(&format!("local time: {host_year}-")),
        "{text}"
    );
    std::fs::remove_dir_all(flash.parent().unwrap()).unwrap();
}

#[test]
fn a_lossy_link_still_gets_an_address_and_answers() {
    let net = TestNet::up("l");
    let flash = temp_flash("lossy");
    let text = net.run_sim(
        &flash,
        &["--impair", "delay=20ms,jitter=10ms,loss=3%,seed=3"],
        "wifi init\nwifi connect 61test 12345678\nping 10.80.0.1 10\n",
    );
    assert!(text.contains("sta got ip 10.80.0."), "{text}");
    let summary = text
        .lines()
        .find(|l| l.starts_with("10 sent, "))
        .unwrap_or_else(|| panic!("no ping summary in:\n{text}"));
    let received: u32 = summary
        .trim_start_matches("10 sent, ")
        .trim_end_matches(" received")
        .parse()
        .unwrap();
    // 3 % loss each way: about 94 in 100 echoes make the round trip; fewer than 3 of 10
    // would take odds below one in a billion. (DHCP's four messages get through in one of
    // lwIP's rounds nine times in ten, so the 30 s DHCP wait is ample.)
    assert!(received >= 3, "{summary}");
    // Each round trip crosses the 20 ms delay twice: 40 ms or more in real time. The sim's
    // tick clock can lag real time under load, hence the margin; without the delay it is 1 ms.
    let slow = text
        .lines()
        .filter_map(|l| l.split("time=").nth(1))
        .filter_map(|t| t.trim_end_matches(" ms").parse::<u32>().ok())
        .all(|ms| ms >= 25);
    assert!(slow, "round trips too fast for a 20 ms delay:\n{text}");
    std::fs::remove_dir_all(flash.parent().unwrap()).unwrap();
}

#[test]
fn tls_verifies_the_server_and_refuses_impostors() {
    let net = TestNet::up("t");
    let flash = temp_flash("tls");
    let dir = flash.parent().unwrap().to_path_buf();
    let pki = make_pki(&dir);
    let broker = Broker::start(&net, &pki, &dir);
    let file = |name: &str| pki.join(name).display().to_string();
    let (ca, foreign_ca) = (file("ca.crt"), file("foreign-ca.crt"));
    let (cert, key) = (file("w800-demo-1.crt"), file("w800-demo-1.key"));
    let join = "wifi init\nwifi connect 61test 12345678\n";

    // The clock is 1970 until SNTP sets it: the server's certificate is not valid yet.
    let text = net.run_sim(
        &flash,
        &["--ca", &ca, "--cert", &cert, "--key", &key],
        &format!("{join}tls iot.w800.test 8883\nntp start\ntls iot.w800.test 8883\ntls ntp.w800.test 8883\n"),
    );
    let expect = [
        "error: tls: server certificate expired or not yet valid (is the clock set?)",
        "TLS to iot.w800.test:8883: server verified",
        "error: tls: server certificate does not match the host name",
    ];
    for line in expect {
        assert!(text.contains(line), "missing {line:?} in:\n{text}");
    }

    // Another root CA: the server is not trusted.
    let text = net.run_sim(
        &flash,
        &["--ca", &foreign_ca, "--cert", &cert, "--key", &key],
        &format!("{join}ntp start\ntls iot.w800.test 8883\n"),
    );
    assert!(
        text.contains("error: tls: server certificate not signed by the configured root CA"),
        "{text}"
    );

    // No client certificate: the broker refuses the handshake.
    let text = net.run_sim(
        &flash,
        &["--ca", &ca],
        &format!("{join}ntp start\ntls iot.w800.test 8883\n"),
    );
    assert!(text.contains("error: tls: TLS error"), "{text}");
    assert!(!text.contains("server verified"), "{text}");
    drop(broker);
    std::fs::remove_dir_all(dir).unwrap();
}

/// The two figures of every `free` in `text`: (heap free now, minimum ever).
fn heap_free(text: &str) -> Vec<u64> {
    text.lines()
        .filter_map(|line| line.strip_prefix("heap free "))
        .filter_map(|rest| rest.split(' ').next()?.parse().ok())
        .collect()
}

#[test]
fn failed_handshakes_leave_the_heap_as_it_was_and_connects_keep_their_wait() {
    let net = TestNet::up("lk");
    let flash = temp_flash("leak");
    let dir = flash.parent().unwrap().to_path_buf();
    let pki = make_pki(&dir);
    let broker = Broker::start(&net, &pki, &dir);
    let file = |name: &str| pki.join(name).display().to_string();
    let (ca, cert, key) = (
        file("ca.crt"),
        file("w800-demo-1.crt"),
        file("w800-demo-1.key"),
    );
    let mut sim = Session::start(net.sim(&flash, &["--ca", &ca, "--cert", &cert, "--key", &key]));
    sim.send("wifi init");
    sim.send("wifi connect 61test 12345678");
    sim.expect("sta got ip", Duration::from_secs(30));
    // The first handshake parses the credentials, which stay: the baseline is taken after it.
    sim.send("tls iot.w800.test 8883");
    sim.expect("is the clock set?", Duration::from_secs(20));
    sim.send("free");
    let before = sim.expect("heap free", Duration::from_secs(5));
    // Twenty failures of three kinds: the clock not set, a refused port, a server under
    // another root CA.
    sim.send("tls iot.w800.test 8883 7 1");
    sim.expect("0 of 7 handshakes verified", Duration::from_secs(60));
    sim.send("tls iot.w800.test 9999 7 1");
    sim.expect("0 of 7 handshakes verified", Duration::from_secs(60));
    sim.send("ntp start");
    sim.expect("local time: 20", Duration::from_secs(20));
    sim.send("tls iot.w800.test 8884 6 1");
    sim.expect("0 of 6 handshakes verified", Duration::from_secs(60));
    sim.expect(
        "not signed by the configured root CA",
        Duration::from_secs(5),
    );
    sim.send("free");
    let after = sim.expect("heap free", Duration::from_secs(5));
    assert_eq!(
        heap_free(&before)[0],
        heap_free(&after)[0],
        "free heap before and after 20 failed handshakes:\n{before}\n{after}"
    );
    // A host that never answers: the connect gives up at the handshake's wait (15 s), not
    // after lwIP's SYN retries (about 39 s).
    let start = std::time::Instant::now();
    sim.send("tls 10.80.0.254 8883");
    sim.expect("error: tls: timed out", Duration::from_secs(30));
    let took = start.elapsed();
    assert!(
        took < Duration::from_secs(25),
        "an unanswered connect took {took:?}"
    );
    drop(sim);
    drop(broker);
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn two_tasks_do_rsa_mutual_tls_handshakes_at_once() {
    let net = TestNet::up("r");
    let flash = temp_flash("rsa");
    let dir = flash.parent().unwrap().to_path_buf();
    let pki = make_pki(&dir);
    let broker = Broker::start(&net, &pki, &dir);
    let file = |name: &str| pki.join(name).display().to_string();
    // An RSA root (as Amazon Root CA 1) and an RSA device key (as AWS IoT makes them): mbedTLS
    // writes into both while it uses them.
    let (ca, cert, key) = (
        file("rsa-ca.crt"),
        file("w800-demo-1-rsa.crt"),
        file("w800-demo-1-rsa.key"),
    );
    let text = net.run_sim(
        &flash,
        &["--ca", &ca, "--cert", &cert, "--key", &key],
        "wifi init\nwifi connect 61test 12345678\nntp start\ntls iot.w800.test 8884\nfree\n\
         tls iot.w800.test 8884 12 2\nfree\ntls iot.w800.test 8884 12 2\nfree\n",
    );
    assert!(
        text.contains("TLS to iot.w800.test:8884: server verified"),
        "{text}"
    );
    assert!(
        text.contains("TLS to iot.w800.test:8884: 24 of 24 handshakes verified (2 tasks)"),
        "{text}"
    );
    assert_eq!(
        text.matches("24 of 24 handshakes verified").count(),
        2,
        "{text}"
    );
    // The first batch of concurrent handshakes leaves a one-time 256 bytes; after that, a
    // batch of 24 costs nothing.
    let free = heap_free(&text);
    assert_eq!(free.len(), 3, "{text}");
    assert!(
        free[0] - free[1] <= 256,
        "the heap after the first batch:\n{text}"
    );
    assert_eq!(free[1], free[2], "the heap after the second batch:\n{text}");
    drop(broker);
    std::fs::remove_dir_all(dir).unwrap();
}

/// The TLS cipher suites in a ClientHello record (RFC 5246 section 7.4.1.2).
fn client_hello_suites(record: &[u8]) -> Vec<u16> {
    // Record header (5), handshake header (4), version (2), random (32).
    let mut at = 5 + 4 + 2 + 32;
    at += 1 + usize::from(record[at]);
    let len = usize::from(u16::from_be_bytes([record[at], record[at + 1]]));
    record[at + 2..at + 2 + len]
        .chunks(2)
        .map(|pair| u16::from_be_bytes([pair[0], pair[1]]))
        .collect()
}

#[test]
fn the_client_hello_offers_only_tls12_ecdhe_with_aes_gcm() {
    let net = TestNet::up("h");
    let flash = temp_flash("hello");
    let dir = flash.parent().unwrap().to_path_buf();
    let pki = make_pki(&dir);
    let hello = dir.join("hello.hex");
    // A listener that records the first bytes a client sends, then hangs up.
    let listener = Command::new(workspace().join("scripts/testnet"))
        .args(["exec", "--name", &net.name, "--", "python3", "-c"])
        .arg(
            "import socket,sys\n\
             s=socket.socket();s.setsockopt(socket.SOL_SOCKET,socket.SO_REUSEADDR,1)\n\
             s.bind(('10.80.0.1',8443));s.listen(1)\n\
             c,_=s.accept();data=b''\n\
             while len(data)<5 or len(data)<5+int.from_bytes(data[3:5],'big'):\n\
             \x20chunk=c.recv(4096)\n\
             \x20if not chunk: break\n\
             \x20data+=chunk\n\
             open(sys.argv[1],'w').write(data.hex())\n",
        )
        .arg(&hello)
        .spawn()
        .expect("start the listener");
    std::thread::sleep(Duration::from_millis(500));
    let file = |name: &str| pki.join(name).display().to_string();
    net.run_sim(
        &flash,
        &["--ca", &file("ca.crt")],
        "wifi init\nwifi connect 61test 12345678\ntls 10.80.0.1 8443\n",
    );
    let output = listener.wait_with_output().expect("the listener ends");
    assert!(output.status.success());
    let text = std::fs::read_to_string(&hello).expect("the listener saw a client hello");
    let record: Vec<u8> = (0..text.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&text[i..i + 2], 16).unwrap())
        .collect();
    assert_eq!(record[0], 22, "a handshake record");
    assert_eq!(record[5], 1, "a client hello");
    let suites = client_hello_suites(&record);
    // ECDHE-ECDSA and ECDHE-RSA with AES-128/256-GCM (RFC 5289), and the renegotiation SCSV
    // (RFC 5746), which is a signal, not a suite.
    let allowed = [0xC02B, 0xC02C, 0xC02F, 0xC030, 0x00FF];
    assert!(
        suites.iter().all(|suite| allowed.contains(suite)),
        "offered {suites:04X?}"
    );
    assert!(
        suites.contains(&0xC02F) && suites.contains(&0xC02B),
        "offered {suites:04X?}"
    );
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn mqtt_over_mutual_tls_subscribes_publishes_and_survives_a_broker_restart() {
    let net = TestNet::up("m");
    let flash = temp_flash("mqtt");
    let dir = flash.parent().unwrap().to_path_buf();
    let pki = make_pki(&dir);
    let mut broker = Broker::start(&net, &pki, &dir);
    let file = |name: &str| pki.join(name).display().to_string();
    let (ca, cert, key) = (
        file("ca.crt"),
        file("w800-demo-1.crt"),
        file("w800-demo-1.key"),
    );
    let (svc_cert, svc_key) = (file("jobs-svc.crt"), file("jobs-svc.key"));
    let client = |extra: &[&str]| -> Vec<String> {
        let mut args: Vec<String> = [
            "-h",
            "iot.w800.test",
            "-p",
            "8883",
            "--cafile",
            &ca,
            "--cert",
            &svc_cert,
            "--key",
            &svc_key,
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        args.extend(extra.iter().map(|s| s.to_string()));
        args
    };
    let wait = Duration::from_secs(30);
    let mut sim = Session::start(net.sim(&flash, &["--ca", &ca, "--cert", &cert, "--key", &key]));
    sim.send("wifi init");
    sim.send("wifi connect 61test 12345678");
    sim.expect("sta got ip", wait);
    sim.send("ntp start");
    sim.expect("local time:", wait);
    sim.send("mqtt connect iot.w800.test 8883");
    sim.expect("mqtt connected to iot.w800.test:8883 as w800-demo-1", wait);
    let notify = "$aws/things/w800-demo-1/jobs/notify-next";
    sim.send(&format!("mqtt sub {notify}"));
    sim.expect(&format!("subscribed to {notify}"), wait);

    // mosquitto_pub reaches the firmware.
    let args = client(&[
        "-t",
        notify,
        "-q",
        "1",
        "-m",
        r#"{"execution":{"jobId":"j1"}}"#,
    ]);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    in_net(&net, "mosquitto_pub", &args);
    sim.expect(
        &format!("message on {notify}: {{\"execution\":{{\"jobId\":\"j1\"}}}}"),
        wait,
    );

    // mosquitto_sub sees what the firmware publishes (QoS 1, acknowledged).
    let topic = "$aws/things/w800-demo-1/jobs/start-next";
    let sub_args = client(&["-t", topic, "-C", "1", "-W", "20"]);
    let mut sub = Command::new(workspace().join("scripts/testnet"))
        .args(["exec", "--name", &net.name, "--", "mosquitto_sub"])
        .args(&sub_args)
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    // mosquitto_sub needs a moment to subscribe (longer on a loaded machine): publish until
    // it has received one message, a few times at most.
    for _ in 0..10 {
        sim.send(&format!("mqtt pub {topic} {{\"clientToken\":\"t1\"}} 1"));
        sim.expect(&format!("published to {topic}"), wait);
        std::thread::sleep(Duration::from_millis(1500));
        if sub.try_wait().unwrap().is_some() {
            break;
        }
    }
    let out = sub.wait_with_output().unwrap();
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        "{\"clientToken\":\"t1\"}"
    );

    // The broker restarts: the client reconnects, subscribes again and gets new messages.
    drop(broker);
    sim.expect("connection lost", wait);
    broker = Broker::start(&net, &pki, &dir);
    sim.expect(
        "reconnected, subscriptions restored",
        Duration::from_secs(60),
    );
    let args = client(&["-t", notify, "-q", "1", "-m", "after-restart"]);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    in_net(&net, "mosquitto_pub", &args);
    sim.expect(&format!("message on {notify}: after-restart"), wait);
    // The ACL keeps the thing out of other things' topics: the broker drops the publish.
    let other = "$aws/things/w800-demo-2/jobs/start-next";
    let sub_args = client(&["-t", other, "-C", "1", "-W", "4"]);
    let spy = Command::new(workspace().join("scripts/testnet"))
        .args(["exec", "--name", &net.name, "--", "mosquitto_sub"])
        .args(&sub_args)
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(1500));
    sim.send(&format!("mqtt pub {other} intrusion 0"));
    sim.expect(&format!("published to {other}"), wait);
    let spied = spy.wait_with_output().unwrap();
    assert!(
        String::from_utf8_lossy(&spied.stdout).trim().is_empty(),
        "ACL let a publish through"
    );
    sim.send("mqtt disconnect");
    sim.expect("disconnected", wait);
    // A new session on the same channel, and commands refused once it is gone.
    sim.send("mqtt connect iot.w800.test 8883");
    sim.expect("mqtt connected to iot.w800.test:8883", wait);
    sim.send("mqtt disconnect");
    sim.expect("disconnected", wait);
    sim.send("mqtt sub x");
    sim.expect("error: mqtt: not connected: run 'mqtt connect' first", wait);
    drop(sim);
    drop(broker);
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn a_megabyte_comes_by_range_requests_over_https_and_a_200_is_refused() {
    let net = TestNet::up("hb");
    let flash = temp_flash("http");
    let dir = flash.parent().unwrap().to_path_buf();
    let pki = make_pki(&dir);
    let www = dir.join("www");
    std::fs::create_dir_all(www.join("norange")).unwrap();
    let body: Vec<u8> = (0..1_048_576u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 24) as u8)
        .collect();
    std::fs::write(www.join("file.bin"), &body).unwrap();
    std::fs::write(www.join("norange/file.bin"), &body).unwrap();
    let conf = dir.join("nginx.conf");
    std::fs::write(
        &conf,
        format!(
            "daemon on;\npid {dir}/nginx.pid;\nerror_log {dir}/nginx.err;\nevents {{}}\n\
             http {{\n access_log off;\n client_body_temp_path {dir};\n proxy_temp_path {dir};\n\
             fastcgi_temp_path {dir};\n uwsgi_temp_path {dir};\n scgi_temp_path {dir};\n\
             server {{\n  listen 10.80.0.1:443 ssl;\n  ssl_certificate {pki}/s3.crt;\n\
             ssl_certificate_key {pki}/s3.key;\n  root {www};\n\
             location /norange/ {{ max_ranges 0; }}\n }}\n}}\n",
            dir = dir.display(),
            pki = pki.display(),
            www = www.display(),
        ),
    )
    .unwrap();
    in_net(
        &net,
        "nginx",
        &["-c", conf.to_str().unwrap(), "-p", dir.to_str().unwrap()],
    );
    let file = |name: &str| pki.join(name).display().to_string();
    let ca = file("ca.crt");
    let text = net.run_sim(
        &flash,
        &["--ca", &ca],
        "wifi init\nwifi connect 61test 12345678\nntp start\n\
         httpc get https://s3.w800.test/file.bin 65536\n\
         httpc get https://s3.w800.test/file.bin\n\
         httpc get https://s3.w800.test/norange/file.bin 4096\n",
    );
    if let Ok(pid) = std::fs::read_to_string(dir.join("nginx.pid")) {
        let _ = Command::new("kill").arg(pid.trim()).status();
    }
    let digest = {
        use sha2::Digest;
        let hash = sha2::Sha256::digest(&body);
        hash.iter().map(|b| format!("{b:02x}")).collect::<String>()
    };
    assert!(
        text.contains("got 1048576 bytes in 16 requests over 1 connections"),
        "{text}"
    );
    assert!(
        text.contains("got 1048576 bytes in 1 requests over 1 connections"),
        "{text}"
    );
    assert_eq!(
        text.matches(&format!("sha256 {digest}")).count(),
        2,
        "{text}"
    );
    assert!(
        text.contains("error: httpc: "),
        "a 200 to a Range request must fail:\n{text}"
    );
    std::fs::remove_dir_all(dir).unwrap();
}

/// A TLS server in the test network on 10.80.0.1:8443 with the broker's certificate that
/// offers `alpn` (none when empty), records the protocol it agreed on and hangs up.
fn alpn_server(net: &TestNet, pki: &Path, alpn: &str, record: &Path) -> std::process::Child {
    Command::new(workspace().join("scripts/testnet"))
        .args(["exec", "--name", &net.name, "--", "python3", "-c"])
        .arg(
            "import socket,ssl,sys\n\
             ctx=ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)\n\
             ctx.load_cert_chain(sys.argv[1]+'/iot.crt',sys.argv[1]+'/iot.key')\n\
             if sys.argv[2]: ctx.set_alpn_protocols([sys.argv[2]])\n\
             s=socket.socket();s.setsockopt(socket.SOL_SOCKET,socket.SO_REUSEADDR,1)\n\
             s.bind(('10.80.0.1',8443));s.listen(1)\n\
             c,_=s.accept()\n\
             try:\n\
             \x20t=ctx.wrap_socket(c,server_side=True)\n\
             \x20open(sys.argv[3],'w').write(str(t.selected_alpn_protocol()))\n\
             \x20t.close()\n\
             except Exception as e:\n\
             \x20open(sys.argv[3],'w').write('error '+str(e))\n",
        )
        .arg(pki)
        .arg(alpn)
        .arg(record)
        .spawn()
        .expect("start the TLS server")
}

#[test]
fn tls_for_mqtt_on_port_443_offers_the_aws_alpn_and_insists_on_it() {
    let net = TestNet::up("a");
    let flash = temp_flash("alpn");
    let dir = flash.parent().unwrap().to_path_buf();
    let pki = make_pki(&dir);
    let ca = pki.join("ca.crt").display().to_string();
    let join = "wifi init\nwifi connect 61test 12345678\nntp start\n";
    // A server that speaks AWS IoT's ALPN agrees on it; one that ignores ALPN is refused by
    // the client, which asked for it.
    let record = dir.join("alpn");
    let cases = [
        (
            "x-amzn-mqtt-ca",
            "TLS to iot.w800.test:8443: server verified, ALPN x-amzn-mqtt-ca",
            "x-amzn-mqtt-ca",
        ),
        (
            "",
            "error: tls: server did not accept the ALPN protocol",
            "None",
        ),
    ];
    for (offered, expected, agreed) in cases {
        let server = alpn_server(&net, &pki, offered, &record);
        std::thread::sleep(Duration::from_millis(500));
        let text = net.run_sim(
            &flash,
            &["--ca", &ca],
            &format!("{join}tls iot.w800.test 8443 alpn\n"),
        );
        assert!(text.contains(expected), "{text}");
        server.wait_with_output().unwrap();
        assert_eq!(std::fs::read_to_string(&record).unwrap(), agreed);
    }
    std::fs::remove_dir_all(dir).unwrap();
}
