//! Least privilege: once the source is open (the kernel programs loaded and attached, or the
//! capture file opened), the process gives up what it no longer needs, before any other thread
//! starts (capability sets are per thread; threads created later inherit the reduced ones).
//!
//! - every capability outside the kept set leaves the effective, permitted, inheritable,
//!   ambient and (when the process may change it) bounding sets;
//! - `no_new_privs` is set, so no `exec` can gain privileges again;
//! - with `--user`, the process switches to that uid/gid (and its groups) keeping only the
//!   kept capabilities.
//!
//! Reading the ring buffer and the kernel counters and serving HTTP need no capability: the
//! ring is mapped and the maps' descriptors are open. Nor does attaching again when the
//! interface is deleted and recreated, on kernels that attach through BPF links (TCX from 6.6,
//! XDP links from 5.9: holding the program's descriptor is the permission). Older kernels
//! attach through netlink and check every `bpf()` call against `CAP_BPF`:
//! `--keep-caps reattach` keeps `CAP_BPF` and `CAP_NET_ADMIN` for them.

use std::collections::BTreeSet;
use std::str::FromStr;

use caps::{CapSet, Capability, CapsHashSet};
use serde::Serialize;

/// Which capabilities survive start-up (`--keep-caps`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum KeepCaps {
    /// None (enough on kernels with TCX and XDP links).
    None,
    /// `CAP_BPF` and `CAP_NET_ADMIN`: what attaching again to a recreated interface needs on
    /// kernels before 6.6 (netlink attachments).
    Reattach,
}

/// A user to run as: `NAME`, `UID`, `NAME:GROUP` or `UID:GID`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UserSpec {
    /// The user as given.
    pub user: String,
    /// The group as given (none: the user's primary group).
    pub group: Option<String>,
}

impl FromStr for UserSpec {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        let (user, group) = match s.split_once(':') {
            Some((u, g)) => (u, Some(g)),
            None => (s, None),
        };
        if user.is_empty() || group.is_some_and(str::is_empty) {
            return Err(format!("{s:?}: expected NAME, UID, NAME:GROUP or UID:GID"));
        }
        Ok(UserSpec { user: user.to_owned(), group: group.map(str::to_owned) })
    }
}

/// What to give up after start-up.
#[derive(Clone, Debug)]
pub struct Plan {
    /// Capabilities kept (effective and permitted).
    pub keep: Vec<Capability>,
    /// Switch to this user.
    pub user: Option<UserSpec>,
}

impl Plan {
    /// The plan for a source: live capture keeps what `keep` says, a capture file nothing; `bind_port` below 1024 keeps
    /// `CAP_NET_BIND_SERVICE` (0 is any free port), since the HTTP listener is bound after the
    /// drop.
    pub fn new(live: bool, keep: KeepCaps, user: Option<UserSpec>, bind_port: Option<u16>) -> Plan {
        let mut caps = Vec::new();
        if live && keep == KeepCaps::Reattach {
            caps.extend([Capability::CAP_BPF, Capability::CAP_NET_ADMIN]);
        }
        if bind_port.is_some_and(|p| p != 0 && p < 1024) {
            caps.push(Capability::CAP_NET_BIND_SERVICE);
        }
        Plan { keep: caps, user }
    }
}

/// Why privileges could not be dropped as asked.
#[derive(Debug, thiserror::Error)]
pub enum PrivilegeError {
    /// `--user` names nobody known.
    #[error("--user {0}: no such user (give a UID, or UID:GID where /etc/passwd is absent)")]
    NoSuchUser(String),
    /// `--user` names no known group.
    #[error("--user …:{0}: no such group (give a numeric GID)")]
    NoSuchGroup(String),
    /// A system call failed.
    #[error("{what} failed: {source} (switching users needs root or CAP_SETUID/CAP_SETGID)")]
    Sys {
        /// What was being done.
        what: &'static str,
        /// The error.
        source: std::io::Error,
    },
    /// The capability sets could not be changed.
    #[error("cannot change the capability sets ({what}): {source}")]
    Caps {
        /// What was being done.
        what: &'static str,
        /// The error.
        source: caps::errors::CapsError,
    },
}

fn sys(what: &'static str, rc: libc::c_int) -> Result<(), PrivilegeError> {
    if rc == 0 {
        Ok(())
    } else {
        Err(PrivilegeError::Sys { what, source: std::io::Error::last_os_error() })
    }
}

fn caps_err(what: &'static str) -> impl FnOnce(caps::errors::CapsError) -> PrivilegeError {
    move |source| PrivilegeError::Caps { what, source }
}

/// Gives up everything `plan` does not keep, on the calling thread (call it before starting
/// other threads); returns what the process holds afterwards.
pub fn drop_privileges(plan: &Plan) -> Result<Held, PrivilegeError> {
    let keep: CapsHashSet = plan.keep.iter().copied().collect();
    let permitted = caps::read(None, CapSet::Permitted).map_err(caps_err("reading"))?;
    // Only what the process has can be kept.
    let keep: CapsHashSet = keep.intersection(&permitted).copied().collect();
    let ids = plan.user.as_ref().map(resolve).transpose()?;
    // The bounding set first: lowering it needs CAP_SETPCAP, given up below.
    if permitted.contains(&Capability::CAP_SETPCAP) {
        for cap in caps::all().difference(&keep) {
            // A capability the kernel does not know is not in the bounding set.
            if caps::has_cap(None, CapSet::Bounding, *cap).unwrap_or(false) {
                caps::drop(None, CapSet::Bounding, *cap).map_err(caps_err("bounding set"))?;
            }
        }
    }
    caps::clear(None, CapSet::Ambient).map_err(caps_err("ambient set"))?;
    caps::clear(None, CapSet::Inheritable).map_err(caps_err("inheritable set"))?;
    if let Some((uid, gid)) = ids {
        // SAFETY: plain prctl/setgroups/setgid/setuid calls with valid arguments; glibc and
        // musl apply the id changes to every thread.
        unsafe {
            // Keep the permitted set across the uid change (the effective set is emptied).
            sys("prctl(PR_SET_KEEPCAPS)", libc::prctl(libc::PR_SET_KEEPCAPS, 1, 0, 0, 0))?;
            sys("setgroups", libc::setgroups(1, &gid))?;
            sys("setgid", libc::setgid(gid))?;
            sys("setuid", libc::setuid(uid))?;
            // The uid change made the process non-dumpable, which hands /proc/self/* to
            // root: live capture reads its own links' fdinfo there.
            sys("prctl(PR_SET_DUMPABLE)", libc::prctl(libc::PR_SET_DUMPABLE, 1, 0, 0, 0))?;
        }
    }
    caps::set(None, CapSet::Effective, &keep).map_err(caps_err("effective set"))?;
    caps::set(None, CapSet::Permitted, &keep).map_err(caps_err("permitted set"))?;
    // SAFETY: prctl with constant arguments.
    sys("prctl(PR_SET_NO_NEW_PRIVS)", unsafe {
        libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0)
    })?;
    Ok(Held::now())
}

/// `--user`'s uid and gid.
fn resolve(spec: &UserSpec) -> Result<(libc::uid_t, libc::gid_t), PrivilegeError> {
    let (uid, primary) = match spec.user.parse::<libc::uid_t>() {
        Ok(uid) => (uid, passwd_by_uid(uid).map(|p| p.1)),
        Err(_) => {
            let (uid, gid) = passwd_by_name(&spec.user)
                .ok_or_else(|| PrivilegeError::NoSuchUser(spec.user.clone()))?;
            (uid, Some(gid))
        }
    };
    let gid = match &spec.group {
        Some(g) => match g.parse::<libc::gid_t>() {
            Ok(gid) => gid,
            Err(_) => group_by_name(g).ok_or_else(|| PrivilegeError::NoSuchGroup(g.clone()))?,
        },
        // A bare UID unknown to /etc/passwd (a scratch image): its gid is the uid.
        None => primary.unwrap_or(uid),
    };
    Ok((uid, gid))
}

fn passwd_by_name(name: &str) -> Option<(libc::uid_t, libc::gid_t)> {
    let name = std::ffi::CString::new(name).ok()?;
    // SAFETY: getpwnam returns a pointer to static storage or null; read before any other call.
    let p = unsafe { libc::getpwnam(name.as_ptr()) };
    // SAFETY: non-null, points to a valid passwd.
    (!p.is_null()).then(|| unsafe { ((*p).pw_uid, (*p).pw_gid) })
}

fn passwd_by_uid(uid: libc::uid_t) -> Option<(libc::uid_t, libc::gid_t)> {
    // SAFETY: as passwd_by_name.
    let p = unsafe { libc::getpwuid(uid) };
    // SAFETY: non-null, points to a valid passwd.
    (!p.is_null()).then(|| unsafe { ((*p).pw_uid, (*p).pw_gid) })
}

fn group_by_name(name: &str) -> Option<libc::gid_t> {
    let name = std::ffi::CString::new(name).ok()?;
    // SAFETY: as passwd_by_name.
    let g = unsafe { libc::getgrnam(name.as_ptr()) };
    // SAFETY: non-null, points to a valid group.
    (!g.is_null()).then(|| unsafe { (*g).gr_gid })
}

/// What the process holds (`/json/info`'s `privileges`), read when asked.
#[derive(Clone, Debug, Default, Serialize)]
pub struct Held {
    /// Real user id.
    pub uid: u32,
    /// Real group id.
    pub gid: u32,
    /// `no_new_privs` is set.
    pub no_new_privs: bool,
    /// Effective capabilities (`CAP_*` names).
    pub effective: BTreeSet<String>,
    /// Permitted capabilities.
    pub permitted: BTreeSet<String>,
    /// The bounding set, when it is not every capability.
    pub bounding: BTreeSet<String>,
}

impl Held {
    /// The calling thread's ids, `no_new_privs` and capability sets.
    pub fn now() -> Held {
        let names = |set| -> BTreeSet<String> {
            caps::read(None, set).unwrap_or_default().iter().map(ToString::to_string).collect()
        };
        // SAFETY: getuid/getgid/prctl(PR_GET_NO_NEW_PRIVS) cannot fail.
        let (uid, gid, nnp) = unsafe {
            (libc::getuid(), libc::getgid(), libc::prctl(libc::PR_GET_NO_NEW_PRIVS, 0, 0, 0, 0))
        };
        Held {
            uid,
            gid,
            no_new_privs: nnp == 1,
            effective: names(CapSet::Effective),
            permitted: names(CapSet::Permitted),
            bounding: names(CapSet::Bounding),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn user_specs() {
        let u: UserSpec = "65534:65534".parse().unwrap();
        assert_eq!((u.user.as_str(), u.group.as_deref()), ("65534", Some("65534")));
        let u: UserSpec = "nobody".parse().unwrap();
        assert_eq!((u.user.as_str(), u.group), ("nobody", None));
        assert!("".parse::<UserSpec>().is_err() && "a:".parse::<UserSpec>().is_err());
        assert!(":1".parse::<UserSpec>().is_err());
    }

    #[test]
    fn plans_keep_what_their_source_needs() {
        let live = Plan::new(true, KeepCaps::Reattach, None, Some(7070));
        assert_eq!(live.keep, [Capability::CAP_BPF, Capability::CAP_NET_ADMIN]);
        assert!(Plan::new(true, KeepCaps::None, None, Some(7070)).keep.is_empty());
        assert!(Plan::new(false, KeepCaps::Reattach, None, None).keep.is_empty());
        let low = Plan::new(false, KeepCaps::None, None, Some(80));
        assert_eq!(low.keep, [Capability::CAP_NET_BIND_SERVICE]);
    }

    #[test]
    fn numeric_users_need_no_passwd_entry() {
        let spec = UserSpec { user: "4000000".into(), group: None };
        assert_eq!(resolve(&spec).unwrap(), (4_000_000, 4_000_000));
        let spec = UserSpec { user: "no-such-user-zktraffic".into(), group: None };
        assert!(matches!(resolve(&spec), Err(PrivilegeError::NoSuchUser(_))));
    }
}
