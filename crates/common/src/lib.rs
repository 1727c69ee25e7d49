//! What every Kestrel executable shares: option parsing ([`args`]) and the
//! option tables of each executable ([`options`]), the config file and
//! what the options mean ([`config`]), the one description of the datadir
//! layout ([`datadir`]), amounts and the JSON they are written in
//! ([`amount`], [`json`]), addresses and hashes as text ([`address`],
//! [`hash`]), and the logging set-up ([`logging`]).

pub mod address;
pub mod amount;
pub mod args;
pub mod config;
pub mod datadir;
pub mod hash;
pub mod json;
pub mod logging;
pub mod options;
