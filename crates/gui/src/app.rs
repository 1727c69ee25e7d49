//! The gui's model and its input state machine. Keys become [`Command`]s
//! for the node (run elsewhere, off the UI thread) and their [`Outcome`]s
//! come back to [`App::apply`]; nothing here talks to the node, so all of it
//! is tested without one.

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use kestrel_common::address::Address;
use kestrel_common::amount::parse_amount;
use kestrel_common::hash::Txid;
use kestrel_interfaces::{Amount, Hash256, NodeInfo, WalletTx};

/// Blocks mined by `G`: enough for the first coinbase to mature.
pub const MATURITY_BLOCKS: u32 = 101;
/// Wallet transactions listed on the overview.
pub const RECENT_TRANSACTIONS: u32 = 10;
/// Log lines kept for the console pane.
pub const CONSOLE_LINES: usize = 1000;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Screen {
    Overview,
    Receive,
    Send,
    Console,
}

impl Screen {
    pub const ALL: [Screen; 4] = [
        Screen::Overview,
        Screen::Receive,
        Screen::Send,
        Screen::Console,
    ];

    pub fn title(self) -> &'static str {
        match self {
            Screen::Overview => "Overview [o]",
            Screen::Receive => "Receive [r]",
            Screen::Send => "Send [s]",
            Screen::Console => "Console [l]",
        }
    }
}

/// What the node is asked to do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    /// Re-read node info, balance and recent transactions.
    Refresh,
    /// Mine `blocks` blocks to a new address of the wallet.
    Mine {
        blocks: u32,
    },
    NewAddress,
    Send {
        address: String,
        amount: Amount,
    },
    Quit,
}

/// What came back from the node.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    Refreshed {
        info: NodeInfo,
        balance: Amount,
        transactions: Vec<WalletTx>,
    },
    Mined {
        blocks: u32,
        height: u32,
    },
    NewAddress(String),
    Sent {
        txid: Hash256,
    },
    /// `what` failed (e.g. "Send"), with the node's or wallet's message.
    Failed {
        what: String,
        error: String,
    },
}

/// A message on the status line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Status {
    Info(String),
    Error(String),
}

/// The overview's numbers; `None` until the first refresh.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Overview {
    pub info: Option<NodeInfo>,
    pub balance: Option<Amount>,
    pub transactions: Vec<WalletTx>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SendField {
    Address,
    Amount,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SendStage {
    Editing,
    /// Checked input waiting for `y` (send) or `n`/Esc (back to editing).
    Confirm {
        address: String,
        amount: Amount,
    },
    /// Handed to the wallet; waiting for its answer.
    Sending,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SendForm {
    pub address: String,
    pub amount: String,
    pub focus: SendField,
    pub stage: SendStage,
    /// Why the last attempt was refused, shown under the form.
    pub error: Option<String>,
}

impl Default for SendForm {
    fn default() -> Self {
        Self {
            address: String::new(),
            amount: String::new(),
            focus: SendField::Address,
            stage: SendStage::Editing,
            error: None,
        }
    }
}

impl SendForm {
    /// The address and amount if both are valid, else what is wrong and
    /// how to fix it.
    pub fn check(&self) -> Result<(String, Amount), String> {
        let address = self.address.trim();
        if address.is_empty() {
            return Err(
                "Enter the address to pay (the payee shows one on its Receive screen)".into(),
            );
        }
        if let Err(e) = address.parse::<Address>() {
            return Err(format!(
                "Invalid address \"{address}\": {e}; copy it again from the payee"
            ));
        }
        let text = self.amount.trim();
        if text.is_empty() {
            return Err("Enter the amount in coins, e.g. 1.5".into());
        }
        let amount = parse_amount(text).map_err(|e| {
            format!("{e}: \"{text}\"; enter coins with at most 8 decimals, e.g. 1.5")
        })?;
        if amount == 0 {
            return Err("The amount must be more than 0".into());
        }
        Ok((address.to_string(), amount))
    }

    fn focused(&mut self) -> &mut String {
        match self.focus {
            SendField::Address => &mut self.address,
            SendField::Amount => &mut self.amount,
        }
    }
}

/// Everything the screens show.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct App {
    pub screen: Screen,
    /// Who the gui talks to, e.g. "kestrel-node (pid 42)".
    pub node: String,
    pub overview: Overview,
    pub receive_address: Option<String>,
    pub send: SendForm,
    /// Tail of the node's debug.log (with -debug=ipc: the IPC traffic).
    pub console: Vec<String>,
    pub status: Option<Status>,
    /// A long call in flight, e.g. "Mining 101 blocks".
    pub busy: Option<String>,
}

impl App {
    pub fn new(node: impl Into<String>) -> Self {
        Self {
            screen: Screen::Overview,
            node: node.into(),
            overview: Overview::default(),
            receive_address: None,
            send: SendForm::default(),
            console: Vec::new(),
            status: None,
            busy: None,
        }
    }

    /// One key press; the command it asks of the node, if any.
    pub fn handle_key(&mut self, key: KeyEvent) -> Option<Command> {
        if key.code == KeyCode::Char('c') && key.modifiers.contains(KeyModifiers::CONTROL) {
            return Some(Command::Quit);
        }
        if self.screen == Screen::Send {
            if let Some(handled) = self.send_key(key) {
                return handled;
            }
        }
        match key.code {
            KeyCode::Char('q') => Some(Command::Quit),
            KeyCode::Char('o') => self.show(Screen::Overview),
            KeyCode::Char('r') => self.show(Screen::Receive),
            KeyCode::Char('s') => self.show(Screen::Send),
            KeyCode::Char('l') => self.show(Screen::Console),
            KeyCode::Tab => self.show(self.next_screen()),
            KeyCode::Char('n') if self.screen == Screen::Receive => Some(Command::NewAddress),
            KeyCode::Char('g') => self.mine(1),
            KeyCode::Char('G') => self.mine(MATURITY_BLOCKS),
            _ => None,
        }
    }

    fn show(&mut self, screen: Screen) -> Option<Command> {
        self.screen = screen;
        None
    }

    fn next_screen(&self) -> Screen {
        let at = Screen::ALL
            .iter()
            .position(|s| *s == self.screen)
            .unwrap_or(0);
        Screen::ALL[(at + 1) % Screen::ALL.len()]
    }

    fn mine(&mut self, blocks: u32) -> Option<Command> {
        if self.busy.is_some() {
            return None;
        }
        self.busy = Some(format!("Mining {blocks} block(s)"));
        Some(Command::Mine { blocks })
    }

    /// Keys of the send screen: `None` lets the global bindings have it
    /// (only Esc while editing, to leave the form; letters are typed).
    fn send_key(&mut self, key: KeyEvent) -> Option<Option<Command>> {
        match self.send.stage.clone() {
            SendStage::Sending => Some(None),
            SendStage::Confirm { address, amount } => Some(match key.code {
                KeyCode::Char('y') | KeyCode::Char('Y') => {
                    self.send.stage = SendStage::Sending;
                    Some(Command::Send { address, amount })
                }
                KeyCode::Char('n') | KeyCode::Char('N') | KeyCode::Esc => {
                    self.send.stage = SendStage::Editing;
                    None
                }
                _ => None,
            }),
            SendStage::Editing => match key.code {
                KeyCode::Esc => {
                    self.screen = Screen::Overview;
                    Some(None)
                }
                KeyCode::Tab | KeyCode::Up | KeyCode::Down | KeyCode::BackTab => {
                    self.send.focus = match self.send.focus {
                        SendField::Address => SendField::Amount,
                        SendField::Amount => SendField::Address,
                    };
                    Some(None)
                }
                KeyCode::Backspace => {
                    self.send.focused().pop();
                    Some(None)
                }
                KeyCode::Enter => {
                    match self.send.check() {
                        Ok((address, amount)) => {
                            self.send.error = None;
                            self.send.stage = SendStage::Confirm { address, amount };
                        }
                        Err(problem) => self.send.error = Some(problem),
                    }
                    Some(None)
                }
                KeyCode::Char(c) if !key.modifiers.contains(KeyModifiers::CONTROL) => {
                    self.send.focused().push(c);
                    Some(None)
                }
                _ => Some(None),
            },
        }
    }

    /// Takes in what the node answered.
    pub fn apply(&mut self, outcome: Outcome) {
        match outcome {
            Outcome::Refreshed {
                info,
                balance,
                transactions,
            } => {
                self.overview = Overview {
                    info: Some(info),
                    balance: Some(balance),
                    transactions,
                };
            }
            Outcome::Mined { blocks, height } => {
                self.busy = None;
                self.status = Some(Status::Info(format!(
                    "Mined {blocks} block(s); height {height}"
                )));
            }
            Outcome::NewAddress(address) => {
                self.status = Some(Status::Info("New receiving address".into()));
                self.receive_address = Some(address);
            }
            Outcome::Sent { txid } => {
                // Done with the form: back to where the payment shows.
                self.send = SendForm::default();
                self.screen = Screen::Overview;
                self.status = Some(Status::Info(format!("Sent: transaction {}", Txid(txid))));
            }
            Outcome::Failed { what, error } => {
                if what.starts_with("Mining") {
                    self.busy = None;
                }
                if self.send.stage == SendStage::Sending {
                    self.send.stage = SendStage::Editing;
                    self.send.error = Some(error.clone());
                }
                self.status = Some(Status::Error(format!("{what} failed: {error}")));
            }
        }
    }

    /// Replaces the console with the latest log lines.
    pub fn set_console(&mut self, lines: Vec<String>) {
        self.console = lines;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(code: KeyCode) -> KeyEvent {
        KeyEvent::new(code, KeyModifiers::NONE)
    }

    fn type_text(app: &mut App, text: &str) {
        for c in text.chars() {
            assert_eq!(app.handle_key(key(KeyCode::Char(c))), None);
        }
    }

    fn valid_address() -> String {
        Address::from_pubkey_hash([7; 20]).to_string()
    }

    #[test]
    fn screens_switch_by_letter_and_tab() {
        let mut app = App::new("node");
        app.handle_key(key(KeyCode::Char('r')));
        assert_eq!(app.screen, Screen::Receive);
        app.handle_key(key(KeyCode::Tab));
        assert_eq!(app.screen, Screen::Send);
        // On the send form letters are typed, Esc leaves it.
        type_text(&mut app, "ol");
        assert_eq!(app.send.address, "ol");
        app.handle_key(key(KeyCode::Esc));
        assert_eq!(app.screen, Screen::Overview);
        app.handle_key(key(KeyCode::Char('l')));
        assert_eq!(app.screen, Screen::Console);
        assert_eq!(app.handle_key(key(KeyCode::Char('q'))), Some(Command::Quit));
    }

    #[test]
    fn mining_keys_and_one_mining_at_a_time() {
        let mut app = App::new("node");
        assert_eq!(
            app.handle_key(key(KeyCode::Char('G'))),
            Some(Command::Mine {
                blocks: MATURITY_BLOCKS
            })
        );
        assert_eq!(app.handle_key(key(KeyCode::Char('g'))), None, "still busy");
        app.apply(Outcome::Mined {
            blocks: 101,
            height: 101,
        });
        assert_eq!(app.busy, None);
        assert_eq!(
            app.handle_key(key(KeyCode::Char('g'))),
            Some(Command::Mine { blocks: 1 })
        );
    }

    #[test]
    fn typing_an_amount_then_confirming_sends() {
        let mut app = App::new("node");
        app.handle_key(key(KeyCode::Char('s')));
        let address = valid_address();
        type_text(&mut app, &address);
        app.handle_key(key(KeyCode::Tab));
        type_text(&mut app, "12.55");
        app.handle_key(key(KeyCode::Backspace));
        assert_eq!(app.send.amount, "12.5");
        assert_eq!(app.handle_key(key(KeyCode::Enter)), None);
        assert_eq!(
            app.send.stage,
            SendStage::Confirm {
                address: address.clone(),
                amount: 1_250_000_000
            }
        );
        // `n` goes back to editing with the input kept.
        app.handle_key(key(KeyCode::Char('n')));
        assert_eq!(app.send.stage, SendStage::Editing);
        assert_eq!(app.send.amount, "12.5");
        app.handle_key(key(KeyCode::Enter));
        assert_eq!(
            app.handle_key(key(KeyCode::Char('y'))),
            Some(Command::Send {
                address,
                amount: 1_250_000_000
            })
        );
        assert_eq!(app.send.stage, SendStage::Sending);
        app.apply(Outcome::Sent { txid: [1; 32] });
        assert_eq!(app.send, SendForm::default());
        assert_eq!(app.screen, Screen::Overview);
        assert!(matches!(&app.status, Some(Status::Info(s)) if s.contains(&"01".repeat(32))));
    }

    #[test]
    fn bad_input_is_refused_with_what_to_do() {
        let mut app = App::new("node");
        app.handle_key(key(KeyCode::Char('s')));
        app.handle_key(key(KeyCode::Enter));
        assert!(app
            .send
            .error
            .as_deref()
            .unwrap()
            .contains("Enter the address"));

        type_text(&mut app, "kr1nothex");
        app.handle_key(key(KeyCode::Enter));
        let error = app.send.error.clone().unwrap();
        assert!(error.contains("Invalid address \"kr1nothex\""), "{error}");
        assert_eq!(app.send.stage, SendStage::Editing);

        app.send.address = valid_address();
        app.handle_key(key(KeyCode::Tab));
        type_text(&mut app, "1.123456789");
        app.handle_key(key(KeyCode::Enter));
        let error = app.send.error.clone().unwrap();
        assert!(error.contains("8 decimal"), "{error}");

        app.send.amount = "0".into();
        app.handle_key(key(KeyCode::Enter));
        assert!(app.send.error.as_deref().unwrap().contains("more than 0"));
        assert_eq!(app.send.stage, SendStage::Editing);
    }

    #[test]
    fn a_refused_send_returns_to_the_form_with_the_wallets_reason() {
        let mut app = App::new("node");
        app.screen = Screen::Send;
        app.send.stage = SendStage::Sending;
        app.apply(Outcome::Failed {
            what: "Send".into(),
            error: "Insufficient funds".into(),
        });
        assert_eq!(app.send.stage, SendStage::Editing);
        assert_eq!(app.send.error.as_deref(), Some("Insufficient funds"));
        assert_eq!(
            app.status,
            Some(Status::Error("Send failed: Insufficient funds".into()))
        );
    }
}
