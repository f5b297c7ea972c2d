//! What flows on the election port (quorum reference §2): the connecting server's initial
//! message (3.4, V1 or V2), quorum SASL packets, and length-prefixed notifications with the
//! dynamic configuration they carry.

use crate::zk::cursor::{Cursor, DecodeError};

/// The initial message's protocol version from 3.5.
pub const PROTOCOL_V1: i64 = -65536;
/// Its version from 3.6 with multiple addresses.
pub const PROTOCOL_V2: i64 = -65535;
/// `QuorumAuthPacket.magic` (quorum SASL).
pub const SASL_MAGIC: i64 = 0x5f24_3501_3501_edcc;
/// Longest address text of an initial message (ZooKeeper's own cap).
pub const MAX_ADDRESS: usize = 2048;
/// Longest notification accepted (the config text of a large ensemble fits easily).
pub const MAX_NOTIFICATION: usize = 1 << 20;

/// A server's state in a notification.
pub fn state_name(state: i32) -> &'static str {
    match state {
        0 => "LOOKING",
        1 => "FOLLOWING",
        2 => "LEADING",
        3 => "OBSERVING",
        _ => "UNKNOWN",
    }
}

/// A notification (`FastLeaderElection.buildMsg`); older servers send fewer fields.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Notification<'a> {
    /// The sender's state: 0 LOOKING, 1 FOLLOWING, 2 LEADING, 3 OBSERVING.
    pub state: i32,
    /// The proposed (or, once decided, the elected) leader's sid.
    pub leader: i64,
    /// The proposed leader's last zxid.
    pub zxid: i64,
    /// The sender's election round.
    pub election_epoch: i64,
    /// The proposed leader's epoch (from 3.4).
    pub peer_epoch: Option<i64>,
    /// The notification format's version (from 3.4).
    pub version: Option<i32>,
    /// The dynamic configuration (3.5+).
    pub config: Option<&'a str>,
}

impl<'a> Notification<'a> {
    /// Decodes a notification's payload (28, 40 or 44 + config bytes).
    pub fn parse(payload: &'a [u8]) -> Result<Self, DecodeError> {
        let mut c = Cursor::new(payload);
        let (state, leader, zxid, election_epoch) = (c.i32()?, c.i64()?, c.i64()?, c.i64()?);
        if !(0..=3).contains(&state) {
            return Err(DecodeError::InvalidValue { what: "state", value: i64::from(state) });
        }
        let mut n = Notification {
            state,
            leader,
            zxid,
            election_epoch,
            peer_epoch: None,
            version: None,
            config: None,
        };
        if c.remaining() >= 12 {
            n.peer_epoch = Some(c.i64()?);
            n.version = Some(c.i32()?);
        }
        if c.remaining() >= 4 {
            n.config = c.string()?;
        }
        Ok(n)
    }

    /// The servers its config names.
    pub fn servers(&self) -> impl Iterator<Item = Server<'a>> {
        self.config.unwrap_or("").lines().filter_map(Server::parse)
    }
}

/// One `server.N=host:quorum:election[:role][;[clientHost:]clientPort]` line.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Server<'a> {
    /// Its server id.
    pub sid: i64,
    /// Its host, as written.
    pub host: &'a str,
    /// Its quorum (ZAB) port.
    pub quorum_port: u16,
    /// Its election port.
    pub election_port: u16,
    /// `participant` or `observer`.
    pub role: &'a str,
    /// Its client port, when the config names it (`;[host:]port`).
    pub client_port: Option<u16>,
}

impl<'a> Server<'a> {
    /// Parses a config line; anything else (`version=…`) is `None`.
    pub fn parse(line: &'a str) -> Option<Server<'a>> {
        let (key, value) = line.trim().split_once('=')?;
        let sid = key.strip_prefix("server.")?.parse().ok()?;
        let (server, client) = match value.split_once(';') {
            Some((s, c)) => (s, Some(c)),
            None => (value, None),
        };
        // IPv6 hosts are bracketed: split the ports off the end.
        let mut parts = server.rsplitn(4, ':').collect::<Vec<_>>();
        parts.reverse();
        let (host, quorum, election, role) = match parts.as_slice() {
            [h, q, e, r] if r.parse::<u16>().is_err() => (*h, *q, *e, *r),
            _ => {
                let mut p = server.rsplitn(3, ':').collect::<Vec<_>>();
                p.reverse();
                match p.as_slice() {
                    [h, q, e] => (*h, *q, *e, "participant"),
                    _ => return None,
                }
            }
        };
        let client_port = client.and_then(|c| c.rsplit(':').next()).and_then(|p| p.parse().ok());
        Some(Server {
            sid,
            host,
            quorum_port: quorum.parse().ok()?,
            election_port: election.parse().ok()?,
            role,
            client_port,
        })
    }
}

/// What one election-port message holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ElectionBody<'a> {
    /// The connecting server introduces itself: its sid and, from 3.5, its address(es).
    Initial {
        /// Its server id.
        sid: i64,
        /// −65536 (V1, 3.5+) or −65535 (V2, multiple addresses); none in 3.4's sid-only form.
        protocol: Option<i64>,
        /// Its election address(es), `|`-separated in V2.
        addresses: Option<&'a str>,
    },
    /// Quorum SASL's `QuorumAuthPacket` (its token never shown).
    Sasl {
        /// The exchange's status (0 in progress, 1 success, −1 error).
        status: i32,
        /// Bytes of its token.
        token_bytes: usize,
    },
    /// A vote.
    Notification(Notification<'a>),
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn config_lines() {
        assert_eq!(
            Server::parse("server.3=localhost:20022:20021:participant"),
            Some(Server {
                sid: 3,
                host: "localhost",
                quorum_port: 20022,
                election_port: 20021,
                role: "participant",
                client_port: None
            })
        );
        let s = Server::parse("server.1=10.0.0.1:2888:3888:observer;0.0.0.0:2181").unwrap();
        assert_eq!((s.role, s.client_port, s.election_port), ("observer", Some(2181), 3888));
        let s = Server::parse("server.2=[::1]:2888:3888;2181").unwrap();
        assert_eq!((s.host, s.quorum_port, s.client_port), ("[::1]", 2888, Some(2181)));
        assert_eq!(Server::parse("version=100000000"), None);
        assert_eq!(Server::parse("server.x=a:1:2"), None);
    }

    #[test]
    fn notifications_of_every_length() {
        let mut b = Vec::new();
        b.extend_from_slice(&0i32.to_be_bytes());
        b.extend_from_slice(&3i64.to_be_bytes());
        b.extend_from_slice(&0x1_0000_0005i64.to_be_bytes());
        b.extend_from_slice(&7i64.to_be_bytes());
        let n = Notification::parse(&b).unwrap();
        assert_eq!((n.state, n.leader, n.election_epoch, n.peer_epoch), (0, 3, 7, None));
        b.extend_from_slice(&1i64.to_be_bytes());
        b.extend_from_slice(&2i32.to_be_bytes());
        assert_eq!(Notification::parse(&b).unwrap().version, Some(2));
        let config = "server.1=127.0.0.1:2888:3888:participant;127.0.0.1:2181\nversion=0";
        b.extend_from_slice(&(config.len() as i32).to_be_bytes());
        b.extend_from_slice(config.as_bytes());
        let n = Notification::parse(&b).unwrap();
        assert_eq!(n.servers().map(|s| s.client_port).collect::<Vec<_>>(), [Some(2181)]);
        b[3] = 9;
        assert!(Notification::parse(&b).is_err(), "state 9");
        assert!(Notification::parse(&b[..20]).is_err());
    }
}
