//! Which messages a printer shows: dump's `--client`, `--exclude-host`, `--path-prefix`,
//! `--type`, `--include-pings` and `--writes-only`.

use std::net::{IpAddr, SocketAddr};
use std::str::FromStr;

use crate::zk::Message;

/// A client given as `IP` or `IP:PORT` (`[IPv6]:PORT`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ClientSpec {
    pub ip: IpAddr,
    pub port: Option<u16>,
}

impl FromStr for ClientSpec {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        if let Ok(ip) = s.parse::<IpAddr>() {
            return Ok(ClientSpec { ip, port: None });
        }
        s.parse::<SocketAddr>()
            .map(|a| ClientSpec { ip: a.ip(), port: Some(a.port()) })
            .map_err(|_| format!("{s:?} is not IP or IP:PORT (IPv6 with a port: [::1]:2181)"))
    }
}

/// A host given by address or name (names resolve to all their IPv4 and IPv6 addresses, as
/// the original's `getaddrinfo`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HostSpec(pub Vec<IpAddr>);

impl FromStr for HostSpec {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        if let Ok(ip) = s.parse::<IpAddr>() {
            return Ok(HostSpec(vec![ip]));
        }
        use std::net::ToSocketAddrs;
        let mut ips: Vec<IpAddr> = (s, 0)
            .to_socket_addrs()
            .map_err(|e| {
                format!("{s:?} is neither an IP address nor a host name that resolves: {e}")
            })?
            .map(|a| a.ip())
            .collect();
        ips.sort();
        ips.dedup();
        Ok(HostSpec(ips))
    }
}

/// Watch event types as messages are named.
const EVENT_TYPES: [&str; 7] = [
    "NodeCreated",
    "NodeDeleted",
    "NodeDataChanged",
    "NodeChildrenChanged",
    "DataWatchRemoved",
    "ChildWatchRemoved",
    "PersistentWatchRemoved",
];

/// A `--type` value, checked against every name a message can have: a request or reply type
/// (`GetDataRequest`), an operation (`GetData`), a watch event type or a four-letter word.
/// A name nothing could match is refused with the valid ones, rather than silently showing
/// nothing.
pub fn parse_type(s: &str) -> Result<String, String> {
    use crate::zk::OpCode;
    let ops = std::iter::once(OpCode::Connect).chain(OpCode::ALL);
    let known = ops
        .flat_map(|op| [op.base_name(), op.request_name(), op.reply_name()])
        .chain(EVENT_TYPES)
        .chain(["UnknownRequest", "UnknownReply", "Unknown", "FourLetterWord"])
        .chain(crate::zk::fourletter::COMMAND_NAMES);
    if known.clone().any(|k| k.eq_ignore_ascii_case(s)) {
        return Ok(s.to_owned());
    }
    let mut ops: Vec<&str> =
        std::iter::once(OpCode::Connect).chain(OpCode::ALL).map(OpCode::base_name).collect();
    ops.sort_unstable();
    ops.dedup();
    Err(format!(
        "no message is called {s:?}. Give an operation ({}), with `Request` or `Reply` for one \
         side, a watch event ({}), or a four-letter word (stat, mntr, …)",
        ops.join(", "),
        EVENT_TYPES.join(", ")
    ))
}

impl ClientSpec {
    fn matches(&self, addr: SocketAddr) -> bool {
        addr.ip() == self.ip && self.port.is_none_or(|p| p == addr.port())
    }
}

/// The message filter; the default shows everything but pings.
#[derive(Clone, Debug, Default)]
pub struct Filter {
    /// Show only these clients (any of them); empty = all.
    pub clients: Vec<ClientSpec>,
    /// Show only clients on these ports (the original's `--client-port`); empty = all.
    pub client_ports: Vec<u16>,
    /// Show only traffic to or from these hosts (the original's `--include-host`); empty = all.
    pub include_hosts: Vec<IpAddr>,
    /// Hide traffic to or from these hosts.
    pub exclude_hosts: Vec<IpAddr>,
    /// Show only messages whose path starts with this.
    pub path_prefix: Option<String>,
    /// Show only these types: full names (`GetDataReply`) or operation names matching a
    /// request and its reply (`GetData`), case-insensitive.
    pub types: Vec<String>,
    /// Show pings (hidden by default, as in the original).
    pub include_pings: bool,
    /// Show only writes and their replies.
    pub writes_only: bool,
}

impl Filter {
    /// True when `msg` passes every condition.
    #[inline]
    pub fn accepts(&self, msg: &Message<'_>) -> bool {
        (self.include_pings || !super::is_ping(msg)) && (self.only_pings_matter() || self.rest(msg))
    }

    /// True when no condition but the ping one is set (the common case, checked per message).
    fn only_pings_matter(&self) -> bool {
        self.clients.is_empty()
            && self.client_ports.is_empty()
            && self.include_hosts.is_empty()
            && self.exclude_hosts.is_empty()
            && self.path_prefix.is_none()
            && !self.writes_only
            && self.types.is_empty()
    }

    fn rest(&self, msg: &Message<'_>) -> bool {
        let conn = msg.conn;
        let on_host = |h: &IpAddr| *h == conn.client.ip() || *h == conn.server.ip();
        (self.clients.is_empty() || self.clients.iter().any(|c| c.matches(conn.client)))
            && (self.client_ports.is_empty() || self.client_ports.contains(&conn.client.port()))
            && (self.include_hosts.is_empty() || self.include_hosts.iter().any(on_host))
            && !self.exclude_hosts.iter().any(on_host)
            && self
                .path_prefix
                .as_deref()
                .is_none_or(|p| super::path(msg).is_some_and(|m| m.starts_with(p)))
            && (!self.writes_only || super::is_write(msg))
            && (self.types.is_empty() || self.type_matches(msg))
    }

    fn type_matches(&self, msg: &Message<'_>) -> bool {
        let name = super::type_name(msg);
        let name = name.as_ref();
        let base =
            name.strip_suffix("Request").or_else(|| name.strip_suffix("Reply")).unwrap_or(name);
        let request = match &msg.body {
            crate::zk::Body::Reply(r) => r.request.map(|p| p.name),
            _ => None,
        };
        self.types.iter().any(|t| {
            t.eq_ignore_ascii_case(name)
                || t.eq_ignore_ascii_case(base)
                || request.is_some_and(|r| t.eq_ignore_ascii_case(r))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn client_specs() {
        assert_eq!("10.0.0.1".parse::<ClientSpec>().unwrap().port, None);
        assert_eq!("10.0.0.1:5".parse::<ClientSpec>().unwrap().port, Some(5));
        assert_eq!("[::1]:5".parse::<ClientSpec>().unwrap().ip, "::1".parse::<IpAddr>().unwrap());
        assert!("nope".parse::<ClientSpec>().is_err());
    }
}
