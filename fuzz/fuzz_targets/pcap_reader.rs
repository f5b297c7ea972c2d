//! Arbitrary bytes as a pcap/pcapng file: the reader, then the whole pipeline on whatever
//! segments it yields. Must never panic; errors are fine.
#![no_main]

use std::io::Cursor;

use libfuzzer_sys::fuzz_target;
use zktraffic::CaptureReader;
use zktraffic::{Pipeline, PipelineConfig};
use zktraffic::Message;

fuzz_target!(|data: &[u8]| {
    let Ok(mut reader) =
        CaptureReader::from_reader("fuzz".into(), Box::new(Cursor::new(data.to_vec())))
    else {
        return;
    };
    let mut count = 0u64;
    let sink = |m: &Message<'_>| {
        count += u64::from(m.size);
    };
    let mut p = Pipeline::new(PipelineConfig::default(), sink);
    let _ = reader.for_each_segment(|s| p.push(s));
    p.finish();
    let _ = p.stats();
});
