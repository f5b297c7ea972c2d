//! Stale attachments: what a crashed run left on the interface, removed only when provably
//! ours; and who holds the XDP hook, for the error that says so.

use std::process::Command;

use aya::programs::{ProgramInfo, loaded_programs};
use zktraffic_common::record::programs;

/// Identity of a program we loaded: a stale attachment is ours only when the attached
/// program has this exact name, this type and this tag (the kernel's hash of the
/// instructions), so another tool's program is never touched, whatever its name.
pub(crate) struct Ours {
    pub name: &'static str,
    pub info: ProgramInfo,
}

impl Ours {
    fn matches(&self, other: &ProgramInfo) -> bool {
        other.name_as_str() == Some(self.name)
            && other.program_type() == self.info.program_type()
            && other.tag() == self.info.tag()
    }
}

/// What [`remove_stale_programs`] did.
#[derive(Debug, Default)]
pub(crate) struct Cleanup {
    /// Our leftovers, removed.
    pub removed: Vec<String>,
    /// Programs found on the hooks and left alone (not ours, or not provably ours).
    pub left: Vec<String>,
}

/// Removes what a crashed previous run may have left on `iface`: netlink TC filters and a
/// netlink-attached XDP program whose program is one of `ours` (same name, type and tag). TCX
/// and XDP bpf_links die with their process; only the legacy netlink attachments outlive it.
/// Programs of other tools, and ours from another build (another tag), are left alone.
pub(crate) fn remove_stale_programs(iface: &str, ours: &[Ours]) -> Cleanup {
    let mut done = Cleanup::default();
    let by_id = |id: u32| loaded_programs().flatten().find(|p| p.id() == id);
    for (dir, name) in [("ingress", programs::TC_INGRESS), ("egress", programs::TC_EGRESS)] {
        for f in tc_bpf_filters(iface, dir) {
            let mine = ours.iter().find(|o| o.name == name);
            let is_ours = mine.zip(by_id(f.prog_id)).is_some_and(|(o, p)| o.matches(&p));
            let what = format!("tc {dir} filter pref {} ({})", f.pref, f.describe);
            if is_ours && delete_tc_filter(iface, dir, &f) {
                done.removed.push(what);
            } else {
                done.left.push(what);
            }
        }
    }
    for holder in xdp_holders(iface) {
        let mine = ours.iter().find(|o| o.name == programs::XDP);
        let is_ours = mine.zip(by_id(holder.id)).is_some_and(|(o, p)| o.matches(&p));
        // iproute2 speaks the netlink XDP detach for us; it refuses (EBUSY) to touch an XDP
        // bpf_link, so a live instance's attachment is never removed here.
        let kind = match holder.mode {
            "native" => "xdpdrv",
            "generic" => "xdpgeneric",
            "offload" => "xdpoffload",
            _ => "xdp",
        };
        let removed = is_ours
            && Command::new("ip")
                .args(["link", "set", "dev", iface, kind, "off"])
                .output()
                .is_ok_and(|o| o.status.success());
        if removed {
            done.removed.push(format!("XDP program {holder}"));
        } else {
            done.left.push(format!("XDP program {holder}"));
        }
    }
    done
}

/// A program on an interface's XDP hook, as `ip -d -j link show` reports it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct XdpHolder {
    pub id: u32,
    pub name: String,
    /// `native`, `generic` or `offload`.
    pub mode: &'static str,
}

impl std::fmt::Display for XdpHolder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "id {}, name {:?}, {} mode", self.id, self.name, self.mode)
    }
}

/// The programs attached to `iface`'s XDP hook (one per mode at most).
pub(crate) fn xdp_holders(iface: &str) -> Vec<XdpHolder> {
    let Ok(out) = Command::new("ip").args(["-j", "-d", "link", "show", "dev", iface]).output()
    else {
        return Vec::new();
    };
    let json = serde_json::from_slice::<serde_json::Value>(&out.stdout).unwrap_or_default();
    parse_xdp_holders(&json)
}

fn parse_xdp_holders(json: &serde_json::Value) -> Vec<XdpHolder> {
    let Some(xdp) = json.pointer("/0/xdp") else {
        return Vec::new();
    };
    // IFLA_XDP_ATTACHED: 1 driver, 2 generic (skb), 3 hardware, 4 several (then listed).
    let mode = |m: &serde_json::Value| match m.as_u64() {
        Some(1) => "native",
        Some(2) => "generic",
        Some(3) => "offload",
        _ => "unknown",
    };
    let one = |v: &serde_json::Value, m: &serde_json::Value| {
        let prog = v.get("prog")?;
        Some(XdpHolder {
            id: u32::try_from(prog.get("id")?.as_u64()?).ok()?,
            name: prog.get("name").and_then(|n| n.as_str()).unwrap_or("").to_owned(),
            mode: mode(m),
        })
    };
    let mut holders: Vec<XdpHolder> = xdp
        .get("attached")
        .and_then(|a| a.as_array())
        .into_iter()
        .flatten()
        .filter_map(|a| one(a, a.get("mode")?))
        .collect();
    if holders.is_empty()
        && let Some(h) = xdp.get("mode").and_then(|m| one(xdp, m))
    {
        holders.push(h);
    }
    holders
}

/// A netlink (cls_bpf) TC filter on one direction of an interface.
struct TcFilter {
    pref: u64,
    handle: String,
    prog_id: u32,
    describe: String,
}

fn tc_bpf_filters(iface: &str, dir: &str) -> Vec<TcFilter> {
    let Ok(out) = Command::new("tc").args(["-j", "filter", "show", "dev", iface, dir]).output()
    else {
        return Vec::new();
    };
    let json = serde_json::from_slice::<serde_json::Value>(&out.stdout).unwrap_or_default();
    json.as_array()
        .into_iter()
        .flatten()
        .filter(|f| f.get("kind").and_then(|k| k.as_str()) == Some("bpf"))
        .filter_map(|f| {
            let opts = f.get("options")?;
            let prog = opts.get("prog")?;
            let name = prog.get("name").and_then(|n| n.as_str()).unwrap_or("");
            Some(TcFilter {
                pref: f.get("pref")?.as_u64()?,
                handle: opts.get("handle")?.as_str()?.to_owned(),
                prog_id: u32::try_from(prog.get("id")?.as_u64()?).ok()?,
                describe: format!("program id {}, name {name:?}", prog.get("id")?),
            })
        })
        .collect()
}

fn delete_tc_filter(iface: &str, dir: &str, f: &TcFilter) -> bool {
    let pref = f.pref.to_string();
    Command::new("tc")
        .args(["filter", "del", "dev", iface, dir, "pref", &pref, "handle", &f.handle, "bpf"])
        .output()
        .is_ok_and(|o| o.status.success())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn xdp_holders_from_ip_json() {
        let one: serde_json::Value = serde_json::from_str(
            r#"[{"ifname":"va","xdp":{"mode":2,"prog":{"id":41,"name":"","tag":"a04f","jited":1}}}]"#,
        )
        .unwrap();
        assert_eq!(
            parse_xdp_holders(&one),
            vec![XdpHolder { id: 41, name: String::new(), mode: "generic" }]
        );
        let multi: serde_json::Value = serde_json::from_str(
            r#"[{"xdp":{"mode":4,"attached":[{"mode":1,"prog":{"id":7,"name":"a"}},
                {"mode":2,"prog":{"id":8,"name":"zk_xdp"}}]}}]"#,
        )
        .unwrap();
        let got = parse_xdp_holders(&multi);
        assert_eq!(got.len(), 2);
        assert_eq!(got[1].to_string(), "id 8, name \"zk_xdp\", generic mode");
        assert!(parse_xdp_holders(&serde_json::json!([{"ifname": "lo"}])).is_empty());
    }
}
