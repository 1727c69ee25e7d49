//! bitcoind-style option parsing shared by every Kestrel executable:
//! `-name=value`, `-name`, `-noname`, `--name`, and `key=value` lines in a
//! config file where the command line wins.
//!
//! Each executable passes the option sets it accepts (the tables in
//! [`crate::options`]); every set is listed in
//! [`crate::options::ALL_OPTION_SETS`] so a shared config file may hold them.

use std::collections::BTreeMap;
use std::path::Path;

use crate::options::ALL_OPTION_SETS;

/// How an option takes its value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OptionKind {
    /// On/off: `-x`, `-x=1`, `-x=0`, `-nox`.
    Flag,
    /// One value, the last one given wins: `-x=value`.
    Value,
    /// Repeatable: every `-x=value` is kept; `-x` alone means `1`, `-nox`
    /// clears the list.
    List,
}

/// One accepted option.
#[derive(Debug, Clone, Copy)]
pub struct OptionSpec {
    pub name: &'static str,
    pub kind: OptionKind,
    /// Placeholder for the value in help output, e.g. `<dir>`.
    pub value_hint: &'static str,
    pub help: &'static str,
    /// Options that choose where the config file is cannot come from it.
    pub command_line_only: bool,
}

/// A problem with the command line or the config file.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ArgsError {
    #[error("Invalid parameter -{0}: unknown option; run with -help to list the options")]
    Unknown(String),
    #[error("-{0} requires a value, as in -{0}=<value>")]
    MissingValue(String),
    #[error("-{0} takes no value other than 0 or 1 (got '{1}')")]
    BadFlag(String, String),
    #[error("-no{0} is not allowed: -{0} takes a value, it cannot be negated")]
    CannotNegate(String),
    #[error("{file}, line {line}: {message}")]
    Config {
        file: String,
        line: usize,
        message: String,
    },
    #[error("Cannot read config file {file}: {message}")]
    ConfigUnreadable { file: String, message: String },
}

/// The parsed options of one executable.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Args {
    /// Values from the command line, by option name (flags as "0"/"1").
    command_line: BTreeMap<String, Vec<String>>,
    /// Values from the config file.
    config: BTreeMap<String, Vec<String>>,
    /// Arguments after the options (e.g. the cli's method and params).
    positionals: Vec<String>,
    /// The command-line options as given, with the name each sets, in
    /// order: what a process hands on to one it starts.
    given: Vec<(String, String)>,
}

fn find_spec(sets: &[&[OptionSpec]], name: &str) -> Option<OptionSpec> {
    sets.iter()
        .flat_map(|set| set.iter())
        .find(|spec| spec.name == name)
        .copied()
}

/// The stored value of a flag given as `raw` (`None`: no `=`).
fn flag_value(name: &str, raw: Option<&str>) -> Result<String, ArgsError> {
    match raw {
        None | Some("1") | Some("true") => Ok("1".into()),
        Some("0") | Some("false") => Ok("0".into()),
        Some(other) => Err(ArgsError::BadFlag(name.into(), other.into())),
    }
}

/// Records `name[=raw]` (or its `-no` form) into `into`. Returns false when
/// the option is unknown to `sets`.
fn record(
    sets: &[&[OptionSpec]],
    name: &str,
    raw: Option<&str>,
    into: &mut BTreeMap<String, Vec<String>>,
) -> Result<bool, ArgsError> {
    let (spec, negated) = match find_spec(sets, name) {
        Some(spec) => (spec, false),
        None => match name.strip_prefix("no").and_then(|n| find_spec(sets, n)) {
            Some(spec) => (spec, true),
            None => return Ok(false),
        },
    };
    let name = spec.name.to_string();
    if negated {
        // `-nox=0` is a double negation, meaning `-x`.
        let on = flag_value(&format!("no{name}"), raw)? == "0";
        match spec.kind {
            OptionKind::Flag => {
                into.insert(name, vec![if on { "1" } else { "0" }.into()]);
            }
            OptionKind::List => {
                into.insert(name, if on { vec!["1".into()] } else { Vec::new() });
            }
            OptionKind::Value => return Err(ArgsError::CannotNegate(name)),
        }
        return Ok(true);
    }
    match spec.kind {
        OptionKind::Flag => {
            into.insert(name.clone(), vec![flag_value(&name, raw)?]);
        }
        OptionKind::Value => {
            let value = raw.ok_or_else(|| ArgsError::MissingValue(name.clone()))?;
            into.insert(name, vec![value.to_string()]);
        }
        OptionKind::List => {
            into.entry(name)
                .or_default()
                .push(raw.unwrap_or("1").to_string());
        }
    }
    Ok(true)
}

impl Args {
    /// Parses command-line arguments (without the program name). Options
    /// end at the first argument not starting with `-`; it and the rest are
    /// positionals.
    pub fn parse<I, S>(args: I, sets: &[&[OptionSpec]]) -> Result<Args, ArgsError>
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        let mut parsed = Args::default();
        let mut args = args.into_iter().map(Into::into);
        for arg in args.by_ref() {
            let Some(body) = arg.strip_prefix('-').filter(|b| !b.is_empty()) else {
                parsed.positionals.push(arg);
                break;
            };
            let body = body.strip_prefix('-').unwrap_or(body);
            let (name, raw) = match body.split_once('=') {
                Some((n, v)) => (n, Some(v)),
                None => (body, None),
            };
            let name = match name {
                "h" | "?" => "help",
                other => other,
            };
            if !record(sets, name, raw, &mut parsed.command_line)? {
                return Err(ArgsError::Unknown(name.to_string()));
            }
            parsed.given.push((name.to_string(), arg.clone()));
        }
        parsed.positionals.extend(args);
        Ok(parsed)
    }

    /// Reads `key=value` lines from the config file at `path` (`#` starts a
    /// comment; `[regtest]` sections apply, other networks' sections are
    /// skipped). Keys known to any Kestrel executable are accepted, those
    /// that `sets` does not list are ignored.
    pub fn read_config_file(
        &mut self,
        path: &Path,
        sets: &[&[OptionSpec]],
    ) -> Result<(), ArgsError> {
        let text = std::fs::read_to_string(path).map_err(|e| ArgsError::ConfigUnreadable {
            file: path.display().to_string(),
            message: e.to_string(),
        })?;
        self.read_config_text(&text, &path.display().to_string(), sets)
    }

    fn read_config_text(
        &mut self,
        text: &str,
        file: &str,
        sets: &[&[OptionSpec]],
    ) -> Result<(), ArgsError> {
        let error = |line: usize, message: String| ArgsError::Config {
            file: file.to_string(),
            line,
            message,
        };
        let mut in_other_network = false;
        for (index, raw_line) in text.lines().enumerate() {
            let line_no = index + 1;
            let line = raw_line.split('#').next().unwrap_or("").trim();
            if line.is_empty() {
                continue;
            }
            if let Some(section) = line.strip_prefix('[').and_then(|l| l.strip_suffix(']')) {
                in_other_network = section.trim() != "regtest";
                continue;
            }
            let Some((key, value)) = line.split_once('=') else {
                return Err(error(
                    line_no,
                    format!("'{line}' is not a key=value line (to turn a flag on, write {line}=1)"),
                ));
            };
            let mut key = key.trim();
            let value = value.trim();
            if let Some((network, rest)) = key.split_once('.') {
                if network != "regtest" {
                    continue;
                }
                key = rest;
            }
            if in_other_network {
                continue;
            }
            let bare = key.strip_prefix("no").unwrap_or(key);
            let known =
                find_spec(ALL_OPTION_SETS, key).or_else(|| find_spec(ALL_OPTION_SETS, bare));
            match known {
                None => {
                    return Err(error(
                        line_no,
                        format!("unknown option '{key}'; see -help for the options"),
                    ))
                }
                Some(spec) if spec.command_line_only => {
                    return Err(error(
                        line_no,
                        format!("-{} can only be given on the command line", spec.name),
                    ))
                }
                Some(_) => {
                    record(sets, key, Some(value), &mut self.config)
                        .map_err(|e| error(line_no, e.to_string()))?;
                }
            }
        }
        Ok(())
    }

    /// All values of `name`: from the command line if given there, else
    /// from the config file.
    pub fn values(&self, name: &str) -> &[String] {
        self.command_line
            .get(name)
            .or_else(|| self.config.get(name))
            .map(Vec::as_slice)
            .unwrap_or(&[])
    }

    /// The value of a single-valued option (the last given).
    pub fn value(&self, name: &str) -> Option<&str> {
        self.values(name).last().map(String::as_str)
    }

    /// Whether a flag is on.
    pub fn flag(&self, name: &str) -> bool {
        self.value(name) == Some("1")
    }

    /// Arguments after the options.
    pub fn positionals(&self) -> &[String] {
        &self.positionals
    }

    /// The command-line options as given, in order, but those named in
    /// `left_out` (as `-name` or `-noname`).
    pub fn command_line_without(&self, left_out: &[&str]) -> Vec<String> {
        self.given
            .iter()
            .filter(|(name, _)| {
                let bare = name.strip_prefix("no").unwrap_or(name);
                !left_out.contains(&name.as_str()) && !left_out.contains(&bare)
            })
            .map(|(_, arg)| arg.clone())
            .collect()
    }
}

/// Help text listing `sets`, for `-help`.
pub fn help_text(usage: &str, sets: &[&[OptionSpec]]) -> String {
    let mut text = format!("{usage}\n\nOptions:\n");
    for spec in sets.iter().flat_map(|s| s.iter()) {
        let head = match spec.kind {
            OptionKind::Flag => format!("-{}", spec.name),
            _ => format!("-{}={}", spec.name, spec.value_hint),
        };
        text.push_str(&format!("  {head}\n       {}\n", spec.help));
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::options::{CLI_OPTIONS, COMMON_OPTIONS, LOG_OPTIONS, NODE_OPTIONS};

    const NODE: &[&[OptionSpec]] = &[COMMON_OPTIONS, LOG_OPTIONS, NODE_OPTIONS];

    fn parse(args: &[&str]) -> Result<Args, ArgsError> {
        Args::parse(args.iter().copied(), NODE)
    }

    #[test]
    fn value_forms_and_double_dash() {
        let args = parse(&["-datadir=/tmp/x", "--rpcport=1234", "-regtest"]).unwrap();
        assert_eq!(args.value("datadir"), Some("/tmp/x"));
        assert_eq!(args.value("rpcport"), Some("1234"));
        assert!(args.flag("regtest"));
        assert!(!args.flag("printtoconsole"));
    }

    #[test]
    fn last_value_wins_and_negation_turns_flags_off() {
        let args = parse(&[
            "-rpcport=1",
            "-rpcport=2",
            "-printtoconsole",
            "-noprinttoconsole",
        ])
        .unwrap();
        assert_eq!(args.value("rpcport"), Some("2"));
        assert!(!args.flag("printtoconsole"));
        let args = parse(&["-noprinttoconsole=0"]).unwrap();
        assert!(args.flag("printtoconsole"));
    }

    #[test]
    fn lists_accumulate_and_nodebug_clears() {
        let args = parse(&["-debug=rpc", "-debug=ipc"]).unwrap();
        assert_eq!(args.values("debug"), ["rpc", "ipc"]);
        let args = parse(&["-debug"]).unwrap();
        assert_eq!(args.values("debug"), ["1"]);
        let args = parse(&["-debug=rpc", "-nodebug"]).unwrap();
        assert!(args.values("debug").is_empty());
    }

    #[test]
    fn bad_options_are_named() {
        assert_eq!(
            parse(&["-bogus=1"]).unwrap_err(),
            ArgsError::Unknown("bogus".into())
        );
        assert_eq!(
            parse(&["-datadir"]).unwrap_err(),
            ArgsError::MissingValue("datadir".into())
        );
        assert_eq!(
            parse(&["-printtoconsole=yes"]).unwrap_err(),
            ArgsError::BadFlag("printtoconsole".into(), "yes".into())
        );
        assert_eq!(
            parse(&["-norpcport"]).unwrap_err(),
            ArgsError::CannotNegate("rpcport".into())
        );
        let message = parse(&["-bogus"]).unwrap_err().to_string();
        assert!(
            message.contains("-bogus") && message.contains("-help"),
            "{message}"
        );
    }

    #[test]
    fn options_stop_at_first_positional() {
        let args = Args::parse(
            ["-rpcport=5", "getblockhash", "-1", "x"],
            &[COMMON_OPTIONS, CLI_OPTIONS],
        )
        .unwrap();
        assert_eq!(args.positionals(), ["getblockhash", "-1", "x"]);
        assert_eq!(args.value("rpcport"), Some("5"));
    }

    #[test]
    fn options_are_handed_on_as_given_but_those_left_out() {
        let args = parse(&["--datadir=/d", "-debug", "-rpcport=1", "-nodebug"]).unwrap();
        assert_eq!(
            args.command_line_without(&["debug"]),
            ["--datadir=/d", "-rpcport=1"]
        );
        assert_eq!(args.command_line_without(&[]).len(), 4);
    }

    #[test]
    fn help_aliases() {
        assert!(parse(&["-?"]).unwrap().flag("help"));
        assert!(parse(&["-h"]).unwrap().flag("help"));
        assert!(parse(&["--help"]).unwrap().flag("help"));
    }

    #[test]
    fn config_file_values_yield_to_command_line() {
        let mut args = parse(&["-rpcport=9"]).unwrap();
        let conf = "# comment\nrpcport=1\nrpcuser = alice # trailing\nprinttoconsole=1\ndebug=rpc\ndebug=wallet\n\
                    [main]\nrpcpassword=ignored\n[regtest]\nrpcpassword=secret\nmain.rpcbind=1.2.3.4\n";
        args.read_config_text(conf, "kestrel.conf", NODE).unwrap();
        assert_eq!(args.value("rpcport"), Some("9"));
        assert_eq!(args.value("rpcuser"), Some("alice"));
        assert_eq!(args.value("rpcpassword"), Some("secret"));
        assert_eq!(args.value("rpcbind"), None);
        assert!(args.flag("printtoconsole"));
        assert_eq!(args.values("debug"), ["rpc", "wallet"]);
    }

    #[test]
    fn config_keys_of_other_executables_are_ignored() {
        let mut args = Args::parse(Vec::<String>::new(), &[COMMON_OPTIONS, CLI_OPTIONS]).unwrap();
        args.read_config_text(
            "printtoconsole=1\nrpcwait=1\n",
            "c",
            &[COMMON_OPTIONS, CLI_OPTIONS],
        )
        .unwrap();
        assert!(args.flag("rpcwait"));
        assert!(!args.flag("printtoconsole"));
    }

    #[test]
    fn config_errors_name_file_and_line() {
        let mut args = Args::default();
        let err = args
            .read_config_text("rpcport=1\nbogus=2\n", "my.conf", NODE)
            .unwrap_err();
        assert_eq!(
            err.to_string(),
            "my.conf, line 2: unknown option 'bogus'; see -help for the options"
        );
        let err = args
            .read_config_text("printtoconsole\n", "my.conf", NODE)
            .unwrap_err();
        assert!(err.to_string().contains("line 1"), "{err}");
        let err = args
            .read_config_text("datadir=/x\n", "my.conf", NODE)
            .unwrap_err();
        assert!(
            err.to_string()
                .contains("only be given on the command line"),
            "{err}"
        );
    }

    #[test]
    fn help_lists_every_option() {
        let text = help_text("Usage: kestreld [options]", NODE);
        for spec in NODE.iter().flat_map(|s| s.iter()) {
            assert!(text.contains(&format!("-{}", spec.name)), "{}", spec.name);
        }
    }
}
