//! What other tools do to an interface, with raw syscalls (no bpftool or XDP loader here):
//!
//! - [`attach_xdp`]: another tool's XDP program, as the stale-program cleanup must never remove
//!   it: a two-instruction `XDP_PASS` program with an empty name, loaded with `BPF_PROG_LOAD`
//!   and attached through netlink (`IFLA_XDP`, generic mode) the way iproute2 does, so that it
//!   outlives its file descriptor like a program left by `ip link set dev X xdp obj …`;
//! - [`detach_link`]: `bpftool link detach id N` on one of our links.

use std::io;

const BPF_PROG_LOAD: libc::c_long = 5;
const BPF_LINK_GET_FD_BY_ID: libc::c_long = 30;
const BPF_LINK_DETACH: libc::c_long = 34;
const BPF_PROG_TYPE_XDP: u32 = 6;
const RTM_SETLINK: u16 = 19;
const IFLA_XDP: u16 = 43;
const IFLA_XDP_FD: u16 = 1;
const IFLA_XDP_FLAGS: u16 = 3;
const XDP_FLAGS_SKB_MODE: u32 = 2;
const NLA_F_NESTED: u16 = 0x8000;

/// Loads the program and attaches it to `iface` (of the calling thread's namespace) in generic
/// mode. The attachment holds the program; the fd is closed on return.
pub fn attach_xdp(iface: &str) -> io::Result<()> {
    let name = std::ffi::CString::new(iface).map_err(io::Error::other)?;
    // SAFETY: a valid NUL-terminated string.
    let ifindex = unsafe { libc::if_nametoindex(name.as_ptr()) };
    if ifindex == 0 {
        return Err(io::Error::last_os_error());
    }
    let prog = load()?;
    let res = set_xdp(ifindex, prog);
    // SAFETY: our own descriptor.
    unsafe { libc::close(prog) };
    res
}

/// Attaches the loaded XDP program `prog_fd` to `iface` in generic mode through netlink, as a
/// run on a kernel without XDP bpf_links did (the attachment outlives the process).
pub fn attach_xdp_fd(iface: &str, prog_fd: i32) -> io::Result<()> {
    let name = std::ffi::CString::new(iface).map_err(io::Error::other)?;
    // SAFETY: a valid NUL-terminated string.
    let ifindex = unsafe { libc::if_nametoindex(name.as_ptr()) };
    if ifindex == 0 {
        return Err(io::Error::last_os_error());
    }
    set_xdp(ifindex, prog_fd)
}

fn load() -> io::Result<i32> {
    // r0 = XDP_PASS (2); exit
    let insns: [u8; 16] = [0xb7, 0, 0, 0, 2, 0, 0, 0, 0x95, 0, 0, 0, 0, 0, 0, 0];
    let license = b"GPL\0";
    let mut attr = [0u8; 128];
    attr[0..4].copy_from_slice(&BPF_PROG_TYPE_XDP.to_ne_bytes());
    attr[4..8].copy_from_slice(&2u32.to_ne_bytes());
    attr[8..16].copy_from_slice(&(insns.as_ptr() as u64).to_ne_bytes());
    attr[16..24].copy_from_slice(&(license.as_ptr() as u64).to_ne_bytes());
    // prog_name (offset 48) stays empty, like a program loaded without a name.
    // SAFETY: attr is a valid bpf_attr for BPF_PROG_LOAD; the pointers outlive the call.
    let fd = unsafe {
        libc::syscall(libc::SYS_bpf, BPF_PROG_LOAD, attr.as_ptr(), attr.len() as libc::c_uint)
    };
    if fd < 0 { Err(io::Error::last_os_error()) } else { Ok(fd as i32) }
}

fn attr(buf: &mut Vec<u8>, kind: u16, payload: &[u8]) {
    buf.extend_from_slice(&((4 + payload.len()) as u16).to_ne_bytes());
    buf.extend_from_slice(&kind.to_ne_bytes());
    buf.extend_from_slice(payload);
    buf.resize(buf.len().next_multiple_of(4), 0);
}

fn set_xdp(ifindex: u32, prog_fd: i32) -> io::Result<()> {
    let mut nested = Vec::new();
    attr(&mut nested, IFLA_XDP_FD, &prog_fd.to_ne_bytes());
    attr(&mut nested, IFLA_XDP_FLAGS, &XDP_FLAGS_SKB_MODE.to_ne_bytes());
    let mut body = Vec::new();
    // ifinfomsg: family, pad, type, index, flags, change
    body.extend_from_slice(&[libc::AF_UNSPEC as u8, 0, 0, 0]);
    body.extend_from_slice(&(ifindex as i32).to_ne_bytes());
    body.extend_from_slice(&[0u8; 8]);
    attr(&mut body, IFLA_XDP | NLA_F_NESTED, &nested);
    let mut msg = Vec::new();
    msg.extend_from_slice(&((16 + body.len()) as u32).to_ne_bytes());
    msg.extend_from_slice(&RTM_SETLINK.to_ne_bytes());
    msg.extend_from_slice(&((libc::NLM_F_REQUEST | libc::NLM_F_ACK) as u16).to_ne_bytes());
    msg.extend_from_slice(&1u32.to_ne_bytes()); // seq
    msg.extend_from_slice(&0u32.to_ne_bytes()); // pid
    msg.extend_from_slice(&body);
    // SAFETY: plain syscalls on a socket we own; buffers are valid for their lengths.
    unsafe {
        let sock = libc::socket(libc::AF_NETLINK, libc::SOCK_RAW | libc::SOCK_CLOEXEC, 0);
        if sock < 0 {
            return Err(io::Error::last_os_error());
        }
        let sent = libc::send(sock, msg.as_ptr().cast(), msg.len(), 0);
        let mut reply = [0u8; 1024];
        let got = if sent < 0 { -1 } else { libc::recv(sock, reply.as_mut_ptr().cast(), 1024, 0) };
        let err = io::Error::last_os_error();
        libc::close(sock);
        if got < 20 {
            return Err(err);
        }
        // nlmsgerr after the 16-byte header: 0 is the ACK, else -errno.
        let code = i32::from_ne_bytes([reply[16], reply[17], reply[18], reply[19]]);
        if code != 0 { Err(io::Error::from_raw_os_error(-code)) } else { Ok(()) }
    }
}

/// Force-detaches the bpf_link `link_id` (of any process), as `bpftool link detach` does: the
/// link stays open in its owner but holds no hook any more.
pub fn detach_link(link_id: u32) -> io::Result<()> {
    let mut attr = [0u8; 16];
    attr[0..4].copy_from_slice(&link_id.to_ne_bytes());
    // SAFETY: valid bpf_attr buffers for both commands.
    let fd = unsafe {
        libc::syscall(libc::SYS_bpf, BPF_LINK_GET_FD_BY_ID, attr.as_ptr(), attr.len() as u32)
    };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    let mut attr = [0u8; 16];
    attr[0..4].copy_from_slice(&(fd as u32).to_ne_bytes());
    // SAFETY: as above.
    let rc =
        unsafe { libc::syscall(libc::SYS_bpf, BPF_LINK_DETACH, attr.as_ptr(), attr.len() as u32) };
    let err = io::Error::last_os_error();
    // SAFETY: our own descriptor.
    unsafe { libc::close(fd as i32) };
    if rc < 0 { Err(err) } else { Ok(()) }
}

/// The ids of this process's bpf_links holding one of `prog_ids` (from `/proc/self/fdinfo`;
/// tests running in parallel hold links of their own).
pub fn link_ids_of(prog_ids: &[u32]) -> Vec<u32> {
    let Ok(dir) = std::fs::read_dir("/proc/self/fdinfo") else { return Vec::new() };
    let field = |info: &str, key: &str| -> Option<u32> {
        let line = info.lines().find(|l| l.starts_with(key))?;
        line[key.len()..].trim().parse().ok()
    };
    let mut ids: Vec<u32> = dir
        .flatten()
        .filter_map(|e| {
            let info = std::fs::read_to_string(e.path()).ok()?;
            let prog = field(&info, "prog_id:")?;
            prog_ids.contains(&prog).then(|| field(&info, "link_id:")).flatten()
        })
        .collect();
    ids.sort_unstable();
    ids.dedup();
    ids
}
