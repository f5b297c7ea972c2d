//! `--sampling`: keep a fixed fraction of connections.

use std::hash::{Hash, Hasher};

use rustc_hash::FxHasher;

use crate::capture::Segment;

/// Decides per connection, not per packet: a dropped packet would leave a hole in the byte
/// stream (undecodable frames, lost pairing), while a whole sampled-out connection costs
/// nothing and leaves every kept session exact (pairing, latency, identity). The decision is a
/// hash of the connection's two endpoints, so both directions agree and a run is repeatable.
#[derive(Clone, Copy, Debug)]
pub struct Sampler {
    /// Keep a connection when its hash is below this; `None` keeps everything.
    threshold: Option<u64>,
}

impl Sampler {
    /// Keeps a fraction `p` (in [0, 1]) of connections.
    pub fn new(p: f64) -> Self {
        let threshold = if p >= 1.0 { None } else { Some((p.max(0.0) * u64::MAX as f64) as u64) };
        Sampler { threshold }
    }

    /// True when `seg`'s connection is sampled in.
    pub fn keep(&self, seg: &Segment<'_>) -> bool {
        let Some(threshold) = self.threshold else { return true };
        let (a, b) = if seg.src <= seg.dst { (seg.src, seg.dst) } else { (seg.dst, seg.src) };
        let mut h = FxHasher::default();
        a.hash(&mut h);
        b.hash(&mut h);
        mix(h.finish()) < threshold
    }
}

/// A 64-bit finaliser (splitmix64): FxHash's low bits are weak, this spreads them.
fn mix(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// Parses `--sampling`, which must lie in [0, 1] (as the original).
pub fn parse_probability(s: &str) -> Result<f64, String> {
    match s.parse::<f64>() {
        Ok(p) if (0.0..=1.0).contains(&p) => Ok(p),
        _ => Err("--sampling takes values within [0, 1]".to_owned()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Timestamp;

    fn seg(client_port: u16, to_server: bool) -> Segment<'static> {
        let c = ([10, 0, 0, 1], client_port).into();
        let s = ([10, 0, 0, 2], 2181).into();
        let (src, dst) = if to_server { (c, s) } else { (s, c) };
        Segment { ts: Timestamp(0), src, dst, seq: 0, ack: 0, flags: 0, payload: &[], wire_len: 0 }
    }

    #[test]
    fn whole_connections_and_about_the_right_fraction() {
        let s = Sampler::new(0.25);
        let kept = (1000..5000).filter(|&p| s.keep(&seg(p, true))).count();
        assert!((800..1200).contains(&kept), "{kept}");
        for p in 1000..1100 {
            assert_eq!(s.keep(&seg(p, true)), s.keep(&seg(p, false)));
        }
        assert!(!Sampler::new(0.0).keep(&seg(1, true)));
        assert!(Sampler::new(1.0).keep(&seg(1, true)));
        assert!(parse_probability("1.5").is_err());
        assert_eq!(parse_probability("0.5"), Ok(0.5));
    }
}
