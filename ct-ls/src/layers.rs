//! `ct-ls layers` (not implemented yet).

use ct_layout::Store;

use crate::{Format, LsError};

pub fn list(_store: &Store, _format: &Format) -> Result<(), LsError> {
    Err(LsError::NotImplemented("layers"))
}
