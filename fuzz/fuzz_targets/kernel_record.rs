//! Arbitrary bytes as a kernel ring-buffer record: the header parser must accept any bytes of
//! at least a header's length (and only those) without reading past them.
#![no_main]

use libfuzzer_sys::fuzz_target;
use zktraffic_common::record::RecordHeader;

fuzz_target!(|data: &[u8]| {
    let size = core::mem::size_of::<RecordHeader>();
    let parsed = RecordHeader::read_from(data);
    assert_eq!(parsed.is_some(), data.len() >= size);
    if let Some(h) = parsed {
        // Parsing is a plain copy of the first `size` bytes.
        assert_eq!(Some(h), RecordHeader::read_from(&data[..size]));
    }
});
