//! kestrel-gui end to end, in a real pseudo-terminal: tmux runs the built
//! `kestrel-gui`, which spawns the `kestrel-node` (and so `kestrel-wallet`)
//! built next to it on a temp datadir. The test types keys and reads the
//! screen: mine 101 blocks, see the balance become 50, send to a new
//! address, mine, see the balance change, quit, and find no node or wallet
//! process left. A second test attaches the gui (`-ipcconnect`) to a node
//! started apart (`-ipcbind=unix`) and checks the node outlives the gui.
//!
//! Needs the multiprocess binaries and tmux:
//!   cargo build --config depends/x86_64-unknown-linux-gnu/cargo-config.toml \
//!       -p kestrel-node --features multiprocess --bins
//!   cargo test --config depends/x86_64-unknown-linux-gnu/cargo-config.toml \
//!       -p kestrel-gui --features e2e --test e2e

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use kestrel_functional::node::free_port;
use kestrel_functional::process::{self, send_signal, Signal};
use kestrel_functional::wait_until;

const GUI: &str = env!("CARGO_BIN_EXE_kestrel-gui");
/// Upper bound for the gui to show something; the test fails rather than
/// hang when it is exceeded.
const PROMPTLY: Duration = Duration::from_secs(60);
const SESSION: &str = "kestrel-gui-e2e";

/// A tmux server of the test's own (private socket), running the gui.
struct Tmux {
    socket: PathBuf,
    datadir: PathBuf,
}

impl Tmux {
    fn start(dir: &Path, datadir: &Path, gui_args: &[String]) -> Tmux {
        match Command::new("tmux").arg("-V").output() {
            Ok(output) if output.status.success() => {}
            _ => panic!(
                "tmux is not installed: the kestrel-gui end-to-end test drives the gui in tmux; install it (e.g. apt-get install tmux) and run the test again"
            ),
        }
        let tmux = Tmux {
            socket: dir.join("tmux.sock"),
            datadir: datadir.to_path_buf(),
        };
        let quoted: Vec<String> = std::iter::once(GUI.to_string())
            .chain(gui_args.iter().cloned())
            .map(|a| format!("'{a}'"))
            .collect();
        // The shell stays after the gui exits, so the test can read how it
        // exited and what the terminal looks like then.
        let script = format!(
            "{}; echo \"kestrel-gui exited with $?\"; sleep 600",
            quoted.join(" ")
        );
        tmux.run(&[
            "new-session",
            "-d",
            "-x",
            "120",
            "-y",
            "40",
            "-s",
            SESSION,
            "sh",
            "-c",
            &script,
        ]);
        tmux
    }

    fn run(&self, args: &[&str]) -> Output {
        let output = Command::new("tmux")
            .arg("-S")
            .arg(&self.socket)
            .args(args)
            .output()
            .expect("tmux runs");
        assert!(
            output.status.success(),
            "tmux {args:?} failed: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        output
    }

    fn screen(&self) -> String {
        String::from_utf8_lossy(&self.run(&["capture-pane", "-p", "-t", SESSION]).stdout)
            .into_owned()
    }

    /// Keys by tmux name (`Enter`, `Tab`, `G` ...).
    fn keys(&self, keys: &[&str]) {
        let mut args = vec!["send-keys", "-t", SESSION];
        args.extend_from_slice(keys);
        self.run(&args);
    }

    /// Text typed as is.
    fn type_text(&self, text: &str) {
        self.run(&["send-keys", "-t", SESSION, "-l", text]);
    }

    /// Waits until the screen shows `what`; the screen then.
    fn wait_for(&self, what: &str) -> String {
        self.wait_until(what, |screen| screen.contains(what))
    }

    fn wait_until(&self, description: &str, done: impl Fn(&str) -> bool) -> String {
        let deadline = Instant::now() + PROMPTLY;
        loop {
            let screen = self.screen();
            if done(&screen) {
                return screen;
            }
            if Instant::now() > deadline {
                let log = std::fs::read_to_string(self.datadir.join("regtest/debug.log"))
                    .unwrap_or_default();
                let tail: Vec<String> = log
                    .lines()
                    .rev()
                    .take(40)
                    .map(|line| line.chars().take(200).collect())
                    .collect();
                panic!(
                    "the gui did not show {description:?} within {PROMPTLY:?}; screen:\n{screen}\ndebug.log (newest first):\n{}",
                    tail.join("\n")
                );
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

impl Drop for Tmux {
    fn drop(&mut self) {
        let _ = Command::new("tmux")
            .arg("-S")
            .arg(&self.socket)
            .arg("kill-server")
            .output();
        // After a failure: do not leave this test's node behind.
        for pid in node_processes(&self.datadir) {
            let _ = send_signal(pid, Signal::KILL);
        }
    }
}

/// Pids of the kestrel-node and kestrel-wallet processes on `datadir`.
fn node_processes(datadir: &Path) -> Vec<i32> {
    process::mentioning(&datadir.to_string_lossy())
        .into_iter()
        .filter(|p| matches!(p.name.as_str(), "kestrel-node" | "kestrel-wallet"))
        .map(|p| p.pid)
        .collect()
}

/// The `Balance:` value on the overview.
fn balance(screen: &str) -> String {
    screen
        .lines()
        .find_map(|line| line.split("Balance:").nth(1))
        .map(|rest| rest.trim().trim_end_matches('│').trim().to_string())
        .unwrap_or_default()
}

/// The multiprocess `kestrel-node` built beside the gui.
fn node_binary() -> PathBuf {
    let node = Path::new(GUI).with_file_name("kestrel-node");
    assert!(
        node.is_file() && node.with_file_name("kestrel-wallet").is_file(),
        "{} or kestrel-wallet beside it is missing: build them first with `cargo build --config depends/x86_64-unknown-linux-gnu/cargo-config.toml -p kestrel-node --features multiprocess --bins`",
        node.display()
    );
    node
}

#[test]
fn mine_send_and_see_the_balance_change() {
    node_binary();
    let dir = tempfile::tempdir().unwrap();
    let datadir = dir.path().join("data");
    std::fs::create_dir(&datadir).unwrap();
    let tmux = Tmux::start(
        dir.path(),
        &datadir,
        &[
            format!("-datadir={}", datadir.display()),
            format!("-rpcport={}", free_port()),
            "-debug=ipc".into(),
        ],
    );

    let screen = tmux.wait_for("Height:      0");
    assert_eq!(balance(&screen), "0.00000000", "{screen}");
    let running = node_processes(&datadir);
    assert_eq!(
        running.len(),
        2,
        "expected kestrel-node and kestrel-wallet: {running:?}"
    );

    // Mine until the first coinbase matures.
    tmux.keys(&["G"]);
    let screen = tmux.wait_until("balance 50 at height 101", |s| {
        s.contains("Height:      101") && balance(s) == "50.00000000"
    });
    assert!(screen.contains("Mined 101 block(s)"), "{screen}");

    // A new address of the wallet.
    tmux.keys(&["r", "n"]);
    let screen = tmux.wait_for("Pay to this address:");
    let address = screen
        .split(|c: char| c.is_whitespace() || c == '│')
        .find(|word| word.starts_with("kcrt1"))
        .unwrap_or_else(|| panic!("no address on the receive screen:\n{screen}"))
        .to_string();

    // A bad address is refused on the form, with what to do.
    tmux.keys(&["s"]);
    tmux.type_text("kcrt1oops");
    tmux.keys(&["Enter"]);
    tmux.wait_for("Error: Invalid address \"kcrt1oops\"");
    for _ in "kcrt1oops".chars() {
        tmux.keys(&["BSpace"]);
    }

    tmux.type_text(&address);
    tmux.keys(&["Tab"]);
    tmux.type_text("10");
    tmux.keys(&["Enter"]);
    tmux.wait_for(&format!("Send 10.00000000 to {address}?"));
    tmux.keys(&["y"]);
    tmux.wait_for("Sent: transaction");

    // Back on the overview, the payment waits in the mempool; then a block
    // confirms it and matures the second coinbase: 100 coins less the fee.
    tmux.wait_for("Mempool:     1 transaction(s)");
    tmux.keys(&["g"]);
    let screen = tmux.wait_until("height 102 and the new balance", |s| {
        s.contains("Height:      102") && balance(s).starts_with("99.99")
    });
    assert!(screen.contains("Mempool:     0 transaction(s)"), "{screen}");

    // With -debug=ipc the console shows the gui's calls to the node.
    tmux.keys(&["l"]);
    tmux.wait_for("client Node.");

    tmux.keys(&["q"]);
    let screen = tmux.wait_for("kestrel-gui exited with 0");
    assert!(
        !screen.contains("Overview [o]"),
        "the terminal was not restored:\n{screen}"
    );
    let left = node_processes(&datadir);
    assert!(left.is_empty(), "processes left after quitting: {left:?}");
}

/// `-ipcconnect`: the gui attaches to a node someone else started, works
/// through it, and leaves it running when it quits.
#[test]
fn an_attached_gui_leaves_the_node_running() {
    let dir = tempfile::tempdir().unwrap();
    let datadir = dir.path().join("data");
    std::fs::create_dir(&datadir).unwrap();
    let mut node = Command::new(node_binary())
        .arg(format!("-datadir={}", datadir.display()))
        .arg(format!("-rpcport={}", free_port()))
        .arg("-ipcbind=unix")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("start kestrel-node");
    let socket = datadir.join("regtest/sockets/node.sock");
    wait_until(
        &format!("kestrel-node to listen on {}", socket.display()),
        PROMPTLY,
        || socket.exists(),
    );

    let tmux = Tmux::start(
        dir.path(),
        &datadir,
        &[
            format!("-datadir={}", datadir.display()),
            "-ipcconnect=unix".into(),
        ],
    );
    let screen = tmux.wait_for("Height:      0");
    assert!(screen.contains("attached to"), "{screen}");
    tmux.keys(&["G"]);
    tmux.wait_until("balance 50 at height 101", |s| {
        s.contains("Height:      101") && balance(s) == "50.00000000"
    });

    tmux.keys(&["q"]);
    tmux.wait_for("kestrel-gui exited with 0");
    let running = node_processes(&datadir);
    assert_eq!(
        running.len(),
        2,
        "kestrel-node and its wallet should outlive an attached gui: {running:?}"
    );

    send_signal(node.id() as i32, Signal::TERM).expect("SIGTERM sent");
    let status = node.wait().expect("kestrel-node exits");
    assert!(status.success(), "kestrel-node after SIGTERM: {status}");
    let left = node_processes(&datadir);
    assert!(left.is_empty(), "processes left after SIGTERM: {left:?}");
}
