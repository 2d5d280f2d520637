//! Operators of the review desk: names, roles, argon2id password hashes.

use argon2::Argon2;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};

use super::{AdminError, Operator, Role};
use crate::store::{OperatorRow, Store};

/// Passwords shorter than this are refused when an operator is added.
pub const MIN_PASSWORD_CHARS: usize = 10;
/// Longer input is not a password; refusing it bounds the hashing work.
const MAX_PASSWORD_BYTES: usize = 1024;

fn valid_name(name: &str) -> bool {
    (1..=64).contains(&name.len())
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'))
}

/// Hashing costs ~20 MiB and tens of milliseconds by design: off the async
/// threads.
async fn hash(password: String) -> Result<String, AdminError> {
    tokio::task::spawn_blocking(move || {
        let mut salt = [0u8; 16];
        rand::fill(&mut salt[..]);
        let salt =
            SaltString::encode_b64(&salt).map_err(|e| AdminError::Invalid(format!("salt: {e}")))?;
        Argon2::default()
            .hash_password(password.as_bytes(), &salt)
            .map(|h| h.to_string())
            .map_err(|e| AdminError::Invalid(format!("cannot hash the password: {e}")))
    })
    .await
    .map_err(|e| AdminError::Invalid(format!("hashing stopped: {e}")))?
}

async fn verify(password: String, stored: String) -> bool {
    tokio::task::spawn_blocking(move || {
        PasswordHash::new(&stored)
            .map(|h| {
                Argon2::default()
                    .verify_password(password.as_bytes(), &h)
                    .is_ok()
            })
            .unwrap_or(false)
    })
    .await
    .unwrap_or(false)
}

/// A hash to check wrong names against, so an unknown name takes as long as
/// a wrong password and does not reveal which names exist.
const DECOY_HASH: &str = "$argon2id$v=19$m=19456,t=2,p=1$c29tZXNhbHRzb21lc2FsdA$1nxhz5Pe2RO6hE4N+D3jrs0Mn9vqXHm48VJ8Fr0lSRM";

pub async fn add(
    store: &Store,
    who: &Operator,
    name: &str,
    role: Role,
    password: &str,
) -> Result<(), AdminError> {
    who.require(super::Action::ManageOperators)?;
    if !valid_name(name) {
        return Err(AdminError::Invalid(
            "an operator name is 1–64 letters, digits, `.`, `_` or `-`".into(),
        ));
    }
    if password.chars().count() < MIN_PASSWORD_CHARS || password.len() > MAX_PASSWORD_BYTES {
        return Err(AdminError::Invalid(format!(
            "the password must be at least {MIN_PASSWORD_CHARS} characters"
        )));
    }
    let hashed = hash(password.to_string()).await?;
    if !store.add_operator(name, role.as_str(), &hashed).await? {
        return Err(AdminError::Refused(format!(
            "operator `{name}` exists already"
        )));
    }
    Ok(())
}

pub async fn list(store: &Store) -> Result<Vec<OperatorRow>, AdminError> {
    Ok(store.operators().await?)
}

pub async fn disable(store: &Store, who: &Operator, name: &str) -> Result<(), AdminError> {
    who.require(super::Action::ManageOperators)?;
    if !store.disable_operator(name).await? {
        return Err(AdminError::Refused(format!("no operator `{name}`")));
    }
    Ok(())
}

/// The operator, if the name exists, is enabled and the password is right.
pub async fn authenticate(
    store: &Store,
    name: &str,
    password: &str,
) -> Result<Option<Operator>, AdminError> {
    if password.len() > MAX_PASSWORD_BYTES || !valid_name(name) {
        return Ok(None);
    }
    let row = store.operator(name).await?;
    let stored = row
        .as_ref()
        .map(|r| r.password_hash.clone())
        .unwrap_or_else(|| DECOY_HASH.to_string());
    let ok = verify(password.to_string(), stored).await;
    Ok(match row {
        Some(r) if ok && r.disabled_at.is_none() => {
            Role::parse(&r.role).map(|role| Operator::new(r.name, role))
        }
        _ => None,
    })
}
