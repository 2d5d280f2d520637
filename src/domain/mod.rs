//! Pure domain types: no I/O, no clocks, no database. Everything here can be
//! tested with plain values, and the adapters (store, OCR, HTTP) depend on it,
//! never the other way round.

pub mod codes;
pub mod dates;
pub mod fields;
pub mod identity;
pub mod reason;
pub mod status;
pub mod text;
pub mod typed;

pub use codes::{CertificateNo, DegreeCertificateNo, VerificationCode};
pub use fields::{CredentialFields, Field, Kind};
pub use identity::{Gender, IdKey, IdNumber};
pub use reason::{Reason, ReasonCode};
pub use status::Status;
