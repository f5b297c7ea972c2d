//! Protected HTTP (issue 14): the daemon binary replaying a capture, asked over real HTTP and
//! HTTPS connections.
//!
//! - `--http-token-file`: no token, a wrong one, another scheme → 401 with `WWW-Authenticate`;
//!   the right one → 200 on every route; `/healthz` exempt only with
//!   `--http-token-exempt-healthz`; refusals counted; SIGHUP reads a new token (and an empty
//!   file leaves the last good one in force); `--no-auths-dump` turns that endpoint off.
//! - `--tls-cert/--tls-key`: a client trusting our CA gets its answer; one trusting another CA,
//!   and one shown an expired certificate, refuse the handshake; SIGHUP swaps in a renewed
//!   certificate; plain HTTP to the TLS port gets no answer (counted); a key that is not the
//!   certificate's stops the daemon at start with both file names.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::Duration;

use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, IsCa, KeyPair};
use zktraffic_tests::agent::binary;
use zktraffic_tests::zookeeper::TempDir;

/// The daemon process, killed when the test ends.
struct Daemon {
    child: Child,
    addr: SocketAddr,
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Daemon {
    fn hangup(&self) {
        // SAFETY: kill(2) on our own child.
        assert_eq!(unsafe { libc::kill(self.child.id() as i32, libc::SIGHUP) }, 0);
        // The reload is logged; give the signal task a moment (the assertions after retry).
        std::thread::sleep(Duration::from_millis(300));
    }
}

/// A small capture to replay.
fn capture(dir: &TempDir) -> PathBuf {
    let pcap = dir.join("protected.pcap");
    let w = zktraffic::synth::Workload {
        connections: 2,
        requests_per_connection: 20,
        ..Default::default()
    };
    zktraffic::synth::write_workload(std::fs::File::create(&pcap).expect("pcap"), &w)
        .expect("synthetic capture");
    pcap
}

/// `zktraffic serve --pcap PCAP --http-addr 127.0.0.1:0 ARGS…`, once it says where it serves.
fn start(pcap: &Path, args: &[&str]) -> Daemon {
    let mut child = Command::new(binary())
        .args(["serve", "--pcap", pcap.to_str().expect("utf-8"), "--http-addr", "127.0.0.1:0"])
        .args(args)
        .stdin(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start the daemon");
    let mut lines = BufReader::new(child.stderr.take().expect("stderr")).lines();
    let addr = loop {
        let line = lines.next().expect("the daemon exited before serving").expect("stderr");
        if let Some(rest) =
            line.split("serving on https://").nth(1).or(line.split("serving on http://").nth(1))
        {
            break rest.trim_end_matches('/').parse().expect("address");
        }
    };
    // Keep reading so the daemon never blocks on a full pipe.
    std::thread::spawn(move || lines.for_each(drop));
    Daemon { child, addr }
}

/// Waits until `/healthz` says the daemon is ready (503 `starting` until its source is read).
fn ready(d: &Daemon, token: Option<&str>) {
    let start = std::time::Instant::now();
    while http(d, "/healthz", token).0 != 200 {
        assert!(start.elapsed() < Duration::from_secs(30), "the daemon never became ready");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// One request on `stream` → (status, the whole response).
fn request(mut stream: impl Read + Write, path: &str, token: Option<&str>) -> (u16, String) {
    let auth = token.map(|t| format!("Authorization: {t}\r\n")).unwrap_or_default();
    let head = format!("GET {path} HTTP/1.1\r\nHost: localhost\r\n{auth}Connection: close\r\n\r\n");
    stream.write_all(head.as_bytes()).expect("request");
    let mut out = Vec::new();
    let _ = stream.read_to_end(&mut out);
    let text = String::from_utf8_lossy(&out).into_owned();
    let status = text.split(' ').nth(1).and_then(|s| s.parse().ok()).unwrap_or(0);
    (status, text)
}

fn http(d: &Daemon, path: &str, token: Option<&str>) -> (u16, String) {
    request(TcpStream::connect(d.addr).expect("connect"), path, token)
}

#[test]
fn a_token_is_required_checked_and_reloaded() {
    let dir = TempDir::new("token");
    let pcap = capture(&dir);
    let token = dir.join("token");
    std::fs::write(&token, "first-token\n").expect("token file");
    let t = token.to_str().expect("utf-8");
    let d = start(&pcap, &["--http-token-file", t, "--no-auths-dump"]);
    let right = Some("Bearer first-token");
    ready(&d, right);
    for path in ["/", "/json/paths", "/json/info", "/metrics", "/healthz", "/no/such/page"] {
        for wrong in [
            None,
            Some("Bearer first-toke"),
            Some("Bearer first-token2"),
            Some("Basic first-token"),
        ] {
            let (status, text) = http(&d, path, wrong);
            assert_eq!(status, 401, "{path} with {wrong:?}: {text}");
            assert!(text.to_ascii_lowercase().contains("www-authenticate: bearer"), "{text}");
        }
    }
    for path in ["/", "/json/paths", "/metrics", "/healthz"] {
        assert_eq!(http(&d, path, right).0, 200, "{path}");
    }
    assert_eq!(http(&d, "/no/such/page", right).0, 404);
    let (status, text) = http(&d, "/json/auths-dump", right);
    assert!(status == 404 && text.contains("--no-auths-dump"), "{text}");
    let (_, info) = http(&d, "/json/info", right);
    assert!(info.contains("\"unauthorized\":24"), "six paths × four refusals: {info}");

    std::fs::write(&token, "second-token").expect("token file");
    d.hangup();
    assert_eq!(http(&d, "/json/paths", right).0, 401, "the old token is out");
    assert_eq!(http(&d, "/json/paths", Some("Bearer second-token")).0, 200);
    std::fs::write(&token, "  \n").expect("token file");
    d.hangup();
    assert_eq!(http(&d, "/json/paths", Some("Bearer second-token")).0, 200, "kept");

    std::fs::write(&token, "third-token").expect("token file");
    let open = start(&pcap, &["--http-token-file", t, "--http-token-exempt-healthz"]);
    ready(&open, None); // probes need no token
    assert_eq!(http(&open, "/json/info", None).0, 401);
    assert_eq!(http(&open, "/json/auths-dump", Some("Bearer   ")).0, 401);
    assert_eq!(http(&open, "/json/auths-dump", Some("Bearer third-token")).0, 200);

    // An empty token file is refused at start, naming it.
    std::fs::write(&token, "\n").expect("token file");
    let out = Command::new(binary())
        .args(["serve", "--pcap", pcap.to_str().expect("utf-8"), "--http-token-file", t])
        .output()
        .expect("run");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success() && err.contains("is empty") && err.contains(t), "{err}");
}

/// A CA, and certificates for 127.0.0.1 it signs.
struct Pki {
    ca: CertifiedIssuer<'static, KeyPair>,
}

impl Pki {
    fn new(name: &str) -> Pki {
        let mut params = CertificateParams::new(Vec::<String>::new()).expect("params");
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.distinguished_name.push(rcgen::DnType::CommonName, name);
        let ca =
            CertifiedIssuer::self_signed(params, KeyPair::generate().expect("key")).expect("CA");
        Pki { ca }
    }

    /// Writes a certificate for 127.0.0.1 (expired when `expired`) and its key to `dir`.
    fn issue(&self, dir: &TempDir, name: &str, expired: bool) -> (PathBuf, PathBuf) {
        let mut params =
            CertificateParams::new(vec!["127.0.0.1".to_owned(), "localhost".to_owned()])
                .expect("params");
        if expired {
            params.not_before = rcgen::date_time_ymd(2020, 1, 1);
            params.not_after = rcgen::date_time_ymd(2020, 2, 1);
        }
        let key = KeyPair::generate().expect("key");
        let cert = params.signed_by(&key, &self.ca).expect("certificate");
        let (c, k) = (dir.join(&format!("{name}.crt")), dir.join(&format!("{name}.key")));
        std::fs::write(&c, cert.pem()).expect("cert");
        std::fs::write(&k, key.serialize_pem()).expect("key");
        (c, k)
    }

    /// A client trusting this CA only.
    fn client(&self) -> Arc<rustls::ClientConfig> {
        let mut roots = rustls::RootCertStore::empty();
        roots.add(self.ca.der().clone()).expect("root");
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let config = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .expect("versions")
            .with_root_certificates(roots)
            .with_no_client_auth();
        Arc::new(config)
    }
}

/// GET over TLS → the status, or the handshake's error.
fn https(d: &Daemon, client: &Arc<rustls::ClientConfig>, path: &str) -> Result<u16, String> {
    let name = rustls_pki_types::ServerName::try_from("127.0.0.1").expect("name");
    let mut conn = rustls::ClientConnection::new(client.clone(), name).expect("client");
    let mut sock = TcpStream::connect(d.addr).expect("connect");
    while conn.is_handshaking() {
        conn.complete_io(&mut sock).map_err(|e| e.to_string())?;
    }
    Ok(request(rustls::StreamOwned::new(conn, sock), path, None).0)
}

#[test]
fn https_serves_our_certificate_and_renews_it_on_sighup() {
    let dir = TempDir::new("tls");
    let pcap = capture(&dir);
    let (ours, theirs) = (Pki::new("zktraffic test CA"), Pki::new("someone else"));
    let (cert, key) = ours.issue(&dir, "server", true);
    let files = [cert.to_str().expect("utf-8"), key.to_str().expect("utf-8")];
    let d = start(&pcap, &["--tls-cert", files[0], "--tls-key", files[1]]);
    let expired = https(&d, &ours.client(), "/healthz").expect_err("an expired certificate");
    assert!(expired.to_lowercase().contains("expired"), "{expired}");

    let (fresh, fresh_key) = ours.issue(&dir, "fresh", false);
    std::fs::copy(&fresh, &cert).expect("renew");
    std::fs::copy(&fresh_key, &key).expect("renew");
    d.hangup();
    assert_eq!(https(&d, &ours.client(), "/json/paths"), Ok(200));
    assert_eq!(https(&d, &ours.client(), "/metrics"), Ok(200));
    let foreign = https(&d, &theirs.client(), "/healthz").expect_err("another CA");
    assert!(foreign.contains("UnknownIssuer"), "{foreign}");

    // Plain HTTP on the TLS port: no HTTP answer, the failed handshake counted.
    let (status, _) = http(&d, "/json/info", None);
    assert_eq!(status, 0, "plain HTTP must not be answered over TLS");
    let mut info = String::new();
    let name = rustls_pki_types::ServerName::try_from("127.0.0.1").expect("name");
    let conn = rustls::ClientConnection::new(ours.client(), name).expect("client");
    let mut tls = rustls::StreamOwned::new(conn, TcpStream::connect(d.addr).expect("connect"));
    tls.write_all(b"GET /json/info HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .expect("request");
    let _ = tls.read_to_string(&mut info);
    assert!(info.contains("\"tls_handshake_failures\":"), "{info}");
    assert!(!info.contains("\"tls_handshake_failures\":0"), "two failed handshakes: {info}");

    // A broken pair on SIGHUP: logged, the renewed one stays.
    std::fs::write(&key, "not a key").expect("break the key");
    d.hangup();
    assert_eq!(https(&d, &ours.client(), "/healthz"), Ok(200));

    // At start, a key that is not the certificate's: a clear error naming both files.
    let (_, other_key) = ours.issue(&dir, "other", false);
    let out = Command::new(binary())
        .args(["serve", "--pcap", pcap.to_str().expect("utf-8"), "--http-addr", "127.0.0.1:0"])
        .args(["--tls-cert", fresh.to_str().expect("utf-8")])
        .args(["--tls-key", other_key.to_str().expect("utf-8")])
        .output()
        .expect("run");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{err}");
    assert!(err.contains("fresh.crt") && err.contains("other.key"), "{err}");
}
