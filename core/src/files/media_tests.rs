//! Media checks on the domain: a fake checker stands for WeChat, verdicts are handed to
//! `settle_media_check` as the push endpoint hands them.

use std::sync::Mutex;

use super::*;
use crate::files::{MediaChecker, MediaKind, MediaVerdict};

/// Answers trace ids `t1`, `t2`, … (or fails while `down`), remembering what it was
/// asked to check.
#[derive(Default)]
struct FakeChecker {
    asked: Mutex<Vec<(String, String, MediaKind)>>,
    down: Mutex<bool>,
}

#[async_trait]
impl MediaChecker for FakeChecker {
    async fn start(&self, owner: &str, url: &str, kind: MediaKind) -> Result<String> {
        if *self.down.lock().expect("lock") {
            return Err(Error::new(Code::WechatUnavailable, "down"));
        }
        let mut a = self.asked.lock().expect("lock");
        a.push((owner.into(), url.into(), kind));
        Ok(format!("t{}", a.len()))
    }
}

fn checked_world() -> (World, Arc<FakeChecker>) {
    let w = world(FilesConfig {
        media_check: vec!["image/*".into()],
        ..FilesConfig::default()
    });
    let c = Arc::new(FakeChecker::default());
    w.files.set_media_checks(c.clone());
    (w, c)
}

fn verdict(trace: &str, suggest: &str) -> MediaVerdict {
    MediaVerdict {
        trace_id: trace.into(),
        suggest: suggest.into(),
        label: 100,
        errcode: 0,
    }
}

#[tokio::test]
async fn a_checked_upload_is_its_owners_until_it_passes() {
    let (w, checker) = checked_world();
    let (alice, bob) = (user("alice"), user("bob"));
    let v = w
        .upload(&alice, png_request(true), PNG)
        .await
        .expect("completed");
    assert_eq!(v.file.status, Status::Checking);
    assert!(v.url.is_some(), "its owner gets a URL");
    let asked = checker.asked.lock().expect("lock").clone();
    assert_eq!(asked.len(), 1);
    assert_eq!(asked[0].0, "alice");
    assert!(
        asked[0].1.contains(&format!("f/{}", v.file.id)),
        "{asked:?}"
    );
    assert_eq!(asked[0].2, MediaKind::Image);
    let id = v.file.id.clone();
    // Public, yet nobody else sees it or may use it.
    for other in [&bob, &Caller::Anonymous] {
        assert_eq!(
            w.files.get(other, &id).await.unwrap_err().code,
            Code::NotFound
        );
        assert!(w.files.usable(other, &id).await.is_err());
    }
    assert!(w.files.usable(&alice, &id).await.is_ok());
    assert!(w.files.get(&Caller::AdminKey, &id).await.is_ok());

    assert!(
        !w.files
            .settle_media_check(&verdict("nope", "pass"))
            .await
            .unwrap()
    );
    assert!(
        w.files
            .settle_media_check(&verdict("t1", "pass"))
            .await
            .unwrap()
    );
    assert_eq!(
        w.files.get(&bob, &id).await.unwrap().file.status,
        Status::Ready
    );
    // Again, even contrary: nothing changes (the trace is forgotten once settled).
    assert!(
        !w.files
            .settle_media_check(&verdict("t1", "risky"))
            .await
            .unwrap()
    );
    assert_eq!(
        w.files.get(&bob, &id).await.unwrap().file.status,
        Status::Ready
    );
    assert!(w.blobs.0.lock().unwrap().contains_key(&blob_key(&id)));
}

#[tokio::test]
async fn a_rejected_upload_loses_its_bytes_and_keeps_its_record() {
    let (w, _) = checked_world();
    let alice = user("alice");
    let v = w.upload(&alice, png_request(true), PNG).await.unwrap();
    let id = v.file.id.clone();
    let mut failed = verdict("t1", "");
    failed.errcode = -1008;
    assert!(!failed.passed());
    assert!(w.files.settle_media_check(&failed).await.unwrap());
    let seen = w.files.get(&alice, &id).await.unwrap();
    assert_eq!(seen.file.status, Status::Rejected);
    assert!(seen.url.is_none());
    assert!(!w.blobs.0.lock().unwrap().contains_key(&blob_key(&id)));
    assert_eq!(
        w.files.content(&alice, &id, None).await.unwrap_err().code,
        Code::FileRejected
    );
    assert_eq!(
        w.files
            .content(&user("bob"), &id, None)
            .await
            .unwrap_err()
            .code,
        Code::NotFound
    );
    assert!(w.files.usable(&alice, &id).await.is_err());
    // Its owner deletes it: the quota is given back.
    w.files.delete(&alice, &id).await.unwrap();
    assert_eq!(w.files.usage(Some("alice")).await.unwrap(), (0, 0));
}

#[tokio::test]
async fn what_is_not_checked_is_ready_and_a_failed_start_can_be_retried() {
    let (w, checker) = checked_world();
    // The admin key has no openid to check for.
    let admin = w
        .upload(&Caller::AdminKey, png_request(false), PNG)
        .await
        .unwrap();
    assert_eq!(admin.file.status, Status::Ready);
    assert!(checker.asked.lock().unwrap().is_empty());

    *checker.down.lock().unwrap() = true;
    let alice = user("alice");
    let up = w
        .files
        .start_upload(&alice, png_request(false))
        .await
        .unwrap();
    w.blobs
        .put(&staging_key(&up.file.id), PNG.to_vec(), "image/png")
        .await
        .unwrap();
    let e = w.files.complete(&alice, &up.file.id).await.unwrap_err();
    assert_eq!(e.code, Code::WechatUnavailable);
    assert_eq!(
        w.files.get(&alice, &up.file.id).await.unwrap().file.status,
        Status::Pending
    );
    *checker.down.lock().unwrap() = false;
    let done = w.files.complete(&alice, &up.file.id).await.unwrap();
    assert_eq!(done.file.status, Status::Checking);
}

/// Verdicts racing (WeChat's retries, a forger who got through would need the Token):
/// one wins, and the bytes agree with it.
#[tokio::test]
async fn racing_verdicts_settle_once() {
    let (w, _) = checked_world();
    let alice = user("alice");
    let id = w
        .upload(&alice, png_request(false), PNG)
        .await
        .unwrap()
        .file
        .id;
    let w = Arc::new(w);
    let runs: Vec<_> = (0..16)
        .map(|i| {
            let w = w.clone();
            tokio::spawn(async move {
                let s = if i % 2 == 0 { "pass" } else { "risky" };
                w.files.settle_media_check(&verdict("t1", s)).await
            })
        })
        .collect();
    for r in runs {
        r.await.unwrap().unwrap();
    }
    let f = w.files.get(&alice, &id).await.unwrap().file;
    let has_bytes = w.blobs.0.lock().unwrap().contains_key(&blob_key(&id));
    match f.status {
        Status::Ready => assert!(has_bytes),
        Status::Rejected => assert!(!has_bytes),
        s => panic!("unsettled: {s:?}"),
    }
}
