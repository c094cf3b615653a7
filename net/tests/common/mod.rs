//! What the integration tests share: scratch directories, server processes on loopback that
//! are killed when dropped (also when a test fails), and a `Transport` over `std::net`.

use std::{
    fs::{self, File},
    io::{self, Read, Write},
    net::{Ipv4Addr, TcpListener, TcpStream},
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    thread,
    time::{Duration, Instant, SystemTime, UNIX_EPOCH},
};

use net::io::{IoError, Transport};

/// How long a server may take to start listening.
const START_TIMEOUT: Duration = Duration::from_secs(5);

/// A directory under the system's temporary directory, removed with its contents on drop.
pub struct TempDir(PathBuf);

impl TempDir {
    pub fn new(name: &str) -> Self {
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .subsec_nanos();
        let path =
            std::env::temp_dir().join(format!("net-test-{name}-{}-{nanos}", std::process::id()));
        fs::create_dir_all(&path).unwrap();
        Self(path)
    }

    pub fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.0);
    }
}

/// A loopback port nobody listens on right now.
pub fn free_port() -> u16 {
    TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A server process, killed and reaped on drop.
pub struct Server {
    child: Child,
    log: PathBuf,
}

impl Server {
    /// Spawns `command` with its output in `log` and waits until it accepts connections on
    /// loopback `port`.
    pub fn start(mut command: Command, port: u16, log: &Path) -> Self {
        let output = File::create(log).unwrap();
        command
            .stdin(Stdio::null())
            .stdout(output.try_clone().unwrap())
            .stderr(output);
        let mut server = Self {
            child: command
                .spawn()
                .unwrap_or_else(|error| panic!("cannot start {command:?}: {error}")),
            log: log.to_owned(),
        };
        let deadline = Instant::now() + START_TIMEOUT;
        while TcpStream::connect((Ipv4Addr::LOCALHOST, port)).is_err() {
            if let Some(status) = server.child.try_wait().unwrap() {
                panic!("{command:?} exited with {status}:\n{}", server.log());
            }
            assert!(
                Instant::now() < deadline,
                "{command:?} not listening on {port}:\n{}",
                server.log()
            );
            thread::sleep(Duration::from_millis(20));
        }
        server
    }

    /// What the server printed so far.
    pub fn log(&self) -> String {
        fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A `Transport` over a `std::net::TcpStream`.
pub struct TcpTransport(TcpStream);

impl TcpTransport {
    pub fn connect(port: u16) -> Result<Self, IoError> {
        let stream = TcpStream::connect((Ipv4Addr::LOCALHOST, port)).map_err(io_error)?;
        stream.set_nodelay(true).map_err(io_error)?;
        stream
            .set_write_timeout(Some(Duration::from_secs(5)))
            .map_err(io_error)?;
        Ok(Self(stream))
    }
}

impl Transport for TcpTransport {
    fn write_all(&mut self, data: &[u8]) -> Result<(), IoError> {
        self.0.write_all(data).map_err(io_error)
    }

    fn read(&mut self, buf: &mut [u8], timeout_ms: u32) -> Result<usize, IoError> {
        // std refuses a zero timeout; the shortest wait it takes is what "no wait" means here.
        let timeout = Duration::from_millis(u64::from(timeout_ms.max(1)));
        self.0.set_read_timeout(Some(timeout)).map_err(io_error)?;
        self.0.read(buf).map_err(io_error)
    }
}

fn io_error(error: io::Error) -> IoError {
    match error.kind() {
        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut => IoError::Timeout,
        io::ErrorKind::ConnectionReset => IoError::Reset,
        io::ErrorKind::ConnectionRefused => IoError::Connect,
        io::ErrorKind::BrokenPipe
        | io::ErrorKind::ConnectionAborted
        | io::ErrorKind::UnexpectedEof => IoError::Closed,
        _ => IoError::Other("socket error"),
    }
}
