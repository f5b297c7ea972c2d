//! The screen: header, sparkline, view tabs, the current view's table, the key line and the
//! help overlay, laid out for whatever size the terminal has (80×24 shows everything;
//! narrower terminals lose the least useful columns first, shorter ones the header lines).

use std::fmt::Write as _;

use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Cell, Clear, Paragraph, Row, Sparkline, Table};

use super::keys::{KEYS, UiState};
use super::model::{self, Column, Data, Kind, Scope, Tab, Value};

/// Colours, or none (`NO_COLOR`): emphasis then stays, as bold and reverse video.
#[derive(Clone, Copy, Debug)]
pub struct Theme {
    /// Colours allowed.
    pub color: bool,
}

impl Theme {
    /// Colours unless `NO_COLOR` is set to something (no-color.org).
    pub fn from_env() -> Self {
        Theme { color: std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty()) }
    }

    fn fg(self, c: Color) -> Style {
        if self.color { Style::new().fg(c) } else { Style::new() }
    }

    fn label(self) -> Style {
        self.fg(Color::Cyan)
    }

    fn bad(self) -> Style {
        self.fg(Color::Red).add_modifier(Modifier::BOLD)
    }

    fn note(self) -> Style {
        self.fg(Color::Yellow).add_modifier(Modifier::BOLD)
    }
}

/// Draws one frame.
pub fn draw(frame: &mut Frame<'_>, data: &Data, state: &UiState, theme: Theme) {
    let area = frame.area();
    // Header lines as the height allows: all three from 12 rows, the first from 6.
    let header = match area.height {
        h if h >= 12 => 3,
        h if h >= 6 => 1,
        _ => 0,
    };
    let footer = u16::from(area.height >= 8);
    let [head, tabs, body, foot] = Layout::vertical([
        Constraint::Length(header),
        Constraint::Length(u16::from(area.height >= 3)),
        Constraint::Min(0),
        Constraint::Length(footer),
    ])
    .areas(area);
    draw_header(frame, head, data, state, theme);
    frame.render_widget(Paragraph::new(tab_line(state, theme)), tabs);
    let opts = state.table_options();
    let table = model::table(data, state.tab, &opts);
    if state.tab == Tab::Ensemble {
        let lines = model::ensemble_summary(data);
        let [top, bottom] =
            Layout::vertical([Constraint::Length(lines.len() as u16 + 1), Constraint::Min(0)])
                .areas(body);
        let text: Vec<Line<'_>> = lines.into_iter().map(Line::from).collect();
        frame.render_widget(Paragraph::new(text), top);
        draw_table(frame, bottom, &table, state, theme, Some(opts.sort));
    } else if state.tab == Tab::Watches {
        let [top, bottom] =
            Layout::vertical([Constraint::Percentage(60), Constraint::Percentage(40)]).areas(body);
        draw_table(frame, top, &table, state, theme, Some(opts.sort));
        let clients = model::watch_clients(data, &opts);
        draw_table(frame, bottom, &clients, state, theme, None);
    } else {
        draw_table(frame, body, &table, state, theme, Some(opts.sort));
    }
    frame.render_widget(Paragraph::new(footer_line(state, theme)), foot);
    if state.help {
        draw_help(frame, area);
    }
}

fn draw_header(frame: &mut Frame<'_>, area: Rect, data: &Data, state: &UiState, theme: Theme) {
    if area.height == 0 {
        return;
    }
    let h = &data.header;
    let rows = Layout::vertical([Constraint::Length(1); 3]).split(area);
    let ports: Vec<String> = h.ports.iter().map(u16::to_string).collect();
    let up = h.uptime.as_secs();
    let mut first = vec![Span::styled("zktraffic top", Style::new().add_modifier(Modifier::BOLD))];
    if state.frozen {
        first.push(Span::styled(" FROZEN", theme.note()));
    }
    if h.finished {
        first.push(Span::styled(" FINISHED", theme.note()));
    }
    // A file by its name: the directory rarely fits.
    let source = if h.live {
        h.source.clone()
    } else {
        std::path::Path::new(&h.source)
            .file_name()
            .map_or_else(|| h.source.clone(), |n| n.to_string_lossy().into_owned())
    };
    let scope = match state.scope {
        Scope::Rates => format!("rates over {:.0}s", data.span_s),
        Scope::Totals => "totals".to_owned(),
    };
    // The source last: a long file name is what the width cuts.
    first.push(Span::raw(format!(
        "  up {}:{:02}:{:02}  {scope}  :{}  {source} ({})",
        up / 3600,
        up / 60 % 60,
        up % 60,
        ports.join(","),
        if h.live { "live" } else { "replay" },
    )));
    if let Some(p) = &h.problem {
        first.push(Span::styled(format!("  {p}"), theme.bad()));
    }
    frame.render_widget(Paragraph::new(Line::from(first)), rows[0]);
    if area.height < 3 {
        return;
    }
    let stat = |label: &str, value: String, bad: bool| {
        [
            Span::styled(format!("{label} "), theme.label()),
            Span::styled(format!("{value}  "), if bad { theme.bad() } else { Style::new() }),
        ]
    };
    let rates = [
        stat("req/s", count(h.requests), false),
        stat("rep/s", count(h.replies), false),
        stat("err/s", count(h.errors), h.errors > 0.0),
        stat("ev/s", count(h.events), false),
        stat("sessions", h.sessions.to_string(), false),
        stat("p50", micros(h.p50_us), false),
        stat("p99", micros(h.p99_us), false),
    ];
    frame.render_widget(Paragraph::new(Line::from(rates.concat())), rows[1]);
    let l = &h.losses;
    let losses = [
        stat("ring drops", l.ring.to_string(), l.ring > 0),
        stat("kernel", l.kernel.to_string(), l.kernel > 0),
        stat("gaps", l.gaps.to_string(), l.gaps > 0),
        stat("queue", l.queue.to_string(), l.queue > 0),
        stat("decode", l.decode.to_string(), l.decode > 0),
    ];
    let spark_width = rows[2].width.saturating_sub(56).min(60);
    let [left, label, spark] = Layout::horizontal([
        Constraint::Min(0),
        Constraint::Length(if spark_width > 0 { 4 } else { 0 }),
        Constraint::Length(spark_width.saturating_sub(4)),
    ])
    .areas(rows[2]);
    frame.render_widget(Paragraph::new(Line::from(losses.concat())), left);
    frame.render_widget(Paragraph::new(Span::styled("p99 ", theme.label())), label);
    let points: Vec<u64> = data
        .history
        .iter()
        .rev()
        .take(usize::from(spark.width))
        .rev()
        .map(|p| p.p99_us.unwrap_or(0.0) as u64)
        .collect();
    frame.render_widget(Sparkline::default().data(&points).style(theme.fg(Color::Green)), spark);
}

fn tab_line(state: &UiState, theme: Theme) -> Line<'static> {
    let mut spans = vec![Span::raw(" ")];
    for (i, tab) in Tab::ALL.iter().enumerate() {
        let style = if *tab == state.tab {
            theme.fg(Color::Cyan).add_modifier(Modifier::REVERSED | Modifier::BOLD)
        } else {
            Style::new()
        };
        spans.push(Span::styled(format!("{} {}", i + 1, tab.title()), style));
        spans.push(Span::raw(" "));
    }
    let (sort, reverse) = state.sort();
    let column = state.tab.columns()[sort.min(state.tab.columns().len() - 1)];
    let natural_down = !matches!(column.kind, Kind::Text | Kind::Path);
    let arrow = if natural_down != reverse { '↓' } else { '↑' };
    // What hides rows first: it must not be cut off.
    let mut info = String::from("│");
    if !state.filter.is_empty() {
        let _ = write!(info, " filter {}", state.filter);
    }
    let _ = write!(info, " by {}{arrow}", title(&column, state.scope));
    if state.depth > 0 {
        let _ = write!(info, " depth {}", state.depth);
    }
    spans.push(Span::styled(info, theme.label()));
    Line::from(spans)
}

fn footer_line(state: &UiState, theme: Theme) -> Line<'static> {
    if let Some(text) = &state.editing {
        return Line::from(vec![
            Span::styled("filter: ", theme.label()),
            Span::raw(format!("{text}█")),
            Span::raw("  (a path prefix or any text; Enter applies, Esc clears)"),
        ]);
    }
    let keys = [
        ("q", "quit"),
        ("?", "help"),
        ("Tab", "view"),
        ("<>", "sort"),
        ("+-", "depth"),
        ("/", "filter"),
        ("␣", "freeze"),
        ("t", "totals"),
        ("^R", "reset"),
    ];
    let mut spans = Vec::new();
    for (k, what) in keys {
        spans.push(Span::styled(k, Style::new().add_modifier(Modifier::REVERSED)));
        spans.push(Span::raw(format!(" {what} ")));
    }
    Line::from(spans)
}

fn title(c: &Column, scope: Scope) -> &'static str {
    match scope {
        Scope::Rates => c.rate_title,
        Scope::Totals => c.total_title,
    }
}

/// The columns that fit in `width`: the least useful go first; the first column takes what
/// is left (at least 12 cells).
fn fitting(columns: &[Column], width: u16) -> Vec<usize> {
    let mut keep: Vec<usize> = (0..columns.len()).collect();
    let need = |keep: &[usize]| -> u16 {
        let rest: u16 = keep.iter().skip(1).map(|&i| columns[i].width + 1).sum();
        rest + 12
    };
    while need(&keep) > width {
        let Some(pos) = (1..keep.len())
            .filter(|&p| columns[keep[p]].drop_order > 0)
            .max_by_key(|&p| columns[keep[p]].drop_order)
        else {
            break;
        };
        keep.remove(pos);
    }
    // Still too wide: the last columns go, whatever their use.
    while keep.len() > 1 && need(&keep) > width {
        keep.pop();
    }
    keep
}

fn draw_table(
    frame: &mut Frame<'_>,
    area: Rect,
    table: &model::Table,
    state: &UiState,
    theme: Theme,
    sorted: Option<usize>,
) {
    if area.height == 0 || area.width == 0 {
        return;
    }
    let shown = fitting(table.columns, area.width);
    let widths: Vec<Constraint> =
        shown
            .iter()
            .enumerate()
            .map(|(n, &i)| {
                if n == 0 {
                    Constraint::Min(12)
                } else {
                    Constraint::Length(table.columns[i].width)
                }
            })
            .collect();
    let header = Row::new(shown.iter().map(|&i| {
        let c = &table.columns[i];
        let mut style = Style::new().add_modifier(Modifier::BOLD);
        if sorted == Some(i) {
            style = style.add_modifier(Modifier::UNDERLINED);
        }
        let text = title(c, state.scope);
        Cell::from(align(text, c)).style(style)
    }));
    let rows = table.rows.iter().take(usize::from(area.height)).map(|row| {
        Row::new(shown.iter().map(|&i| {
            let c = &table.columns[i];
            let text = format_value(&row[i], c.kind);
            let bad = c.key == "errors" && matches!(row[i], Value::Num(n) if n > 0.0);
            Cell::from(align(&text, c)).style(if bad { theme.bad() } else { Style::new() })
        }))
    });
    let widget = Table::new(rows, widths).header(header).column_spacing(1);
    if table.rows.is_empty() {
        let [head, note] =
            Layout::vertical([Constraint::Length(1), Constraint::Min(0)]).areas(area);
        frame.render_widget(widget, head);
        let why = match (state.filter.is_empty(), state.scope) {
            (false, _) => "no row matches the filter (Esc clears it)",
            _ if state.tab == Tab::Ensemble => "no learner connection seen",
            (true, Scope::Rates) => "nothing in the window (t: totals since start)",
            (true, Scope::Totals) => "nothing yet",
        };
        frame.render_widget(Paragraph::new(Span::styled(why, theme.label())), note);
    } else {
        frame.render_widget(widget, area);
    }
}

/// Numbers right-aligned in their column, text as it is.
fn align(text: &str, c: &Column) -> Line<'static> {
    let line = Line::from(text.to_owned());
    match c.kind {
        Kind::Text | Kind::Path => line,
        _ => line.right_aligned(),
    }
}

/// A value as the screen shows it.
pub fn format_value(v: &Value, kind: Kind) -> String {
    match (v, kind) {
        (Value::Text(t), _) => t.clone(),
        (Value::None, _) => "-".to_owned(),
        (Value::Num(n), Kind::Micros) => micros(Some(*n)),
        (Value::Num(n), Kind::Bytes) => bytes(*n),
        (Value::Num(n), Kind::Ago) if *n < 1.0 => "<1s".to_owned(),
        (Value::Num(n), Kind::Ago) => format!("{n:.0}s"),
        (Value::Num(n), _) => count(*n),
    }
}

/// `0`, `3.5`, `120`, `12.3k`, `4.5M`.
fn count(n: f64) -> String {
    match n {
        0.0 => "0".to_owned(),
        n if n < 10.0 && n.fract() != 0.0 => format!("{n:.1}"),
        n if n < 10_000.0 => format!("{n:.0}"),
        n if n < 10_000_000.0 => format!("{:.1}k", n / 1e3),
        n => format!("{:.1}M", n / 1e6),
    }
}

/// `850µs`, `12.5ms`, `1.20s`.
fn micros(us: Option<f64>) -> String {
    match us {
        None => "-".to_owned(),
        Some(us) if us < 1_000.0 => format!("{us:.0}µs"),
        Some(us) if us < 1_000_000.0 => format!("{:.1}ms", us / 1e3),
        Some(us) => format!("{:.2}s", us / 1e6),
    }
}

/// `512B`, `1.5K`, `3.0M`.
fn bytes(n: f64) -> String {
    match n {
        n if n < 1024.0 => format!("{n:.0}B"),
        n if n < 1024.0 * 1024.0 => format!("{:.1}K", n / 1024.0),
        n if n < 1024.0 * 1024.0 * 1024.0 => format!("{:.1}M", n / (1024.0 * 1024.0)),
        n => format!("{:.1}G", n / (1024.0 * 1024.0 * 1024.0)),
    }
}

fn draw_help(frame: &mut Frame<'_>, area: Rect) {
    let width = area.width.min(76);
    let height = area.height.min(KEYS.len() as u16 + 2);
    let x = area.x + (area.width - width) / 2;
    let y = area.y + (area.height - height) / 2;
    let rect = Rect { x, y, width, height };
    let lines: Vec<Line<'_>> = KEYS
        .iter()
        .map(|(k, what)| {
            Line::from(vec![
                Span::styled(format!("{k:>20}  "), Style::new().add_modifier(Modifier::BOLD)),
                Span::raw(*what),
            ])
        })
        .collect();
    frame.render_widget(Clear, rect);
    frame.render_widget(Paragraph::new(lines).block(Block::bordered().title(" keys ")), rect);
}
