//! What a stored record holds besides its fields: the attributes of its index
//! bookkeeping (see [`super::write`]), which no reader ever sees.

use serde_json::{Map, Value};

pub const IX_ATTR: &str = "_ix";
pub const UQ_ATTR: &str = "_uq";
/// Changes whenever `_ix`/`_uq` change: an atomic update that assumed the record's
/// index keys conditions on it.
pub const IXT_ATTR: &str = "_ixt";

/// A record without the attributes that only the store's indexes use.
pub fn without_keys(rec: &Map<String, Value>) -> Map<String, Value> {
    let mut out = rec.clone();
    out.remove(IX_ATTR);
    out.remove(UQ_ATTR);
    out.remove(IXT_ATTR);
    out
}
