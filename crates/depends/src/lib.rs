//! Hermetic dependency bundling in the style of Bitcoin Core's `depends/`.
