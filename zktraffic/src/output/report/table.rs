//! The `--measure-latency` table in the original's layout (Python `tabulate`, "simple" format,
//! numbers as `%g` seconds aligned on the decimal point).

use std::io::{self, Write};

use serde::Serialize;

/// Writes the header, the dashes and one line per row.
pub(super) fn write_latency(
    out: &mut impl Write,
    label: &str,
    rows: &[LatencyRow],
) -> io::Result<()> {
    let headers = [label, "avg", "p50", "p95", "p99", "max", "errors"];
    let mut columns: Vec<Vec<String>> = vec![Vec::new(); headers.len()];
    for r in rows {
        columns[0].push(r.key.clone());
        for (i, us) in [r.avg_us, r.p50_us, r.p95_us, r.p99_us, r.max_us].into_iter().enumerate() {
            columns[i + 1].push(general(us / 1e6));
        }
        columns[6].push(r.errors.to_string());
    }
    for column in &mut columns[1..] {
        align_decimal(column);
    }
    let widths: Vec<usize> = headers
        .iter()
        .zip(&columns)
        .map(|(h, c)| {
            c.iter().map(|s| s.chars().count()).chain([h.chars().count()]).max().unwrap_or(0)
        })
        .collect();
    let line = |cells: Vec<String>| -> String {
        let mut s = String::new();
        for (i, (cell, w)) in cells.iter().zip(&widths).enumerate() {
            if i > 0 {
                s.push_str("  ");
            }
            let pad = w - cell.chars().count();
            if i == 0 {
                s.push_str(cell);
                s.extend(std::iter::repeat_n(' ', pad));
            } else {
                s.extend(std::iter::repeat_n(' ', pad));
                s.push_str(cell);
            }
        }
        s.trim_end().to_owned()
    };
    writeln!(out, "{}", line(headers.iter().map(|h| (*h).to_owned()).collect()))?;
    writeln!(out, "{}", line(widths.iter().map(|&w| "-".repeat(w)).collect()))?;
    for i in 0..rows.len() {
        writeln!(out, "{}", line(columns.iter().map(|c| c[i].clone()).collect()))?;
    }
    Ok(())
}

/// Pads a numeric column so that the decimal points line up (what tabulate does).
fn align_decimal(column: &mut [String]) {
    let split = |s: &str| s.find('.').unwrap_or(s.len());
    let int = column.iter().map(|s| split(s)).max().unwrap_or(0);
    let frac = column.iter().map(|s| s.len() - split(s)).max().unwrap_or(0);
    for s in column.iter_mut() {
        let (i, f) = (split(s), s.len() - split(s));
        *s = format!("{}{s}{}", " ".repeat(int - i), " ".repeat(frac - f));
    }
}

/// Python's `%g`: six significant digits, trailing zeros dropped, exponent form below 1e-4 or
/// from 1e6.
fn general(v: f64) -> String {
    if v == 0.0 || !v.is_finite() {
        return if v.is_finite() { "0".to_owned() } else { v.to_string() };
    }
    let sci = format!("{v:.5e}");
    let (mantissa, exp) = sci.split_once('e').unwrap_or((&sci, "0"));
    let exp: i32 = exp.parse().unwrap_or(0);
    if !(-4..6).contains(&exp) {
        let m = trim_zeros(mantissa);
        let sign = if exp < 0 { '-' } else { '+' };
        return format!("{m}e{sign}{:02}", exp.abs());
    }
    let decimals = (5 - exp).max(0) as usize;
    trim_zeros(&format!("{v:.decimals$}")).to_owned()
}

fn trim_zeros(s: &str) -> &str {
    if s.contains('.') { s.trim_end_matches('0').trim_end_matches('.') } else { s }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn general_matches_python() {
        assert_eq!(general(0.00723696), "0.00723696");
        assert_eq!(general(0.000956059), "0.000956059");
        assert_eq!(general(0.0000123), "1.23e-05");
        assert_eq!(general(1.5), "1.5");
        assert_eq!(general(1234567.0), "1.23457e+06");
        assert_eq!(general(0.0), "0");
        assert_eq!(general(0.000893736_4), "0.000893736");
    }
}

/// A `--measure-latency` row, in microseconds; percentiles as the original computes them
/// (linear interpolation between the closest ranks).
#[derive(Debug, Serialize, PartialEq)]
pub struct LatencyRow {
    pub key: String,
    pub count: u64,
    pub avg_us: f64,
    pub p50_us: f64,
    pub p95_us: f64,
    pub p99_us: f64,
    pub max_us: f64,
    pub errors: u64,
}
