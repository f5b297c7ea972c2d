//! The `dump` front-end: a capture through the pipeline into a printer or the summary.

use std::io::{self, Write};

use serde::Serialize;
use thiserror::Error;

use crate::capture::pcap::{CaptureError, CaptureReader, CaptureStats};
use crate::cli::dump::{DumpArgs, Format};
use crate::output::json::JsonPrinter;
use crate::output::summary::Summary;
use crate::output::text::{TextOptions, TextPrinter};
use crate::output::time_format::TimeFormatter;
use crate::pipeline::{Pipeline, PipelineStats};
use crate::zk::{Message, MessageSink};

/// Why a dump failed.
#[derive(Debug, Error)]
pub enum DumpError {
    /// The capture could not be read (everything before the problem was still printed).
    #[error(transparent)]
    Capture(#[from] CaptureError),
    /// The output could not be written.
    #[error("writing the output failed: {0}")]
    Output(#[from] io::Error),
}

/// Every counter of a run, by stage.
#[derive(Clone, Debug, Default, Serialize)]
pub struct Counters {
    pub capture: CaptureStats,
    #[serde(flatten)]
    pub pipeline: PipelineStats,
}

impl Counters {
    /// `stage.counter` → value, for text reports.
    pub fn flatten(&self) -> Vec<(String, u64)> {
        let mut out = Vec::new();
        flatten_into(&mut out, "", &serde_json::to_value(self).unwrap_or_default());
        out
    }
}

fn flatten_into(out: &mut Vec<(String, u64)>, prefix: &str, v: &serde_json::Value) {
    match v {
        serde_json::Value::Object(map) => {
            for (k, v) in map {
                let key = if prefix.is_empty() { k.clone() } else { format!("{prefix}.{k}") };
                flatten_into(out, &key, v);
            }
        }
        serde_json::Value::Number(n) => out.push((prefix.to_owned(), n.as_u64().unwrap_or(0))),
        _ => {}
    }
}

/// What a finished dump reports besides its output.
#[derive(Debug)]
pub struct DumpOutcome {
    pub counters: Counters,
    /// Non-fatal problems (e.g. a truncated last record), for standard error.
    pub warnings: Vec<String>,
}

/// The sink a dump writes to.
enum DumpSink<W: Write> {
    Text(TextPrinter<W>),
    Json(JsonPrinter<W>),
    Summary(Summary),
}

impl<W: Write> MessageSink for DumpSink<W> {
    fn message(&mut self, msg: &Message<'_>) {
        match self {
            DumpSink::Text(p) => p.message(msg),
            DumpSink::Json(p) => p.message(msg),
            DumpSink::Summary(s) => s.message(msg),
        }
    }
}

/// Runs `zktraffic dump --pcap FILE` writing to `out`; `local_time` is the zone of text output.
pub fn run_offline<W: Write>(
    args: &DumpArgs,
    mut out: W,
    local_time: TimeFormatter,
) -> Result<DumpOutcome, DumpError> {
    let mut reader = CaptureReader::open(&args.pcap)?;
    let filter = args.filter();
    let sink = match (args.summary, args.format) {
        (true, _) => DumpSink::Summary(Summary::new(filter)),
        (false, Format::Json) => {
            DumpSink::Json(JsonPrinter::new(&mut out, filter, args.show_secrets))
        }
        (false, Format::Text) => {
            let options = TextOptions {
                unpaired: args.unpaired,
                colors: args.colors,
                show_secrets: args.show_secrets,
            };
            let time = if args.utc { TimeFormatter::utc() } else { local_time };
            DumpSink::Text(TextPrinter::new(&mut out, filter, options, time))
        }
    };
    let mut pipeline = Pipeline::new(args.pipeline_config(), sink);
    // Whatever happens to the capture, everything read before the problem is decoded and printed.
    let read = reader.for_each_segment(|seg| pipeline.push(seg));
    pipeline.finish();
    let counters = Counters { capture: reader.stats().clone(), pipeline: pipeline.stats() };
    match pipeline.into_sink() {
        DumpSink::Text(p) => p.finish()?,
        DumpSink::Json(p) => p.finish()?,
        DumpSink::Summary(s) => {
            let report = s.report();
            match args.format {
                Format::Text => report.write_text(&mut out, &counters.flatten())?,
                Format::Json => {
                    let mut v = serde_json::to_value(&report).unwrap_or_default();
                    v["counters"] = serde_json::to_value(&counters).unwrap_or_default();
                    serde_json::to_writer(&mut out, &v).map_err(io::Error::from)?;
                    out.write_all(b"\n")?;
                }
            }
        }
    }
    out.flush()?;
    read?;
    Ok(DumpOutcome { counters, warnings: reader.warnings().to_vec() })
}
