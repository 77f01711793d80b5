//! `yunqiao serve`'s configuration is the one both faces read: see [`yunqiao_config`]
//! (defaults, then a TOML file, then `YUNQIAO_*` environment variables; `main` applies
//! the command-line flags on top).

pub use yunqiao_config::*;
