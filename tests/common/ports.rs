//! Loopback ports for tests, always the ones the OS hands out: a fixed
//! number may be taken on the machine running the tests (another lab, a
//! parallel test). The lab's own ports come from `scripts/lab env`.

use std::net::TcpListener;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};

/// A port on 127.0.0.1 that was free a moment ago, for a server the test
/// starts in another process (a second lab's sshd or moto).
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free loopback port")
        .port()
}

/// A port on 127.0.0.1 that refuses connections for as long as this value
/// lives: bound but never listening, so nothing else can take it and a
/// connection gets "Connection refused" at once.
pub struct ClosedPort {
    /// Held, never read: closing it would free the port.
    _socket: OwnedFd,
    pub port: u16,
}

impl ClosedPort {
    pub fn new() -> Self {
        // SAFETY: socket(2) returns a new descriptor (or -1, checked), which
        // the OwnedFd then owns and closes.
        let socket = unsafe {
            let fd = libc::socket(libc::AF_INET, libc::SOCK_STREAM | libc::SOCK_CLOEXEC, 0);
            assert!(fd >= 0, "socket: {}", std::io::Error::last_os_error());
            OwnedFd::from_raw_fd(fd)
        };
        let mut addr = libc::sockaddr_in {
            sin_family: libc::AF_INET as libc::sa_family_t,
            sin_port: 0,
            sin_addr: libc::in_addr {
                s_addr: u32::from(std::net::Ipv4Addr::LOCALHOST).to_be(),
            },
            sin_zero: [0; 8],
        };
        let mut len = std::mem::size_of::<libc::sockaddr_in>() as libc::socklen_t;
        // SAFETY: `addr` is a sockaddr_in of `len` bytes that outlives both
        // calls; the descriptor is open.
        unsafe {
            let raw = (&raw mut addr).cast::<libc::sockaddr>();
            assert_eq!(
                libc::bind(socket.as_raw_fd(), raw, len),
                0,
                "bind 127.0.0.1:0: {}",
                std::io::Error::last_os_error()
            );
            assert_eq!(
                libc::getsockname(socket.as_raw_fd(), raw, &mut len),
                0,
                "getsockname: {}",
                std::io::Error::last_os_error()
            );
        }
        Self {
            _socket: socket,
            port: u16::from_be(addr.sin_port),
        }
    }
}

/// A port on 127.0.0.1 that refuses connections while the test binary runs:
/// one [`ClosedPort`] shared by its tests, for a host "where nothing runs".
pub fn refused_port() -> u16 {
    static PORT: std::sync::OnceLock<ClosedPort> = std::sync::OnceLock::new();
    PORT.get_or_init(ClosedPort::new).port
}
