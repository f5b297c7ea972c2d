//! The `dump` front-end: a capture (file or live) through the pipeline into a printer, the
//! summary or a quick report.

mod pipe;

use std::io::{self, Write};
use std::ops::ControlFlow;
use std::sync::atomic::{AtomicBool, Ordering};

use serde::Serialize;
use thiserror::Error;

use crate::capture::pcap::{CaptureError, CaptureReader, CaptureStats};
use crate::cli::dump::{DumpArgs, Format};
use crate::output::json::JsonPrinter;
use crate::output::report::Report;
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
    /// Live capture could not start or continue.
    #[cfg(feature = "ebpf")]
    #[error(transparent)]
    Live(#[from] crate::capture::ebpf::LiveCaptureError),
    /// Live capture was asked of a build without it.
    #[error("this zktraffic was built without live capture (the `ebpf` feature); use --pcap")]
    NoLiveCapture,
    /// The output could not be written.
    #[error("writing the output failed: {0}")]
    Output(#[from] io::Error),
    /// `--write-pcap` failed (live capture went on without it; see [`WritePcapStats`]).
    #[error(
        "writing {path}: {source} ({written} segments written before the error, {lost} after it not written)"
    )]
    WritePcap { path: String, source: io::Error, written: u64, lost: u64 },
}

/// Every counter of a run, by stage.
#[derive(Clone, Debug, Default, Serialize)]
pub struct Counters {
    /// Capture-file counters (offline).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub capture: Option<CaptureStats>,
    /// Kernel program and ring-reader counters (live).
    #[cfg(feature = "ebpf")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub kernel: Option<LiveCounters>,
    /// `--write-pcap` counters (live, when asked for).
    #[cfg(feature = "ebpf")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub write_pcap: Option<WritePcapStats>,
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

/// What live capture counts before reassembly.
#[cfg(feature = "ebpf")]
#[derive(Clone, Debug, Serialize)]
pub struct LiveCounters {
    #[serde(flatten)]
    pub kernel: crate::capture::ebpf::KernelStats,
    pub reader: crate::capture::ebpf::ReaderStats,
    /// Interface losses and re-attachments.
    pub attachment: crate::capture::ebpf::AttachmentStats,
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
    #[cfg(feature = "ebpf")]
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
    fn finish(self, args: &DumpArgs, counters: &Counters) -> io::Result<()> {
        match self {
            DumpSink::Text(p) => p.finish(),
            DumpSink::Json(p) => p.finish(),
            DumpSink::Summary(s, mut out) => {
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
pub fn run_offline<W: Write>(
    args: &DumpArgs,
    out: W,
    local_time: TimeFormatter,
) -> Result<DumpOutcome, DumpError> {
    run_offline_until(args, out, local_time, &AtomicBool::new(false))
}

/// [`run_offline`] that also stops, and reports what it has, once `stop` is set (Ctrl-C
/// during a report read from a pipe).
pub fn run_offline_until<W: Write>(
    args: &DumpArgs,
    out: W,
    local_time: TimeFormatter,
    stop: &AtomicBool,
) -> Result<DumpOutcome, DumpError> {
    let path = args.pcap.as_deref().unwrap_or_else(|| std::path::Path::new("-"));
    run_reader(args, CaptureReader::open(path)?, out, local_time, stop)
}

/// `dump --pcap -`: as [`run_offline_until`] on standard input, with `out` flushed whenever the
/// input runs dry, so that a quiet pipe's messages show at once.
pub fn run_stdin_until<W: Write + Send + 'static>(
    args: &DumpArgs,
    out: W,
    local_time: TimeFormatter,
    stop: &AtomicBool,
) -> Result<DumpOutcome, DumpError> {
    let out = pipe::SharedOut::new(out);
    let stdin = Box::new(pipe::FlushingStdin::new(out.clone()));
    let reader = CaptureReader::from_reader("<stdin>".to_owned(), stdin)?;
    run_reader(args, reader, out, local_time, stop)
}

fn run_reader<W: Write>(
    args: &DumpArgs,
    mut reader: CaptureReader,
    out: W,
    local_time: TimeFormatter,
    stop: &AtomicBool,
) -> Result<DumpOutcome, DumpError> {
    let mut pipeline = Pipeline::new(args.pipeline_config(), DumpSink::new(args, out, local_time));
    // Whatever happens to the capture, everything read before the problem is decoded and printed.
    let read = reader.try_for_each_segment(|seg| {
        pipeline.push(seg);
        if pipeline.sink().is_done() || stop.load(Ordering::Relaxed) {
            ControlFlow::Break(())
        } else {
            ControlFlow::Continue(())
        }
    });
    pipeline.finish();
    let counters = Counters {
        capture: Some(reader.stats().clone()),
        #[cfg(feature = "ebpf")]
        kernel: None,
        #[cfg(feature = "ebpf")]
        write_pcap: None,
        pipeline: pipeline.stats(),
    };
    let busiest = pipeline.busiest_other_ports(3);
    pipeline.into_sink().finish(args, &counters)?;
    read?;
    let mut warnings = reader.warnings().to_vec();
    warnings.extend(why_nothing_decoded(&args.ports, &counters, &busiest));
    Ok(DumpOutcome { counters, warnings })
}

/// When a capture decoded no message at all: one line saying why, instead of a silent empty
/// output (no TCP, nothing on the server ports and where the traffic was, or nothing that
/// decodes on them).
fn why_nothing_decoded(
    ports: &[u16],
    counters: &Counters,
    busiest: &[(u16, u64)],
) -> Option<String> {
    let p = &counters.pipeline.decode.protocol;
    if p.requests + p.replies + p.events + p.four_letter_words > 0 {
        return None;
    }
    let ports: Vec<String> = ports.iter().map(u16::to_string).collect();
    let ports = ports.join(", ");
    let tcp = counters.capture.as_ref().map_or(0, |c| c.tcp_segments);
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

/// Runs `zktraffic dump --iface IF` until `shutdown` completes. Must run inside a tokio runtime.
#[cfg(feature = "ebpf")]
pub async fn run_live<W: Write>(
    args: &DumpArgs,
    out: W,
    local_time: TimeFormatter,
    shutdown: impl std::future::Future<Output = ()>,
) -> Result<DumpOutcome, DumpError> {
    use crate::capture::ebpf::{LiveCapture, LiveCaptureConfig};
    use crate::capture::pcap_write::SegmentRecorder;

    let iface = args.iface.clone().unwrap_or_default();
    let mut capture = LiveCapture::start(LiveCaptureConfig {
        iface,
        ports: args.ports.clone(),
        attach: args.live.attach.into(),
        ring_bytes: args.live.ring_bytes,
        verbose_verifier: args.live.verbose,
        ..LiveCaptureConfig::default()
    })?;
    let mut recorder = match &args.write_pcap {
        None => None,
        Some(path) => {
            let file = std::fs::File::create(path).map_err(|source| DumpError::WritePcap {
                path: path.display().to_string(),
                source,
                written: 0,
                lost: 0,
            })?;
            Some((path, SegmentRecorder::new(io::BufWriter::new(file))?))
        }
    };
    let mut record_error: Option<io::Error> = None;
    let mut pcap_stats = WritePcapStats::default();
    let mut pipeline = Pipeline::new(args.pipeline_config(), DumpSink::new(args, out, local_time));
    let mut shutdown = std::pin::pin!(shutdown);
    let mut on_segment = |seg: &crate::capture::Segment<'_>,
                          pipeline: &mut Pipeline<DumpSink<W>>| {
        pipeline.push(seg);
        let Some((path, r)) = &mut recorder else { return };
        if record_error.is_some() {
            pcap_stats.segments_not_written += 1;
        } else if let Err(e) = r.record(seg) {
            // Said at once (a full disk must not wait for Ctrl-C to be noticed), and once.
            log::error!(
                "writing {} failed: {e}; no more segments are written to it (capture goes on)",
                path.display()
            );
            pcap_stats.write_errors += 1;
            pcap_stats.segments_not_written += 1;
            record_error = Some(e);
        } else {
            pcap_stats.segments_written += 1;
        }
    };
    loop {
        tokio::select! {
            batch = capture.next_batch(|seg| on_segment(seg, &mut pipeline)) => batch?,
            () = &mut shutdown => break,
        }
        pipeline.sink_mut().flush()?;
        if pipeline.sink().is_done() {
            break;
        }
    }
    capture.drain(|seg, _| on_segment(seg, &mut pipeline));
    pipeline.finish();
    if let Some((path, r)) = &mut recorder
        && record_error.is_none()
        && let Err(e) = r.flush()
    {
        log::error!("writing {} failed: {e}", path.display());
        pcap_stats.write_errors += 1;
        record_error = Some(e);
    }
    let counters = Counters {
        kernel: Some(LiveCounters {
            kernel: capture.kernel_stats(),
            reader: capture.reader_stats(),
            attachment: capture.attachment_stats(),
        }),
        write_pcap: recorder.is_some().then_some(pcap_stats),
        pipeline: pipeline.stats(),
        ..Counters::default()
    };
    pipeline.into_sink().finish(args, &counters)?;
    if let (Some((path, _)), Some(source)) = (&recorder, record_error) {
        return Err(DumpError::WritePcap {
            path: path.display().to_string(),
            source,
            written: pcap_stats.segments_written,
            lost: pcap_stats.segments_not_written,
        });
    }
    let mut warnings = Vec::new();
    if let Some(mode) = capture.xdp_mode() {
        warnings.push(format!("XDP attached in {mode} mode"));
    }
    Ok(DumpOutcome { counters, warnings })
}

#[cfg(feature = "ebpf")]
impl From<crate::cli::dump::Attach> for crate::capture::ebpf::AttachMode {
    fn from(a: crate::cli::dump::Attach) -> Self {
        use crate::cli::dump::Attach;
        match a {
            Attach::Tc => Self::Tc,
            Attach::Xdp => Self::Xdp,
            Attach::XdpGeneric => Self::XdpGeneric,
        }
    }
}
