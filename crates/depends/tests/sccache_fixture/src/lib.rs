//! The sccache tests' fixture: one function over its registry dependency.

pub fn greeting() -> String {
    hex::encode("hi")
}
