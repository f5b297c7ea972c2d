//! The `dump` front-end: a capture (file or live) through the pipeline into a printer, the
//! summary or a quick report.

mod pipe;

use std::io::{self, Write};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use serde::Serialize;
use thiserror::Error;

use crate::capture::CaptureStats;
use crate::capture::pcap_write::SegmentRecorder;
use crate::capture::{PcapSource, Poll, Segment, SegmentSource, SourceCounters, SourceError};
use crate::cli::dump::{DumpArgs, Format};
use crate::output::drop_warnings::DropWarnings;
use crate::output::json::JsonPrinter;
use crate::output::numbers::flatten_numbers;
use crate::output::report::Report;
use crate::output::summary::Summary;
use crate::output::text::{TextOptions, TextPrinter};
use crate::output::time_format::TimeFormatter;
use crate::pipeline::{Pipeline, PipelineStats};
use crate::sink::MessageSink;
use crate::zk::Message;

/// Why a dump failed.
#[derive(Debug, Error)]
pub enum DumpError {
    /// The source could not start, or failed (everything read before the problem was still
    /// printed).
    #[error(transparent)]
    Source(#[from] SourceError),
    /// Privileges could not be dropped after attaching.
    #[error("cannot drop privileges after attaching: {0}")]
    Privileges(#[from] crate::privilege::PrivilegeError),
    /// The output could not be written.
    #[error("writing the output failed: {0}")]
    Output(#[from] io::Error),
    /// `--write-pcap` failed (live capture went on without it; see [`WritePcapStats`]).
    #[error(
        "writing {path}: {source} ({written} segments written before the error, {lost} after it not written)"
    )]
    WritePcap {
        /// The file.
        path: String,
        /// What failed.
        source: io::Error,
        /// Segments written before the error.
        written: u64,
        /// Segments not written after it.
        lost: u64,
    },
}

/// Every counter of a run, by stage.
#[derive(Clone, Debug, Serialize)]
pub struct DumpCounters {
    /// The source's counters: `capture` (a file) or `kernel` (live).
    #[serde(flatten)]
    pub source: SourceCounters,
    /// `--write-pcap` counters (live, when asked for).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub write_pcap: Option<WritePcapStats>,
    /// Reassembly and decoding.
    #[serde(flatten)]
    pub pipeline: PipelineStats,
}

/// What `--write-pcap` wrote. After the first write error nothing more is written (the file
/// would be corrupt past it): the error is logged at once and counted, capture goes on.
#[derive(Clone, Copy, Debug, Default, Serialize)]
pub struct WritePcapStats {
    /// Segments handed to the file before any error.
    pub segments_written: u64,
    /// Write errors (at most 1: writing stops at the first).
    pub write_errors: u64,
    /// Segments not written because writing had stopped.
    pub segments_not_written: u64,
}

impl DumpCounters {
    /// A capture file's counters (none live).
    pub fn capture(&self) -> Option<&CaptureStats> {
        match &self.source {
            SourceCounters::File(c) => Some(c),
            #[cfg(feature = "ebpf")]
            SourceCounters::Live(_) => None,
        }
    }

    /// `stage.counter` → value, for text reports.
    pub fn flatten(&self) -> Vec<(String, u64)> {
        let mut out = Vec::new();
        flatten_numbers("", self, '.', &mut out);
        out
    }
}

/// What a finished dump reports besides its output.
#[derive(Debug)]
pub struct DumpOutcome {
    /// Every counter of the run.
    pub counters: DumpCounters,
    /// Non-fatal problems (e.g. a truncated last record), for standard error.
    pub warnings: Vec<String>,
}

/// The sink a dump writes to.
enum DumpSink<W: Write> {
    Text(TextPrinter<W>),
    Json(JsonPrinter<W>),
    Summary(Summary, W),
    Report(Report, Progress, W),
}

/// `Collecting k/N` on standard error while a report collects, when it is a terminal.
struct Progress {
    enabled: bool,
    shown: Option<std::time::Instant>,
}

impl Progress {
    fn new() -> Self {
        use std::io::IsTerminal;
        Progress { enabled: io::stderr().is_terminal(), shown: None }
    }

    /// Redraws at most ten times a second.
    fn update(&mut self, report: &Report) {
        if !self.enabled || self.shown.is_some_and(|t| t.elapsed().as_millis() < 100) {
            return;
        }
        self.shown = Some(std::time::Instant::now());
        let (k, n) = report.progress();
        let of = n.map(|n| format!("/{n}")).unwrap_or_default();
        eprint!("\rCollecting {k}{of}");
    }

    /// Clears the line before the report is printed.
    fn clear(&self) {
        if self.enabled && self.shown.is_some() {
            eprint!("\r\x1b[K");
        }
    }
}

impl<W: Write> MessageSink for DumpSink<W> {
    fn message(&mut self, msg: &Message<'_>) {
        match self {
            DumpSink::Text(p) => p.message(msg),
            DumpSink::Json(p) => p.message(msg),
            DumpSink::Summary(s, _) => s.message(msg),
            DumpSink::Report(r, progress, _) => {
                r.message(msg);
                progress.update(r);
            }
        }
    }

    fn zab(&mut self, msg: &crate::quorum::ZabMessage<'_>) {
        match self {
            DumpSink::Text(p) => p.zab(msg),
            DumpSink::Json(p) => p.zab(msg),
            DumpSink::Summary(s, _) => s.zab(msg),
            // The reports are about client requests.
            DumpSink::Report(..) => {}
        }
    }

    fn election(&mut self, msg: &crate::election::ElectionMessage<'_>) {
        match self {
            DumpSink::Text(p) => p.election(msg),
            DumpSink::Json(p) => p.election(msg),
            DumpSink::Summary(s, _) => s.election(msg),
            DumpSink::Report(..) => {}
        }
    }
}

impl<W: Write> DumpSink<W> {
    fn new(args: &DumpArgs, out: W, local_time: TimeFormatter) -> Self {
        let filter = args.filter();
        if let Some(config) = args.report.config() {
            return DumpSink::Report(Report::new(config, filter), Progress::new(), out);
        }
        match (args.summary, args.format) {
            (true, _) => DumpSink::Summary(Summary::new(filter), out),
            (false, Format::Json) => {
                DumpSink::Json(JsonPrinter::new(out, filter, args.show_secrets))
            }
            (false, Format::Text) => {
                let options = TextOptions {
                    unpaired: args.unpaired,
                    colors: args.colors,
                    show_secrets: args.show_secrets,
                };
                let time = if args.utc { TimeFormatter::utc() } else { local_time };
                DumpSink::Text(TextPrinter::new(out, filter, options, time))
            }
        }
    }

    /// Pushes printed lines out (live output must not sit in a buffer).
    fn flush(&mut self) -> io::Result<()> {
        match self {
            DumpSink::Text(p) => p.flush(),
            DumpSink::Json(p) => p.flush(),
            DumpSink::Summary(..) | DumpSink::Report(..) => Ok(()),
        }
    }

    /// True when the rest of the input cannot change the output (a report is complete).
    fn is_done(&self) -> bool {
        matches!(self, DumpSink::Report(r, ..) if r.is_done())
    }

    /// Prints what is left (held requests, the summary report) and flushes.
    fn finish(self, args: &DumpArgs, counters: &DumpCounters) -> io::Result<()> {
        match self {
            DumpSink::Text(p) => p.finish(),
            DumpSink::Json(p) => p.finish(),
            DumpSink::Summary(mut s, mut out) => {
                s.finish();
                let report = s.report();
                match args.format {
                    Format::Text => report.write_text(&mut out, &counters.flatten())?,
                    Format::Json => {
                        let mut v = serde_json::to_value(&report).unwrap_or_default();
                        v["counters"] = serde_json::to_value(counters).unwrap_or_default();
                        serde_json::to_writer(&mut out, &v).map_err(io::Error::from)?;
                        out.write_all(b"\n")?;
                    }
                }
                out.flush()
            }
            DumpSink::Report(r, progress, mut out) => {
                progress.clear();
                r.write(&mut out, args.format == Format::Json)?;
                if r.truncated() {
                    eprintln!(
                        "zktraffic: the report stopped at {} latency samples",
                        crate::output::report::MAX_SAMPLES
                    );
                }
                Ok(())
            }
        }
    }
}

/// Runs `zktraffic dump --pcap FILE` writing to `out`; `local_time` is the zone of text output.
pub fn dump_file<W: Write>(
    args: &DumpArgs,
    out: W,
    local_time: TimeFormatter,
) -> Result<DumpOutcome, DumpError> {
    dump_file_until(args, out, local_time, &AtomicBool::new(false))
}

/// [`dump_file`] that also stops, and reports what it has, once `stop` is set (Ctrl-C
/// during a report read from a pipe).
pub fn dump_file_until<W: Write>(
    args: &DumpArgs,
    out: W,
    local_time: TimeFormatter,
    stop: &AtomicBool,
) -> Result<DumpOutcome, DumpError> {
    let path = args.pcap.as_deref().unwrap_or_else(|| std::path::Path::new("-"));
    dump(args, &mut PcapSource::open(path)?, out, local_time, stop)
}

/// `dump --pcap -`: as [`dump_file_until`] on standard input, with `out` flushed whenever the
/// input runs dry, so that a quiet pipe's messages show at once.
pub fn dump_stdin_until<W: Write + Send + 'static>(
    args: &DumpArgs,
    out: W,
    local_time: TimeFormatter,
    stop: &AtomicBool,
) -> Result<DumpOutcome, DumpError> {
    let out = pipe::SharedOut::new(out);
    let mut flushed = out.clone();
    // A write error shows again (and is reported) on the printer's next write.
    let mut source = PcapSource::stdin_with(move || {
        let _ = flushed.flush();
    })?;
    dump(args, &mut source, out, local_time, stop)
}

/// `dump --iface IF`: attaches live capture and gives up the privileges the process no longer
/// needs, on the calling thread; then [`dump`] it until `stop` is set (or a report is complete,
/// or its `--duration` of wall-clock time has passed: a quiet server still ends it). Call it
/// before starting other threads, the signal handler's included (capabilities are per thread).
pub fn open_live_dump(args: &DumpArgs) -> Result<Box<dyn SegmentSource>, DumpError> {
    let iface = args.iface.as_deref().unwrap_or_default();
    let ports = args.capture_ports();
    let mut config = args.live.config(iface, &ports, &args.log);
    // A copy of the traffic keeps every packet.
    config.keep_pure_acks |= args.write_pcap.is_some();
    let source = crate::capture::open_live(config)?;
    let held = crate::privilege::drop_privileges(&args.privileges.plan(true, None))?;
    tracing::debug!("privileges: uid {}, capabilities {:?}", held.uid, held.effective);
    Ok(source)
}

/// Segments handed to the pipeline per poll: small enough to notice `stop` and a complete
/// report promptly (a quiet pipe or live capture returns sooner, after at most 100 ms).
const BATCH: usize = 4096;

/// Drives `source` through the pipeline into the dump's sink until the source ends, `stop` is
/// set or the output cannot change any more. Whatever happens to the source, everything read
/// before the problem is decoded and printed; its error comes after.
pub fn dump<W: Write>(
    args: &DumpArgs,
    source: &mut dyn SegmentSource,
    out: W,
    local_time: TimeFormatter,
    stop: &AtomicBool,
) -> Result<DumpOutcome, DumpError> {
    let live = source.info().live;
    let deadline = live
        .then(|| args.report.config().and_then(|c| c.duration_ns))
        .flatten()
        .map(|ns| Instant::now() + Duration::from_nanos(ns));
    let mut recorder = Recorder::create(args.write_pcap.as_deref())?;
    let mut pipeline = Pipeline::new(args.pipeline_config(), DumpSink::new(args, out, local_time));
    let mut drops = DropWarnings::default();
    let read = loop {
        let polled = source.poll(BATCH, &mut |seg| {
            pipeline.push(seg);
            recorder.record(seg);
        });
        if live {
            pipeline.sink_mut().flush()?;
            drops.observe(|| {
                let counters = DumpCounters {
                    source: source.counters(),
                    write_pcap: None,
                    pipeline: pipeline.stats(),
                };
                counters.flatten()
            });
        }
        match polled {
            Err(e) => break Err(e),
            Ok(Poll::Finished) => break Ok(()),
            Ok(Poll::Delivered(_) | Poll::Idle) => {}
        }
        if pipeline.sink().is_done()
            || stop.load(Ordering::Relaxed)
            || deadline.is_some_and(|d| Instant::now() >= d)
        {
            break Ok(());
        }
    };
    source.drain(&mut |seg| {
        pipeline.push(seg);
        recorder.record(seg);
    });
    pipeline.finish();
    recorder.flush();
    let counters = DumpCounters {
        source: source.counters(),
        write_pcap: recorder.stats(),
        pipeline: pipeline.stats(),
    };
    let busiest = pipeline.busiest_other_ports(3);
    pipeline.into_sink().finish(args, &counters)?;
    read?;
    recorder.result()?;
    if live {
        let d = &counters.pipeline.decode.protocol;
        tracing::info!(
            "stopped: {} requests, {} replies, {} events decoded",
            d.requests,
            d.replies,
            d.events
        );
    }
    let mut warnings = source.warnings();
    if !live {
        warnings.extend(why_nothing_decoded(&args.capture_ports(), &counters, &busiest));
    }
    Ok(DumpOutcome { counters, warnings })
}

/// `--write-pcap`: the segments as captured. After the first write error nothing more is
/// written (the file would be corrupt past it); the error is logged at once, capture goes on,
/// and the dump fails at the end.
struct Recorder {
    file: Option<(String, SegmentRecorder<io::BufWriter<std::fs::File>>)>,
    error: Option<io::Error>,
    stats: WritePcapStats,
}

impl Recorder {
    fn create(path: Option<&std::path::Path>) -> Result<Self, DumpError> {
        let file = match path {
            None => None,
            Some(path) => {
                let name = path.display().to_string();
                let failed = |source| DumpError::WritePcap {
                    path: name.clone(),
                    source,
                    written: 0,
                    lost: 0,
                };
                let file = std::fs::File::create(path).map_err(failed)?;
                Some((
                    name.clone(),
                    SegmentRecorder::new(io::BufWriter::new(file)).map_err(failed)?,
                ))
            }
        };
        Ok(Recorder { file, error: None, stats: WritePcapStats::default() })
    }

    fn record(&mut self, seg: &Segment<'_>) {
        let Some((path, r)) = &mut self.file else { return };
        if self.error.is_some() {
            self.stats.segments_not_written += 1;
        } else if let Err(e) = r.record(seg) {
            // Said at once (a full disk must not wait for Ctrl-C to be noticed), and once.
            tracing::error!(
                "writing {path} failed: {e}; no more segments are written to it (capture goes on)"
            );
            self.stats.write_errors += 1;
            self.stats.segments_not_written += 1;
            self.error = Some(e);
        } else {
            self.stats.segments_written += 1;
        }
    }

    fn flush(&mut self) {
        if let Some((path, r)) = &mut self.file
            && self.error.is_none()
            && let Err(e) = r.flush()
        {
            tracing::error!("writing {path} failed: {e}");
            self.stats.write_errors += 1;
            self.error = Some(e);
        }
    }

    fn stats(&self) -> Option<WritePcapStats> {
        self.file.is_some().then_some(self.stats)
    }

    fn result(self) -> Result<(), DumpError> {
        match (self.file, self.error) {
            (Some((path, _)), Some(source)) => Err(DumpError::WritePcap {
                path,
                source,
                written: self.stats.segments_written,
                lost: self.stats.segments_not_written,
            }),
            _ => Ok(()),
        }
    }
}

/// When a capture decoded no message at all: one line saying why, instead of a silent empty
/// output (no TCP, nothing on the server ports and where the traffic was, or nothing that
/// decodes on them).
fn why_nothing_decoded(
    ports: &[u16],
    counters: &DumpCounters,
    busiest: &[(u16, u64)],
) -> Option<String> {
    let p = &counters.pipeline.decode.protocol;
    let quorum = counters.pipeline.quorum.as_ref().map_or(0, |q| q.zab.packets)
        + counters.pipeline.election.as_ref().map_or(0, |e| e.decode.messages);
    if p.requests + p.replies + p.events + p.four_letter_words + quorum > 0 {
        return None;
    }
    let ports: Vec<String> = ports.iter().map(u16::to_string).collect();
    let ports = ports.join(", ");
    let tcp = counters.capture()?.tcp_segments;
    Some(if tcp == 0 {
        "no ZooKeeper message: the capture holds no TCP segment".to_owned()
    } else if counters.pipeline.tcp.segments == 0 {
        let seen: Vec<String> = busiest.iter().map(|(port, n)| format!("{port} ({n})")).collect();
        let hint = busiest.first().map(|(p, _)| format!("; try --port {p}")).unwrap_or_default();
        format!(
            "no ZooKeeper message: no packet to or from port {ports}; the busiest ports were {}{hint}",
            seen.join(", ")
        )
    } else {
        format!(
            "no ZooKeeper message: {} segments on port {ports} carried nothing that decodes as \
             the client protocol (TLS, another protocol, or only fragments; see --summary)",
            counters.pipeline.tcp.segments
        )
    })
}
