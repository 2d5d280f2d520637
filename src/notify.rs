//! Webhook delivery of status notifications from the outbox. At least once:
//! a notification is marked delivered only after the receiver answered 2xx,
//! so a crash in between re-sends it. Receivers de-duplicate on the body's
//! `event_id` (one per status change, the same in every attempt), which the
//! HMAC-SHA256 signature covers; the `X-Credverify-Delivery` header is not
//! signed and only names the attempt's outbox row in our logs.

use std::time::Duration;

use chrono::Utc;
use hmac::{KeyInit, Mac};
use rand::RngExt;
use sha2::Sha256;
use tokio_util::sync::CancellationToken;

use crate::retry::RetryPolicy;
use crate::store::{OutboxItem, Store};

pub const SIGNATURE_HEADER: &str = "X-Credverify-Signature";
pub const DELIVERY_HEADER: &str = "X-Credverify-Delivery";

#[derive(Clone)]
pub struct WebhookConfig {
    pub url: String,
    /// Signs each body; unset sends no signature.
    pub secret: Option<String>,
    pub timeout: Duration,
    pub poll: Duration,
    /// Delays between attempts; a notification is given up (and counted in
    /// `stats`) after `max_retries`.
    pub retry: RetryPolicy,
}

impl std::fmt::Debug for WebhookConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WebhookConfig")
            .field("url", &crate::redact::url(&self.url))
            .field("secret", &self.secret.as_ref().map(|_| "********"))
            .field("timeout", &self.timeout)
            .finish()
    }
}

/// `t=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>.<body>">`: the timestamp
/// inside the signed text lets a receiver refuse replays.
pub fn signature(secret: &str, timestamp: i64, body: &[u8]) -> String {
    let mut mac =
        hmac::Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("HMAC takes any key length");
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    format!(
        "t={timestamp},v1={}",
        hex::encode(mac.finalize().into_bytes())
    )
}

/// Checks a signature header against a body (what a receiver does).
pub fn verify_signature(secret: &str, header: &str, body: &[u8]) -> bool {
    let mut t = None;
    let mut v1 = None;
    for part in header.split(',') {
        match part.split_once('=') {
            Some(("t", v)) => t = v.parse::<i64>().ok(),
            Some(("v1", v)) => v1 = hex::decode(v).ok(),
            _ => {}
        }
    }
    let (Some(t), Some(v1)) = (t, v1) else {
        return false;
    };
    let mut mac =
        hmac::Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("HMAC takes any key length");
    mac.update(t.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    mac.verify_slice(&v1).is_ok()
}

/// Delivers due notifications until `stop`.
pub async fn run(
    store: Store,
    config: WebhookConfig,
    stop: CancellationToken,
) -> anyhow::Result<()> {
    let http = reqwest::Client::builder()
        .timeout(config.timeout)
        .redirect(reqwest::redirect::Policy::none())
        .build()?;
    tracing::info!(url = %crate::redact::url(&config.url), "delivering status notifications");
    loop {
        match deliver_due(&store, &http, &config).await {
            Ok(n) if n > 0 => continue,
            Ok(_) => {}
            Err(e) => {
                tracing::warn!(error = %format_args!("{e:#}"), "webhook dispatch failed; will try again")
            }
        }
        tokio::select! {
            _ = stop.cancelled() => return Ok(()),
            _ = tokio::time::sleep(config.poll) => {}
        }
    }
}

/// One round: claim what is due, post each, record the result. Returns how
/// many were delivered.
pub async fn deliver_due(
    store: &Store,
    http: &reqwest::Client,
    config: &WebhookConfig,
) -> anyhow::Result<usize> {
    let lease =
        Utc::now() + chrono::Duration::from_std(config.timeout * 2 + Duration::from_secs(5))?;
    let items = store.claim_outbox(50, lease).await?;
    let mut delivered = 0;
    for item in items {
        let record_id = item.payload.get("record_id").and_then(|v| v.as_i64());
        let event_id = item.payload.get("event_id").and_then(|v| v.as_i64());
        match post(http, config, &item).await {
            Ok(()) => {
                store.outbox_delivered(item.id).await?;
                crate::metrics::webhook("delivered");
                delivered += 1;
            }
            Err(e) => {
                let failures = u32::try_from(item.attempts).unwrap_or(0) + 1;
                let retry_at = config
                    .retry
                    .delay(failures, rand::rng().random::<f64>())
                    .and_then(|d| chrono::Duration::from_std(d).ok())
                    .map(|d| Utc::now() + d);
                if retry_at.is_none() {
                    tracing::error!(record_id, event_id, delivery = item.id, error = %e, "webhook notification given up after {failures} attempts");
                    crate::metrics::webhook("given_up");
                } else {
                    tracing::warn!(record_id, event_id, delivery = item.id, error = %e, attempt = failures, "webhook delivery failed; will retry");
                    crate::metrics::webhook("failed");
                }
                store.outbox_failed(item.id, &e, retry_at).await?;
            }
        }
    }
    Ok(delivered)
}

async fn post(
    http: &reqwest::Client,
    config: &WebhookConfig,
    item: &OutboxItem,
) -> Result<(), String> {
    let body = serde_json::to_vec(&item.payload).map_err(|e| e.to_string())?;
    let mut req = http
        .post(&config.url)
        .header(reqwest::header::CONTENT_TYPE, "application/json")
        .header(DELIVERY_HEADER, item.id.to_string());
    if let Some(secret) = &config.secret {
        req = req.header(
            SIGNATURE_HEADER,
            signature(secret, Utc::now().timestamp(), &body),
        );
    }
    let resp = req
        .body(body)
        .send()
        .await
        .map_err(|e| cause(&e.without_url()))?;
    if resp.status().is_success() {
        Ok(())
    } else {
        Err(format!("receiver answered HTTP {}", resp.status()))
    }
}

/// An error with its sources (`error sending request: client error
/// (Connect): tcp connect error: Connection refused`): reqwest's own text
/// alone names no cause. The URL is left out (it may carry a token).
fn cause(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        let s_text = s.to_string();
        if !text.contains(&s_text) {
            text.push_str(": ");
            text.push_str(&s_text);
        }
        source = s.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signatures_verify_and_tampering_does_not() {
        let body = br#"{"record_id":1,"status":"verified"}"#;
        let sig = signature("s3cret", 1_700_000_000, body);
        assert!(sig.starts_with("t=1700000000,v1="));
        assert!(verify_signature("s3cret", &sig, body));
        assert!(!verify_signature("other", &sig, body));
        assert!(!verify_signature(
            "s3cret",
            &sig,
            br#"{"record_id":2,"status":"verified"}"#
        ));
        assert!(!verify_signature(
            "s3cret",
            &sig.replace("t=1700000000", "t=1700000001"),
            body
        ));
        assert!(!verify_signature("s3cret", "garbage", body));
    }

    #[test]
    fn the_secret_is_not_printed() {
        let c = WebhookConfig {
            url: "http://x".into(),
            secret: Some("s3cret".into()),
            timeout: Duration::from_secs(1),
            poll: Duration::from_secs(1),
            retry: RetryPolicy::default(),
        };
        assert!(!format!("{c:?}").contains("s3cret"));
    }
}
