//! Recognising the streams on a client port that are not ZooKeeper frames (§A9, §A10):
//! four-letter words and TLS.

/// Every four-letter word a ZooKeeper server (3.4–3.9) answers, plus the telnet close
/// sequence. Each, read as a length prefix, exceeds any frame size, so this never shadows a frame.
const COMMANDS: [&[u8; 4]; 21] = [
    b"conf",
    b"cons",
    b"crst",
    b"dirs",
    b"dump",
    b"envi",
    b"gtmk",
    b"hash",
    b"isro",
    b"kill",
    b"mntr",
    b"reqs",
    b"ruok",
    b"srst",
    b"srvr",
    b"stat",
    b"stmk",
    b"wchc",
    b"wchp",
    b"wchs",
    &[0xff, 0xf4, 0xff, 0xfd],
];

/// True when a client stream starts with a four-letter word.
pub fn is_four_letter_word(first: &[u8; 4]) -> bool {
    COMMANDS.contains(&first)
}

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
        for c in COMMANDS {
            assert!(i32::from_be_bytes(*c) as i64 > (1 << 28) || i32::from_be_bytes(*c) < 0);
        }
    }
}
