//! The sweep of expired pending uploads (both faces run it every minute).

use super::{Files, SWEEP_PAGE, SWEEP_PAGES, Status, pending_sk, staging_key};
use crate::error::{Code, Result};
use crate::keys;
use crate::store::{Query, SkRange};

impl Files {
    /// Removes every pending upload that expired (with whatever bytes arrived), a page
    /// of [`SWEEP_PAGE`] at a time, at most [`SWEEP_PAGES`] pages (the rest waits for
    /// the next run). Answers how many were removed. Both faces run it every minute.
    pub async fn sweep_expired(&self) -> Result<usize> {
        let mut removed = 0;
        for _ in 0..SWEEP_PAGES {
            let (n, more) = self.sweep_page(SWEEP_PAGE).await?;
            removed += n;
            if !more {
                break;
            }
        }
        Ok(removed)
    }

    /// Removes pending uploads that expired (with whatever bytes arrived), at most
    /// `limit` of them. Answers how many were removed.
    pub async fn sweep(&self, limit: usize) -> Result<usize> {
        Ok(self.sweep_page(limit).await?.0)
    }

    /// How many were removed, and whether the page was full (more may be due).
    async fn sweep_page(&self, limit: usize) -> Result<(usize, bool)> {
        let now = self.clock.now_ms();
        let page = self
            .store
            .query(
                Query::partition(keys::FILES_PENDING)
                    .range(SkRange::Lt(pending_sk(now, "")))
                    .limit(limit),
            )
            .await?;
        let mut removed = 0;
        let full = page.items.len() >= limit;
        for it in page.items {
            let Some((_, id)) = it.sk.split_once('#') else {
                continue;
            };
            match self.record(id).await {
                Ok(f) if f.status == Status::Pending => match self.remove(&f).await {
                    Ok(()) => removed += 1,
                    // Left for the next sweep; the others go on.
                    Err(e) => tracing::warn!(file = %id, error = %e, "sweep: cannot remove"),
                },
                // Completed or gone, and the form expired: whatever it posted since.
                Ok(_) => {
                    self.blobs.delete(&staging_key(id)).await?;
                    self.store.delete(keys::FILES_PENDING, &it.sk, None).await?;
                }
                Err(e) if e.code == Code::NotFound => {
                    self.blobs.delete(&staging_key(id)).await?;
                    self.store.delete(keys::FILES_PENDING, &it.sk, None).await?;
                }
                Err(e) => return Err(e),
            }
        }
        Ok((removed, full))
    }
}
