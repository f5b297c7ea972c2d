//! Recognising the streams on a client port that are not ZooKeeper frames (§A9, §A10):
//! four-letter words and TLS.

/// Every four-letter word a ZooKeeper server (3.4–3.9) answers. Each, read as a length
/// prefix, exceeds any frame size, so this never shadows a frame.
pub const COMMAND_NAMES: [&str; 20] = [
    "conf", "cons", "crst", "dirs", "dump", "envi", "gtmk", "hash", "isro", "kill", "mntr", "reqs",
    "ruok", "srst", "srvr", "stat", "stmk", "wchc", "wchp", "wchs",
];

/// True when a client stream starts with a four-letter word.
pub fn is_four_letter_word(first: &[u8; 4]) -> bool {
    first == TELNET_CLOSE || COMMAND_NAMES.iter().any(|c| c.as_bytes() == first)
}

/// What telnet sends when its user closes the session (IAC IP IAC DO): a client typing at the
/// port by hand.
const TELNET_CLOSE: &[u8; 4] = &[0xff, 0xf4, 0xff, 0xfd];

/// True when a stream starts like a TLS handshake record (content type 22, version 3.x).
pub fn is_tls(first: &[u8; 4]) -> bool {
    first[0] == 0x16 && first[1] == 0x03 && first[2] <= 0x04
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recognises_commands_and_tls() {
        assert!(is_four_letter_word(b"stat") && is_four_letter_word(b"mntr"));
        assert!(!is_four_letter_word(b"\0\0\0\x2d"));
        assert!(is_tls(&[0x16, 0x03, 0x01, 0x02]));
        assert!(!is_tls(&[0, 0, 0, 45]));
        // Every command is far beyond any plausible frame length.
        let mut all: Vec<[u8; 4]> =
            COMMAND_NAMES.iter().map(|c| c.as_bytes().try_into().unwrap()).collect();
        all.push(*TELNET_CLOSE);
        for c in all {
            assert!(is_four_letter_word(&c));
            assert!(i32::from_be_bytes(c) as i64 > (1 << 28) || i32::from_be_bytes(c) < 0);
        }
    }
}
