//! Fetching the images a report draws its values in (the table markup's 姓名
//! and 毕(结)业), through the same client as the page: the same rate limit,
//! cookies and timeouts, a size cap and the image intake checks. Reading
//! them is the OCR engines' work (see `pipeline`'s drawn-field step).

use reqwest::StatusCode;

use super::page::DrawnField;
use super::{ChsiClient, Transient, read_limited};
use crate::domain::Field;
use crate::ocr::intake;

/// An image a report drew a value in, as fetched.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DrawnImage {
    pub field: Field,
    /// The image, or why it cannot be one (the page's fault, not the
    /// network's: a person looks at it).
    pub image: Result<Vec<u8>, String>,
}

impl ChsiClient {
    /// Fetches each drawn value's image. A failure of the service (timeout,
    /// 429, 5xx) fails the lookup as a whole, to be retried; an answer that
    /// is no usable image stays with its field.
    pub(super) async fn fetch_drawn(
        &self,
        drawn: &[DrawnField],
    ) -> Result<Vec<DrawnImage>, Transient> {
        let mut out = Vec::with_capacity(drawn.len());
        for d in drawn {
            let image = match self.endpoint.join(&d.src) {
                // Never off the service's origin: a page that points
                // elsewhere does not make us fetch from there.
                Ok(url) if url.origin() == self.endpoint.origin() => self.fetch_image(url).await?,
                Ok(_) => Err("the image is not on the service's origin".to_string()),
                Err(e) => Err(format!("the image's address is not one: {e}")),
            };
            out.push(DrawnImage {
                field: d.field,
                image,
            });
        }
        Ok(out)
    }

    async fn fetch_image(&self, url: reqwest::Url) -> Result<Result<Vec<u8>, String>, Transient> {
        // Images count against the same budget as pages.
        self.budget.acquire().await?;
        let resp = self.http.get(url).send().await.map_err(super::classify)?;
        let status = resp.status();
        if status == StatusCode::TOO_MANY_REQUESTS {
            return Err(Transient::RateLimited);
        }
        if status.is_server_error() {
            return Err(Transient::ServerError(status.as_u16()));
        }
        if !status.is_success() {
            return Err(Transient::UnexpectedStatus(status.as_u16()));
        }
        let limits = &self.config.image_limits;
        let bytes = match read_limited(resp, limits.max_bytes).await {
            Ok(b) => b,
            Err(Transient::BodyTooLarge(n)) => {
                return Ok(Err(format!("the image is larger than {n} bytes")));
            }
            Err(t) => return Err(t),
        };
        Ok(intake::check(&bytes, limits)
            .map(|_| bytes)
            .map_err(|e| e.to_string()))
    }
}
