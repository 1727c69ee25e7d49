//! Draws an [`App`]: a tab bar, the current screen, and a status line with
//! the keys. Layout follows the frame's size, so a resize redraws cleanly.

use kestrel_common::amount::format_amount;
use kestrel_common::hash::{BlockHash, Txid};
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Paragraph, Tabs, Wrap};
use ratatui::Frame;

use crate::app::{App, Screen, SendField, SendStage, Status};

pub fn render(frame: &mut Frame, app: &App) {
    let [tabs, body, status] = Layout::vertical([
        Constraint::Length(1),
        Constraint::Min(3),
        Constraint::Length(2),
    ])
    .areas(frame.area());
    let selected = Screen::ALL
        .iter()
        .position(|s| *s == app.screen)
        .unwrap_or(0);
    frame.render_widget(
        Tabs::new(Screen::ALL.iter().map(|s| s.title()))
            .select(selected)
            .highlight_style(Style::new().add_modifier(Modifier::REVERSED)),
        tabs,
    );
    match app.screen {
        Screen::Overview => overview(frame, app, body),
        Screen::Receive => receive(frame, app, body),
        Screen::Send => send(frame, app, body),
        Screen::Console => console(frame, app, body),
    }
    status_line(frame, app, status);
}

fn overview(frame: &mut Frame, app: &App, area: Rect) {
    let unknown = || "…".to_string();
    let info = app.overview.info;
    let mut lines = vec![
        Line::from(format!("Node:        {}", app.node)),
        Line::from(format!(
            "Height:      {}",
            info.map_or_else(unknown, |i| i.tip.height.to_string())
        )),
        Line::from(format!(
            "Best block:  {}",
            info.map_or_else(unknown, |i| BlockHash(i.tip.hash).to_string())
        )),
        Line::from(format!(
            "Mempool:     {}",
            info.map_or_else(unknown, |i| format!(
                "{} transaction(s), {} bytes",
                i.mempool_size, i.mempool_bytes
            ))
        )),
        Line::from(format!(
            "Balance:     {}",
            app.overview
                .balance
                .map_or_else(unknown, |b| format_amount(b as i64))
        )),
        Line::default(),
        Line::styled(
            "Recent transactions",
            Style::new().add_modifier(Modifier::BOLD),
        ),
    ];
    if app.overview.transactions.is_empty() {
        lines.push(Line::from("  none yet"));
    }
    for tx in &app.overview.transactions {
        let confirmations = match tx.confirmations {
            0 => "unconfirmed".to_string(),
            n => format!("{n} conf."),
        };
        lines.push(Line::from(format!(
            "  {:>17}  {:>12}  {}",
            format_amount(tx.amount),
            confirmations,
            Txid(tx.txid)
        )));
    }
    frame.render_widget(
        Paragraph::new(lines).block(Block::bordered().title("Overview")),
        area,
    );
}

fn receive(frame: &mut Frame, app: &App, area: Rect) {
    let lines = match &app.receive_address {
        Some(address) => vec![
            Line::from("Pay to this address:"),
            Line::default(),
            Line::styled(address.clone(), Style::new().add_modifier(Modifier::BOLD)),
            Line::default(),
            Line::from("[n] another new address"),
        ],
        None => vec![Line::from("[n] new receiving address")],
    };
    frame.render_widget(
        Paragraph::new(lines)
            .wrap(Wrap { trim: false })
            .block(Block::bordered().title("Receive")),
        area,
    );
}

fn send(frame: &mut Frame, app: &App, area: Rect) {
    let form = &app.send;
    let field = |label: &str, value: &str, which: SendField| {
        let focused = form.stage == SendStage::Editing && form.focus == which;
        let cursor = if focused { "_" } else { "" };
        let style = if focused {
            Style::new().add_modifier(Modifier::BOLD)
        } else {
            Style::new()
        };
        Line::from(vec![
            Span::raw(format!("{label:<9}")),
            Span::styled(format!("{value}{cursor}"), style),
        ])
    };
    let mut lines = vec![
        field("Address:", &form.address, SendField::Address),
        field("Amount:", &form.amount, SendField::Amount),
        Line::default(),
    ];
    match &form.stage {
        SendStage::Editing => {
            lines.push(Line::from("[Tab] next field  [Enter] review  [Esc] back"))
        }
        SendStage::Confirm { address, amount } => {
            lines.push(Line::styled(
                format!(
                    "Send {} to {address}? [y] send  [n] edit",
                    format_amount(*amount as i64)
                ),
                Style::new().fg(Color::Yellow),
            ));
        }
        SendStage::Sending => lines.push(Line::from("Sending…")),
    }
    if let Some(error) = &form.error {
        lines.push(Line::styled(
            format!("Error: {error}"),
            Style::new().fg(Color::Red),
        ));
    }
    frame.render_widget(
        Paragraph::new(lines)
            .wrap(Wrap { trim: false })
            .block(Block::bordered().title("Send")),
        area,
    );
}

fn console(frame: &mut Frame, app: &App, area: Rect) {
    // The newest lines that fit inside the border.
    let rows = area.height.saturating_sub(2) as usize;
    let start = app.console.len().saturating_sub(rows);
    let lines: Vec<Line> = app.console[start..]
        .iter()
        .map(|l| Line::from(l.as_str()))
        .collect();
    frame.render_widget(
        Paragraph::new(lines).block(
            Block::bordered().title("Console: debug.log (start with -debug=ipc to see IPC calls)"),
        ),
        area,
    );
}

fn status_line(frame: &mut Frame, app: &App, area: Rect) {
    let message = match (&app.busy, &app.status) {
        (Some(busy), _) => Line::from(format!("{busy}…")),
        (None, Some(Status::Info(text))) => Line::from(text.as_str()),
        (None, Some(Status::Error(text))) => {
            Line::styled(text.as_str(), Style::new().fg(Color::Red))
        }
        (None, None) => Line::default(),
    };
    let keys = Line::styled(
        "[o/r/s/l] screens  [g] mine 1  [G] mine 101  [q] quit",
        Style::new().add_modifier(Modifier::DIM),
    );
    frame.render_widget(Paragraph::new(vec![message, keys]), area);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::app::Outcome;
    use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
    use kestrel_interfaces::{NodeInfo, Tip, WalletTx, COIN};
    use ratatui::backend::TestBackend;
    use ratatui::Terminal;

    fn draw(app: &App, width: u16, height: u16) -> String {
        let mut terminal = Terminal::new(TestBackend::new(width, height)).unwrap();
        terminal.draw(|frame| render(frame, app)).unwrap();
        let buffer = terminal.backend().buffer();
        (0..height)
            .map(|y| {
                (0..width)
                    .map(|x| buffer[(x, y)].symbol())
                    .collect::<String>()
            })
            .collect::<Vec<_>>()
            .join("\n")
    }

    fn refreshed() -> Outcome {
        Outcome::Refreshed {
            info: NodeInfo {
                tip: Tip {
                    height: 101,
                    hash: [0xab; 32],
                },
                mempool_size: 1,
                mempool_bytes: 226,
            },
            balance: 50 * COIN,
            transactions: vec![WalletTx {
                txid: [0x11; 32],
                amount: -(10 * COIN as i64),
                fee: Some(2260),
                confirmations: 0,
                block_hash: None,
                raw: Vec::new(),
            }],
        }
    }

    #[test]
    fn overview_shows_what_the_node_reported() {
        let mut app = App::new("kestrel-node (pid 7)");
        let before = draw(&app, 100, 20);
        assert!(before.contains("Height:      …"), "{before}");
        app.apply(refreshed());
        let screen = draw(&app, 120, 20);
        for expected in [
            "Node:        kestrel-node (pid 7)",
            "Height:      101",
            &format!("Best block:  {}", "ab".repeat(32)),
            "Mempool:     1 transaction(s), 226 bytes",
            "Balance:     50.00000000",
            "-10.00000000   unconfirmed",
            &"11".repeat(32),
        ] {
            assert!(
                screen.contains(expected),
                "missing {expected:?} in\n{screen}"
            );
        }
    }

    #[test]
    fn receive_shows_the_new_address() {
        let mut app = App::new("node");
        app.screen = Screen::Receive;
        assert!(draw(&app, 80, 12).contains("[n] new receiving address"));
        app.apply(Outcome::NewAddress("kr1abc".into()));
        let screen = draw(&app, 80, 12);
        assert!(screen.contains("Pay to this address:"), "{screen}");
        assert!(screen.contains("kr1abc"), "{screen}");
    }

    #[test]
    fn send_shows_typed_input_the_error_and_the_confirmation() {
        let mut app = App::new("node");
        app.screen = Screen::Send;
        for c in "kr1bad".chars() {
            app.handle_key(KeyEvent::new(KeyCode::Char(c), KeyModifiers::NONE));
        }
        app.handle_key(KeyEvent::new(KeyCode::Enter, KeyModifiers::NONE));
        let screen = draw(&app, 120, 12);
        assert!(screen.contains("Address: kr1bad_"), "{screen}");
        assert!(
            screen.contains("Error: Invalid address \"kr1bad\""),
            "{screen}"
        );

        let address = kestrel_common::address::Address::from_pubkey_hash([3; 20]).to_string();
        app.send.address = address.clone();
        app.send.amount = "2.5".into();
        app.handle_key(KeyEvent::new(KeyCode::Enter, KeyModifiers::NONE));
        let screen = draw(&app, 120, 12);
        assert!(
            screen.contains(&format!("Send 2.50000000 to {address}? [y] send")),
            "{screen}"
        );
        assert!(!screen.contains("Error:"), "{screen}");
    }

    #[test]
    fn console_shows_the_newest_lines_that_fit() {
        let mut app = App::new("node");
        app.screen = Screen::Console;
        app.set_console((1..=50).map(|i| format!("line {i}")).collect());
        // 12 rows: tabs 1, status 2, border 2: 7 lines of log.
        let screen = draw(&app, 60, 12);
        assert!(screen.contains("line 50"), "{screen}");
        assert!(screen.contains("line 44"), "{screen}");
        assert!(!screen.contains("line 43"), "{screen}");
    }

    #[test]
    fn errors_and_work_in_progress_show_on_the_status_line() {
        let mut app = App::new("node");
        app.handle_key(KeyEvent::new(KeyCode::Char('G'), KeyModifiers::NONE));
        assert!(draw(&app, 80, 10).contains("Mining 101 block(s)…"));
        app.apply(Outcome::Failed {
            what: "Mining".into(),
            error: "the node is gone".into(),
        });
        let screen = draw(&app, 80, 10);
        assert!(
            screen.contains("Mining failed: the node is gone"),
            "{screen}"
        );
    }

    #[test]
    fn a_tiny_terminal_does_not_panic() {
        let mut app = App::new("node");
        app.apply(refreshed());
        for screen in Screen::ALL {
            app.screen = screen;
            draw(&app, 10, 3);
        }
    }
}
