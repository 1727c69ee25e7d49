//! kestrel-cli's logic: turning the command line into a JSON-RPC call and
//! the reply into bitcoin-cli's output.

use std::net::SocketAddr;
use std::path::Path;
use std::time::{Duration, Instant};

use kestrel_common::args::{help_text, Args, OptionSpec};
use kestrel_common::config::{self, ConfigError};
use kestrel_common::options::{CLI_OPTIONS, COMMON_OPTIONS};
use kestrel_rpc::auth::{read_cookie, RpcAuth};
use kestrel_rpc::client::{CallError, RpcClient};
use serde_json::Value;

const OPTION_SETS: &[&[OptionSpec]] = &[COMMON_OPTIONS, CLI_OPTIONS];

const USAGE: &str = "Usage: kestrel-cli [options] <command> [params]\n\n\
Sends <command> to the node's JSON-RPC server and prints the result.\n\
Each param is read as JSON when it parses as JSON, else as a string.\n\
Run 'kestrel-cli help' for the node's commands.";

/// How often -rpcwait tries again (bitcoin-cli's pace).
const RPC_WAIT_RETRY: Duration = Duration::from_secs(1);

#[derive(Debug, thiserror::Error)]
pub enum CliError {
    #[error("{0}")]
    Config(#[from] ConfigError),
    #[error("error: {0}")]
    Usage(String),
    #[error("error: Could not locate RPC credentials. No authentication cookie could be found at {0}, and no -rpcpassword is set. Is the node running with this -datadir?")]
    NoCredentials(String),
    #[error("error: Cannot read the authentication cookie {path}: {detail}")]
    BadCookie { path: String, detail: String },
    /// The node answered with an error: printed bare, "error code: ..".
    #[error("{0}")]
    Rpc(CallError),
    #[error("error: {0}")]
    Call(CallError),
}

impl From<CallError> for CliError {
    fn from(error: CallError) -> CliError {
        match error {
            CallError::Rpc(_) => CliError::Rpc(error),
            other => CliError::Call(other),
        }
    }
}

/// A command-line param: JSON when it parses, otherwise the string itself.
pub fn parse_param(text: &str) -> Value {
    serde_json::from_str(text).unwrap_or_else(|_| Value::String(text.to_string()))
}

/// bitcoin-cli's output of a result: strings raw, null as nothing, the
/// rest as indented JSON.
pub fn format_result(result: &Value) -> String {
    match result {
        Value::Null => String::new(),
        Value::String(s) => s.clone(),
        other => kestrel_common::json::to_pretty(other),
    }
}

/// Credentials: -rpcuser/-rpcpassword, else the cookie of the node.
fn credentials(args: &Args, cookie: &Path) -> Result<RpcAuth, CliError> {
    if let Some(up) = config::user_password(args)? {
        return Ok(RpcAuth::new(&up.user, &up.password));
    }
    read_cookie(cookie).map_err(|e| match e.kind() {
        std::io::ErrorKind::NotFound => CliError::NoCredentials(cookie.display().to_string()),
        _ => CliError::BadCookie {
            path: cookie.display().to_string(),
            detail: e.to_string(),
        },
    })
}

/// Runs the cli on `argv` (without the program name) and returns what to
/// print on stdout.
pub fn run<I, S>(argv: I) -> Result<String, CliError>
where
    I: IntoIterator<Item = S>,
    S: Into<String>,
{
    let (args, datadir) = config::load(argv, OPTION_SETS)?;
    if args.flag("help") {
        return Ok(help_text(USAGE, OPTION_SETS));
    }
    let Some((method, params)) = args.positionals().split_first() else {
        return Err(CliError::Usage(
            "too few parameters (need at least a command); see kestrel-cli -help".into(),
        ));
    };
    let params: Vec<Value> = params.iter().map(|p| parse_param(p)).collect();
    let addr = SocketAddr::new(
        config::loopback_address("rpcconnect", &args)?,
        config::rpc_port(&args)?,
    );
    let wait = args.flag("rpcwait");
    let deadline = match args.value("rpcwaittimeout") {
        None | Some("0") => None,
        Some(secs) => {
            let secs: u64 = secs.parse().map_err(|_| {
                CliError::Usage(format!(
                    "-rpcwaittimeout={secs}: expected a number of seconds"
                ))
            })?;
            Some(Instant::now() + Duration::from_secs(secs))
        }
    };
    let cookie = datadir.cookie_path();
    loop {
        // The cookie appears when the server is up, so while waiting its
        // absence is the same as a refused connection.
        let outcome = credentials(&args, &cookie).and_then(|auth| {
            RpcClient::new(addr, auth)
                .call(method, &params)
                .map_err(CliError::from)
        });
        let retry =
            wait && matches!(
                outcome,
                Err(CliError::NoCredentials(_)) | Err(CliError::Call(CallError::Connect { .. }))
            ) && deadline.is_none_or(|d| Instant::now() < d);
        if !retry {
            return outcome.map(|result| format_result(&result));
        }
        std::thread::sleep(RPC_WAIT_RETRY);
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn params_are_json_when_they_parse() {
        assert_eq!(parse_param("5"), json!(5));
        assert_eq!(parse_param("true"), json!(true));
        assert_eq!(parse_param("[1,\"a\"]"), json!([1, "a"]));
        assert_eq!(parse_param("\"quoted\""), json!("quoted"));
        assert_eq!(parse_param("kcrt1abc"), json!("kcrt1abc"));
        assert_eq!(parse_param("0abc"), json!("0abc"));
        assert_eq!(parse_param("0.5"), json!(0.5));
    }

    #[test]
    fn results_print_like_bitcoin_cli() {
        assert_eq!(format_result(&json!("abc")), "abc");
        assert_eq!(format_result(&Value::Null), "");
        assert_eq!(format_result(&json!(3)), "3");
        assert_eq!(format_result(&json!(50.0)), "50.00000000");
        assert_eq!(
            format_result(&json!({"a": [1]})),
            "{\n  \"a\": [\n    1\n  ]\n}"
        );
    }

    #[test]
    fn errors_name_the_problem() {
        let dir = tempfile::tempdir().unwrap();
        let datadir = format!("-datadir={}", dir.path().display());
        let err = run([datadir.as_str()]).unwrap_err().to_string();
        assert!(err.contains("too few parameters"), "{err}");
        let err = run([datadir.as_str(), "getblockcount"])
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("No authentication cookie") && err.contains(".cookie"),
            "{err}"
        );
        let err = run([datadir.as_str(), "-bogus", "x"])
            .unwrap_err()
            .to_string();
        assert!(err.contains("-bogus"), "{err}");
        let err = run([datadir.as_str(), "-rpcconnect=10.0.0.1", "x"])
            .unwrap_err()
            .to_string();
        assert!(err.contains("loopback"), "{err}");
    }

    #[test]
    fn rpc_errors_print_bare_and_others_with_error_prefix() {
        let rpc = CliError::from(CallError::Rpc(kestrel_rpc::RpcError::new(
            -8,
            "Block height out of range",
        )));
        assert_eq!(
            rpc.to_string(),
            "error code: -8\nerror message:\nBlock height out of range"
        );
        assert!(CliError::from(CallError::Unauthorized)
            .to_string()
            .starts_with("error: Authorization failed"));
    }

    #[test]
    fn help_lists_options() {
        let help = run(["-help"]).unwrap();
        assert!(
            help.contains("-rpcwait") && help.contains("-datadir"),
            "{help}"
        );
    }
}
