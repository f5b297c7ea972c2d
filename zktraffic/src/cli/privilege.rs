//! `--user` and `--keep-caps`, shared by every front-end that captures live.

use clap::Args;

use crate::privilege::{KeepCaps, Plan, UserSpec};

/// What the process gives up once its source is open (`src/privilege.rs`).
#[derive(Args, Debug, Clone)]
pub struct PrivilegeArgs {
    /// Once the programs are attached (or the capture file is open), run as this user:
    /// `NAME`, `UID`, `NAME:GROUP` or `UID:GID` (numeric ids need no /etc/passwd, as in a
    /// scratch image). Files read later (`--config`, `--http-token-file`, `--tls-cert` on
    /// SIGHUP) must be readable by it.
    #[arg(long, value_name = "USER", value_parser = clap::value_parser!(UserSpec))]
    pub user: Option<UserSpec>,

    /// Capabilities kept after start-up: `none` (the default: on kernels with TCX and XDP
    /// links, 6.6 and later, reading the ring and attaching again to a recreated interface
    /// need none), or `reattach`, which keeps CAP_BPF and CAP_NET_ADMIN for older kernels,
    /// which attach through netlink. Everything else is dropped and `no_new_privs` set; a
    /// capture file keeps nothing.
    #[arg(long, value_enum, value_name = "SET", default_value_t = KeepCaps::None)]
    pub keep_caps: KeepCaps,
}

impl PrivilegeArgs {
    /// What to give up, for a live source or a file, with HTTP bound to `bind_port` after.
    pub fn plan(&self, live: bool, bind_port: Option<u16>) -> Plan {
        Plan::new(live, self.keep_caps, self.user.clone(), bind_port)
    }
}
