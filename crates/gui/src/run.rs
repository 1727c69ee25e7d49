//! The gui's main loop: one channel of events (keys, resizes, chain
//! notifications, answers from the worker, log ticks) drives the model,
//! and every event redraws.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{self, Sender};
use std::sync::Arc;
use std::thread;
use std::time::Duration;

use anyhow::Context;
use crossterm::event::{self, Event as TermEvent, KeyEventKind};
use kestrel_common::logging::{self, DebugLog, LogConfig};
use kestrel_interfaces::ChainNotifications;

use crate::app::{App, Command, Outcome, CONSOLE_LINES};
use crate::log_tail::LogTail;
use crate::options::GuiOptions;
use crate::session::Session;
use crate::{view, worker};

/// How often the console pane looks for new log lines (the overview is
/// driven by notifications, not by this).
const LOG_POLL: Duration = Duration::from_millis(300);

enum Event {
    Key(crossterm::event::KeyEvent),
    Resize,
    ChainChanged,
    Done(Outcome),
    LogTick,
}

/// Turns the node's chain notifications into redraw events.
struct ChainEvents(Sender<Event>);

impl ChainNotifications for ChainEvents {
    fn block_connected(&self, _height: u32, _block: &[u8]) {
        let _ = self.0.send(Event::ChainChanged);
    }
    fn transaction_added_to_mempool(&self, _tx: &[u8]) {
        let _ = self.0.send(Event::ChainChanged);
    }
}

/// Runs the gui until the user quits or the node goes away.
pub fn run(options: &GuiOptions) -> anyhow::Result<()> {
    init_logging(options)?;
    // Connect before taking over the terminal, so failures print plainly.
    let session = match &options.connect {
        Some(socket) => Session::attach(socket)?,
        None => {
            let gui = std::env::current_exe().context("Cannot find kestrel-gui's own path")?;
            Session::spawn(&gui, &options.node_args)?
        }
    };
    let outcome = run_with(&session, &options.datadir.debug_log_path());
    let closed = session.close();
    outcome.and(closed)
}

fn run_with(session: &Session, debug_log: &std::path::Path) -> anyhow::Result<()> {
    let node = session.node();
    let (events_in, events) = mpsc::channel();
    let subscription = node
        .handle_notifications(Arc::new(ChainEvents(events_in.clone())))
        .context("Cannot subscribe to the node's notifications")?;

    let (commands, queue) = mpsc::channel();
    let (outcomes, answers) = mpsc::channel();
    let worker_node = node.clone();
    let worker = thread::Builder::new()
        .name("kestrel-gui-worker".into())
        .spawn(move || worker::serve(worker_node.as_ref(), queue, outcomes))?;
    let forward = events_in.clone();
    thread::Builder::new()
        .name("kestrel-gui-answers".into())
        .spawn(move || {
            for outcome in answers {
                if forward.send(Event::Done(outcome)).is_err() {
                    return;
                }
            }
        })?;
    let stop_input = Arc::new(AtomicBool::new(false));
    let input = read_terminal(events_in, stop_input.clone())?;

    let mut app = App::new(session.description());
    let mut log = LogTail::new(debug_log, CONSOLE_LINES);
    let _ = commands.send(Command::Refresh);
    // Restores the terminal on drop and, through its panic hook, on panic.
    let mut terminal = ratatui::try_init().context("Cannot set up the terminal")?;
    let result = (|| -> anyhow::Result<()> {
        loop {
            terminal.draw(|frame| view::render(frame, &app))?;
            let Ok(event) = events.recv() else {
                return Ok(());
            };
            match event {
                Event::Key(key) => match app.handle_key(key) {
                    Some(Command::Quit) => return Ok(()),
                    Some(command) => {
                        let _ = commands.send(command);
                    }
                    None => {}
                },
                Event::ChainChanged => {
                    let _ = commands.send(Command::Refresh);
                }
                Event::Done(outcome) => app.apply(outcome),
                Event::LogTick => {
                    if log.poll().unwrap_or(false) {
                        app.set_console(log.lines());
                    }
                    if let Some(reason) = session.closed_reason() {
                        anyhow::bail!("the connection to the node was lost: {reason}");
                    }
                }
                Event::Resize => terminal.autoresize()?,
            }
        }
    })();
    ratatui::restore();
    stop_input.store(true, Ordering::SeqCst);
    let _ = input.join();
    drop(subscription);
    drop(commands);
    let _ = worker.join();
    result
}

/// Reads keys and resizes on its own thread; between them (every
/// [`LOG_POLL`]) it asks for a look at the log.
fn read_terminal(
    events: Sender<Event>,
    stop: Arc<AtomicBool>,
) -> std::io::Result<thread::JoinHandle<()>> {
    thread::Builder::new()
        .name("kestrel-gui-input".into())
        .spawn(move || {
            while !stop.load(Ordering::SeqCst) {
                let event = match event::poll(LOG_POLL) {
                    Ok(true) => match event::read() {
                        Ok(TermEvent::Key(key)) if key.kind != KeyEventKind::Release => {
                            Event::Key(key)
                        }
                        Ok(TermEvent::Resize(..)) => Event::Resize,
                        Ok(_) => continue,
                        Err(_) => return,
                    },
                    Ok(false) => Event::LogTick,
                    Err(_) => return,
                };
                if events.send(event).is_err() {
                    return;
                }
            }
        })
}

/// The gui's own log goes to the node's debug.log (one log for the
/// processes of one node); `-debug=ipc` adds its IPC calls.
fn init_logging(options: &GuiOptions) -> anyhow::Result<()> {
    options.datadir.create_net_dir()?;
    let debug = if options.debug_ipc {
        DebugLog::Categories(vec!["ipc".into()])
    } else {
        DebugLog::None
    };
    logging::init(
        &LogConfig {
            print_to_console: false,
            debug,
        },
        &options.datadir,
    )
}
