//! `--config FILE` (serve, top): a TOML file of settings named as the long flags
//! (`iface = "eth0"`, `http-addr = ":7070"`, `port = [2181, 2182]`, `exclude-bytes = true`,
//! `verbose = 2`). A flag on the command line overrides the file's setting. The file's settings
//! become flags and go through the same parser, so they are checked exactly as flags are, and
//! an error names the file's line.

use std::ffi::OsString;
use std::path::{Path, PathBuf};

use clap::parser::ValueSource;
use clap::{ArgAction, ArgMatches, CommandFactory, FromArgMatches};
use toml::Value;

use super::Cli;

/// Why the command line and its config file do not make an invocation.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The command line itself (clap prints it, with usage).
    #[error(transparent)]
    Usage(#[from] clap::Error),
    /// The file cannot be read.
    #[error("cannot read the config file {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// What the OS said.
        source: std::io::Error,
    },
    /// The file is not TOML.
    #[error("{path}: {message}")]
    Syntax {
        /// The file.
        path: PathBuf,
        /// The parser's message, with the line and column.
        message: String,
    },
    /// A setting is wrong.
    #[error("{path} line {line}: `{key}`: {message}")]
    Setting {
        /// The file.
        path: PathBuf,
        /// 1-based line of the setting.
        line: usize,
        /// The setting.
        key: String,
        /// What is wrong.
        message: String,
    },
}

/// Parses `argv` and, when it names `--config FILE`, adds the file's settings that the command
/// line does not override.
pub fn parse_cli<I, T>(argv: I) -> Result<Cli, ConfigError>
where
    I: IntoIterator<Item = T>,
    T: Into<OsString> + Clone,
{
    let argv: Vec<OsString> = argv.into_iter().map(Into::into).collect();
    let matches = Cli::command().try_get_matches_from(&argv)?;
    let (name, sub) = match matches.subcommand() {
        Some((name, sub)) => (Some(name.to_owned()), sub),
        None => (None, &matches),
    };
    let Some(path) = sub.try_get_one::<PathBuf>("config").ok().flatten().cloned() else {
        return Ok(Cli::from_arg_matches(&matches)?);
    };
    let command = Cli::command();
    let command = match &name {
        Some(n) => command.find_subcommand(n).cloned().unwrap_or(command),
        None => command,
    };
    let text = std::fs::read_to_string(&path)
        .map_err(|source| ConfigError::Read { path: path.clone(), source })?;
    let settings = file_flags(&path, &text, &command, sub)?;
    let given = argv.len();
    let mut full = argv;
    full.extend(settings.iter().flat_map(|(_, _, flags)| flags.iter().map(OsString::from)));
    match Cli::command().try_get_matches_from(&full) {
        Ok(m) => Ok(Cli::from_arg_matches(&m)?),
        Err(e) => {
            // Name the file's line when the error is about one of its settings.
            let said = e.to_string();
            let culprit = settings.iter().find(|(_, long, _)| said.contains(&format!("--{long}")));
            let from_cli = |long: &str| argv_names(&full[..given], long);
            match culprit {
                Some((line, long, _)) if !from_cli(long) => Err(ConfigError::Setting {
                    path,
                    line: *line,
                    key: long.clone(),
                    message: said
                        .lines()
                        .next()
                        .unwrap_or_default()
                        .trim_start_matches("error: ")
                        .to_owned(),
                }),
                _ => Err(e.into()),
            }
        }
    }
}

/// Whether `argv` names `--long` itself.
fn argv_names(argv: &[OsString], long: &str) -> bool {
    let flag = format!("--{long}");
    argv.iter().any(|a| a.to_str().is_some_and(|a| a == flag || a.starts_with(&format!("{flag}="))))
}

/// The file's settings as flags: (line, long name, flags), skipping those the command line
/// gives.
fn file_flags(
    path: &Path,
    text: &str,
    command: &clap::Command,
    given: &ArgMatches,
) -> Result<Vec<(usize, String, Vec<String>)>, ConfigError> {
    let table: toml::Table = text.parse().map_err(|e: toml::de::Error| ConfigError::Syntax {
        path: path.to_owned(),
        message: e.to_string().trim_end().to_owned(),
    })?;
    let mut out = Vec::new();
    for (key, value) in &table {
        let line = line_of(text, key);
        let bad = |message: String| ConfigError::Setting {
            path: path.to_owned(),
            line,
            key: key.clone(),
            message,
        };
        let long = key.replace('_', "-");
        let Some(arg) = command.get_arguments().find(|a| a.get_long() == Some(long.as_str()))
        else {
            return Err(bad(format!(
                "no such setting for `zktraffic {}` (settings are its long flags, see --help)",
                command.get_name()
            )));
        };
        if long == "config" {
            return Err(bad("a config file cannot name another".to_owned()));
        }
        if given.value_source(arg.get_id().as_str()) == Some(ValueSource::CommandLine) {
            continue;
        }
        let flag = format!("--{long}");
        let scalar = |v: &Value| -> Result<String, ConfigError> {
            match v {
                Value::String(s) => Ok(s.clone()),
                Value::Integer(n) => Ok(n.to_string()),
                Value::Float(f) => Ok(f.to_string()),
                Value::Boolean(b) => Ok(b.to_string()),
                _ => Err(bad("expected a string, number or boolean".to_owned())),
            }
        };
        let flags = match (value, arg.get_action()) {
            (Value::Boolean(on), ArgAction::SetTrue) => {
                if *on {
                    vec![flag]
                } else {
                    vec![]
                }
            }
            (Value::Integer(n), ArgAction::Count) => {
                let n = usize::try_from(*n).map_err(|_| bad("expected a count".to_owned()))?;
                vec![flag; n]
            }
            (Value::Array(items), ArgAction::Append) => items
                .iter()
                .map(|v| scalar(v).map(|s| format!("{flag}={s}")))
                .collect::<Result<_, _>>()?,
            (Value::Array(_), _) => return Err(bad("takes one value, not a list".to_owned())),
            (Value::Boolean(_), ArgAction::Count) => {
                return Err(bad("expected a count (e.g. 2)".to_owned()));
            }
            (v, _) => vec![format!("{flag}={}", scalar(v)?)],
        };
        out.push((line, long, flags));
    }
    Ok(out)
}

/// The 1-based line where `key` is set (1 when not found, e.g. an exotic quoting).
fn line_of(text: &str, key: &str) -> usize {
    let quoted = format!("\"{key}\"");
    text.lines()
        .position(|l| {
            let l = l.trim_start();
            let rest = l.strip_prefix(&quoted).or_else(|| l.strip_prefix(key));
            rest.is_some_and(|r| r.trim_start().starts_with('='))
        })
        .map_or(1, |i| i + 1)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cli::Command;

    fn with_file(text: &str, args: &[&str]) -> Result<Cli, ConfigError> {
        let file = tempfile::NamedTempFile::new().unwrap();
        std::fs::write(file.path(), text).unwrap();
        let path = file.path().to_str().unwrap().to_owned();
        let mut argv = vec!["zktraffic".to_owned()];
        argv.extend(args.iter().map(|a| a.to_string()));
        argv.extend(["--config".to_owned(), path]);
        parse_cli(argv)
    }

    fn serve(cli: Cli) -> crate::cli::ServeArgs {
        match cli.into_command() {
            Command::Serve(a) => a,
            other => panic!("not serve: {other:?}"),
        }
    }

    #[test]
    fn the_file_fills_in_what_the_command_line_does_not_say() {
        let text = "iface = \"eth7\"\nwindow = 30\nport = [2181, 2182]\nexclude-bytes = true\n\
                    max_paths = 50\nverbose = 2\nhttp-addr = \":7075\"\n";
        let a = serve(with_file(text, &["serve", "--window", "5"]).unwrap());
        assert_eq!(a.collect.iface.as_deref(), Some("eth7"));
        assert_eq!(a.window, 5, "the flag wins");
        assert_eq!(a.collect.ports, [2181, 2182]);
        assert!(a.exclude_bytes);
        assert_eq!((a.collect.max_paths, a.collect.log.verbose), (50, 2));
        assert_eq!(a.listen_addr().port(), 7075);
        // The bare form (no subcommand) is the daemon too; a flag's list replaces the file's.
        let a = serve(with_file(text, &["--port", "3000"]).unwrap());
        assert_eq!((a.collect.ports.as_slice(), a.window), (&[3000][..], 30));
    }

    #[test]
    fn errors_name_the_line() {
        let e = with_file("window = 30\n\nno-such-flag = 1\n", &["serve"]).unwrap_err();
        let said = e.to_string();
        assert!(said.contains("line 3: `no-such-flag`: no such setting"), "{said}");
        let e = with_file("iface = \"lo\"\nwindow = \"soon\"\n", &["serve"]).unwrap_err();
        assert!(e.to_string().contains("line 2: `window`"), "{e}");
        let e = with_file("window = [1, 2]\n", &["serve"]).unwrap_err();
        assert!(e.to_string().contains("line 1: `window`: takes one value"), "{e}");
        let e = with_file("window = \n", &["serve"]).unwrap_err();
        assert!(matches!(e, ConfigError::Syntax { .. }) && e.to_string().contains("line 1"), "{e}");
        let e = with_file("pcap = \"x.pcap\"\n", &["serve", "--iface", "lo"]).unwrap_err();
        assert!(e.to_string().contains("line 1: `pcap`"), "{e}");
        // A flag's own mistake stays clap's.
        let e = with_file("", &["serve", "--window", "x"]).unwrap_err();
        assert!(matches!(e, ConfigError::Usage(_)), "{e}");
    }
}
