//! Notices when the captured interface goes away, comes back under the same name, or loses our
//! programs while it stays, so that the capture can say so and attach again.
//!
//! Polled by the ring reader at most once per [`CHECK_EVERY`]: one `SIOCGIFINDEX` ioctl on a
//! socket opened in the capture's network namespace (a socket answers for the namespace it was
//! created in, whatever namespace the reading thread is in), plus one read of
//! `/proc/self/fdinfo/N` per bpf_link (the kernel shows `ifindex: 0` once a link lost its
//! device, whether the device was deleted or the link was detached by another tool). That is
//! a few microseconds per second. An interface deleted and recreated between two polls has a
//! new ifindex, which the poll notices the same way.

use std::fs::File;
use std::io;
use std::os::fd::{AsRawFd as _, FromRawFd as _, OwnedFd, RawFd};
use std::time::{Duration, Instant};

use serde::Serialize;

/// How often the interface and the links are looked at.
pub(crate) const CHECK_EVERY: Duration = Duration::from_secs(1);

/// What happened to the capture's attachment, counted since start.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct AttachmentStats {
    /// Times the interface disappeared (deleted, or replaced by another of the same name).
    pub interface_lost: u64,
    /// Times our programs were found detached while the interface stayed.
    pub programs_detached: u64,
    /// Successful attachments after a loss.
    pub reattached: u64,
    /// Attempts to attach again that failed (retried at every check).
    pub reattach_failures: u64,
    /// The ifindex attached to now (0 while not attached); not a counter, so not served.
    #[serde(skip)]
    pub ifindex: u32,
}

/// What one check found.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Change {
    /// Nothing to do.
    None,
    /// The interface is gone (`now` is None) or is another one of the same name (`now` holds
    /// its ifindex, to attach to at once).
    Lost { reason: String, now: Option<u32> },
    /// Our links lost the interface while it stayed (another tool detached them).
    Detached,
    /// An interface of that name exists again while we are not attached.
    Back(u32),
}

/// The interface to watch and what is attached to it.
pub(crate) struct Watch {
    probe: IfaceProbe,
    /// The network namespace the capture started in (to attach again from another thread).
    pub netns: Option<File>,
    /// The ifindex our programs are attached to; None while not attached.
    pub attached: Option<u32>,
    /// Our bpf_link file descriptors (TCX, XDP links), checked through fdinfo.
    pub link_fds: Vec<RawFd>,
    next_check: Instant,
    /// Why capture is not attached now (health), None when it is.
    pub problem: Option<String>,
    pub stats: AttachmentStats,
}

impl Watch {
    /// Starts watching `iface`, attached as `ifindex` with the links of programs `prog_ids`.
    pub fn new(iface: &str, ifindex: u32, prog_ids: &[u32]) -> io::Result<Watch> {
        Ok(Watch {
            probe: IfaceProbe::new(iface)?,
            netns: File::open("/proc/thread-self/ns/net").ok(),
            attached: Some(ifindex),
            link_fds: link_fds_of(prog_ids),
            next_check: Instant::now() + CHECK_EVERY,
            problem: None,
            stats: AttachmentStats { ifindex, ..AttachmentStats::default() },
        })
    }

    /// The interface's index now, in the capture's namespace.
    pub fn index_now(&self) -> Option<u32> {
        self.probe.index()
    }

    /// Looks at the interface and the links when a check is due.
    pub fn check(&mut self, now: Instant) -> Change {
        if now < self.next_check {
            return Change::None;
        }
        self.next_check = now + CHECK_EVERY;
        let name = &self.probe.name;
        match (self.attached, self.probe.index()) {
            (None, Some(idx)) => Change::Back(idx),
            (None, None) => Change::None,
            (Some(_), None) => {
                Change::Lost { reason: format!("interface {name} was deleted"), now: None }
            }
            (Some(old), Some(idx)) if idx != old => Change::Lost {
                reason: format!(
                    "interface {name} was deleted and recreated (ifindex {old} → {idx})"
                ),
                now: Some(idx),
            },
            (Some(idx), Some(_)) => {
                if self.link_fds.iter().any(|&fd| link_ifindex(fd).is_some_and(|i| i != idx)) {
                    Change::Detached
                } else {
                    Change::None
                }
            }
        }
    }
}

/// Resolves one interface name with `SIOCGIFINDEX` on a socket of the namespace it was made in.
struct IfaceProbe {
    sock: OwnedFd,
    name: String,
    req_name: [libc::c_char; libc::IFNAMSIZ],
}

impl IfaceProbe {
    fn new(name: &str) -> io::Result<IfaceProbe> {
        if name.len() >= libc::IFNAMSIZ {
            return Err(io::Error::new(io::ErrorKind::InvalidInput, "interface name too long"));
        }
        let mut req_name = [0 as libc::c_char; libc::IFNAMSIZ];
        for (d, s) in req_name.iter_mut().zip(name.bytes()) {
            *d = s as libc::c_char;
        }
        // SAFETY: plain syscall; the result is checked before use.
        let fd = unsafe { libc::socket(libc::AF_UNIX, libc::SOCK_DGRAM | libc::SOCK_CLOEXEC, 0) };
        if fd < 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: fd is a fresh descriptor we own.
        let sock = unsafe { OwnedFd::from_raw_fd(fd) };
        Ok(IfaceProbe { sock, name: name.to_owned(), req_name })
    }

    fn index(&self) -> Option<u32> {
        // SAFETY: ifreq is plain data; all-zero is a valid value.
        let mut req: libc::ifreq = unsafe { std::mem::zeroed() };
        req.ifr_name = self.req_name;
        // SAFETY: SIOCGIFINDEX reads ifr_name and writes ifr_ifindex of a valid ifreq. (The
        // request's type is c_ulong on glibc, c_int on musl: `as _` builds for both.)
        let rc = unsafe { libc::ioctl(self.sock.as_raw_fd(), libc::SIOCGIFINDEX as _, &mut req) };
        // SAFETY: the kernel filled the ifindex member on success.
        let idx = unsafe { req.ifr_ifru.ifru_ifindex };
        (rc == 0 && idx > 0).then_some(idx as u32)
    }
}

/// The file descriptors of this process's bpf_links to any of `prog_ids` (aya keeps them
/// private; fdinfo names the program each link holds).
pub(crate) fn link_fds_of(prog_ids: &[u32]) -> Vec<RawFd> {
    let Ok(dir) = std::fs::read_dir("/proc/self/fdinfo") else {
        return Vec::new();
    };
    let mut fds: Vec<RawFd> = dir
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse().ok())
        .filter(|&fd| {
            let info = fdinfo(fd);
            field(&info, "link_id").is_some()
                && field(&info, "prog_id").is_some_and(|id| prog_ids.contains(&id))
        })
        .collect();
    fds.sort_unstable();
    fds
}

/// The ifindex a bpf_link is attached to (0 once it lost its device); None when the fd is not
/// a link with an ifindex (netlink attachments, older kernels).
fn link_ifindex(fd: RawFd) -> Option<u32> {
    let info = fdinfo(fd);
    field(&info, "link_id")?;
    field(&info, "ifindex")
}

fn fdinfo(fd: RawFd) -> String {
    std::fs::read_to_string(format!("/proc/self/fdinfo/{fd}")).unwrap_or_default()
}

/// A numeric `key:\tvalue` line of fdinfo.
fn field(info: &str, key: &str) -> Option<u32> {
    info.lines().find_map(|l| {
        let (k, v) = l.split_once(':')?;
        (k.trim() == key).then(|| v.split_whitespace().next()?.parse().ok()).flatten()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fdinfo_fields() {
        let info = "pos:\t0\nflags:\t02000002\nlink_type:\ttcx\nlink_id:\t7\nprog_tag:\tab\n\
                    prog_id:\t42\nifindex:\t0\nattach_type:\t46 (tcx_ingress)\n";
        assert_eq!(field(info, "link_id"), Some(7));
        assert_eq!(field(info, "prog_id"), Some(42));
        assert_eq!(field(info, "ifindex"), Some(0));
        assert_eq!(field(info, "attach_type"), Some(46));
        assert_eq!(field(info, "missing"), None);
    }

    #[test]
    fn loopback_resolves_and_a_missing_name_does_not() {
        let lo = IfaceProbe::new("lo").expect("socket");
        assert!(lo.index().is_some());
        let none = IfaceProbe::new("zkt-none0").expect("socket");
        assert_eq!(none.index(), None);
        assert!(IfaceProbe::new("a-name-far-too-long").is_err());
    }
}
