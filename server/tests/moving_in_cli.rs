//! `yunqiao import --from leancloud|cloudbase DIR` as a user runs it: the dry run prints
//! what will be created and what cannot be mapped and writes nothing; `--schema-out`
//! writes the inferred schemas, `--schema` converts with an edited copy; `--out` writes
//! the archive, with the bytes of the files whose URLs answer (a local server here) and
//! the others listed; a broken export or option fails with the reason and leaves no file.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::path::Path;
use std::process::Command;

use serde_json::{Value, json};

const PNG: &[u8] = &[
    0x89, b'P', b'N', b'G', 0x0d, 0x0a, 0x1a, 0x0a, 0, 0, 0, 13, b'I', b'H', b'D', b'R', 0, 0, 0,
    1, 0, 0, 0, 1, 8, 6, 0, 0, 0, 0x1f, 0x15, 0xc4, 0x89,
];

/// Serves `PNG` at `/cat.png` and 404 elsewhere; answers its base URL.
fn file_server() -> String {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let base = format!("http://{}", l.local_addr().unwrap());
    std::thread::spawn(move || {
        for s in l.incoming() {
            let Ok(mut s) = s else { continue };
            let mut first = String::new();
            let mut r = BufReader::new(s.try_clone().unwrap());
            if r.read_line(&mut first).is_err() {
                continue;
            }
            loop {
                let mut h = String::new();
                if r.read_line(&mut h).map_or(true, |n| n == 0) || h == "\r\n" {
                    break;
                }
            }
            let (status, body): (&str, &[u8]) = if first.starts_with("GET /cat.png ") {
                ("200 OK", PNG)
            } else {
                ("404 Not Found", b"no")
            };
            let _ = write!(
                s,
                "HTTP/1.1 {status}\r\ncontent-length: {}\r\nconnection: close\r\n\r\n",
                body.len()
            );
            let _ = s.write_all(body);
        }
    });
    base
}

fn yunqiao(dir: &Path, args: &[&str]) -> (bool, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_yunqiao"))
        .current_dir(dir)
        .args(args)
        .env_remove("YUNQIAO_CONFIG")
        .output()
        .expect("run yunqiao");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn jsonl(rows: &[Value]) -> String {
    rows.iter().map(|r| format!("{r}\n")).collect()
}

fn leancloud_export(dir: &Path, files: &str) {
    let lc = dir.join("lc");
    std::fs::create_dir_all(&lc).unwrap();
    std::fs::write(
        lc.join("_User.jsonl"),
        jsonl(&[
            json!({"objectId": "u1", "createdAt": "2025-01-01T00:00:00Z",
                   "authData": {"lc_weapp": {"openid": "oCli_alice_0123456789abcdefgh", "session_key": "SK-NEVER-SHOWN"}}}),
            json!({"objectId": "u2", "username": "bob", "createdAt": "2025-01-02T00:00:00Z"}),
        ]),
    )
    .unwrap();
    std::fs::write(
        lc.join("Photo.jsonl"),
        jsonl(&[
            json!({"objectId": "p1", "caption": "猫 🐱", "likes": 3, "createdAt": "2025-02-01T00:00:00Z",
                   "image": {"__type": "File", "name": "cat.png", "url": format!("{files}/cat.png")},
                   "ACL": {"u1": {"read": true, "write": true}, "*": {"read": true}}}),
            json!({"objectId": "p2", "caption": "gone", "likes": "many", "createdAt": "2025-02-02T00:00:00Z",
                   "image": {"__type": "File", "name": "dog.png", "url": format!("{files}/dog.png")},
                   "album": {"__type": "Pointer", "className": "Album", "objectId": "a1"}}),
        ]),
    )
    .unwrap();
}

fn untar(path: &Path) -> Vec<(String, Vec<u8>)> {
    let f = std::fs::File::open(path).unwrap();
    let mut out = Vec::new();
    let mut gz = flate2::read::GzDecoder::new(f);
    let mut raw = Vec::new();
    gz.read_to_end(&mut raw).unwrap();
    // A ustar reader is enough here: 512-byte headers, name at 0, size (octal) at 124.
    let mut at = 0;
    while at + 512 <= raw.len() && raw[at] != 0 {
        let h = &raw[at..at + 512];
        let name = String::from_utf8_lossy(&h[..100])
            .trim_end_matches('\0')
            .to_string();
        let size = usize::from_str_radix(
            String::from_utf8_lossy(&h[124..136]).trim_matches(|c: char| c == '\0' || c == ' '),
            8,
        )
        .unwrap();
        out.push((name, raw[at + 512..at + 512 + size].to_vec()));
        at += 512 + size.div_ceil(512) * 512;
    }
    out
}

#[test]
fn dry_run_reports_and_writes_nothing_but_the_schema() {
    let tmp = tempfile::tempdir().unwrap();
    let files = file_server();
    leancloud_export(tmp.path(), &files);
    let (ok, out, err) = yunqiao(
        tmp.path(),
        &[
            "import",
            "--from",
            "leancloud",
            "lc",
            "--dry-run",
            "--schema-out",
            "schema.json",
        ],
    );
    assert!(ok, "{out}{err}");
    for want in [
        "table photo",
        "2 records",
        "users: 1",
        "[user_skipped] _User",
        "u2",
        "[mixed_types] Photo.likes",
        "[file_not_fetched] Photo.image",
        "/dog.png",
        "[unmapped] Photo.album: pointers to Album, which is not in the export",
        "Dry run: nothing was written.",
        "caption",
    ] {
        assert!(out.contains(want), "{want:?} in:\n{out}");
    }
    assert!(!out.contains("SK-NEVER-SHOWN") && !err.contains("SK-NEVER-SHOWN"));
    let mut names: Vec<String> = std::fs::read_dir(tmp.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    assert_eq!(names, ["lc", "schema.json"], "nothing else written");
    let plan: Value =
        serde_json::from_str(&std::fs::read_to_string(tmp.path().join("schema.json")).unwrap())
            .unwrap();
    assert_eq!(plan["source"], "leancloud");
    assert_eq!(plan["tables"][0]["name"], "photo");
    assert_eq!(plan["tables"][0]["columns"]["objectId"], "lc_id");
}

#[test]
fn an_edited_schema_shapes_the_archive_and_files_are_fetched() {
    let tmp = tempfile::tempdir().unwrap();
    let files = file_server();
    leancloud_export(tmp.path(), &files);
    let (ok, out, err) = yunqiao(
        tmp.path(),
        &[
            "import",
            "--from",
            "leancloud",
            "lc",
            "--dry-run",
            "--schema-out",
            "schema.json",
        ],
    );
    assert!(ok, "{out}{err}");
    // The reviewer renames `caption` to `title` and makes the table owner-only.
    let path = tmp.path().join("schema.json");
    let mut plan: Value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    let t = &mut plan["tables"][0];
    t["columns"]["caption"] = json!("title");
    for f in t["def"]["fields"].as_array_mut().unwrap() {
        if f["name"] == "caption" {
            f["name"] = json!("title");
        }
    }
    t["def"]["acl"]["record"] = json!("rwd:-:-");
    std::fs::write(&path, plan.to_string()).unwrap();
    let (ok, out, err) = yunqiao(
        tmp.path(),
        &[
            "import",
            "--from",
            "leancloud",
            "lc",
            "--schema",
            "schema.json",
            "--out",
            "app.tar.gz",
        ],
    );
    assert!(ok, "{out}{err}");
    assert!(out.contains("files: 1"), "{out}");
    let entries = untar(&tmp.path().join("app.tar.gz"));
    assert_eq!(entries[0].0, "manifest.json");
    let get = |n: &str| -> &[u8] { &entries.iter().find(|(x, _)| x == n).unwrap().1 };
    let schemas: Value = serde_json::from_slice(get("schemas.ndjson")).unwrap();
    assert_eq!(schemas["def"]["acl"]["record"], "rwd:-:-");
    let records: Vec<Value> = std::str::from_utf8(get("tables/photo.ndjson"))
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let p1 = records.iter().find(|r| r["lc_id"] == "p1").unwrap();
    assert_eq!(p1["title"], "猫 🐱");
    assert!(p1.get("caption").is_none());
    let file: Value = serde_json::from_slice(get("files.ndjson")).unwrap();
    assert_eq!(p1["image"], file["id"]);
    assert_eq!(file["content_type"], "image/png");
    assert_eq!(file["size"], PNG.len());
    assert_eq!(get(&format!("blobs/{}", file["id"].as_str().unwrap())), PNG);
    let p2 = records.iter().find(|r| r["lc_id"] == "p2").unwrap();
    assert!(
        p2.get("image").is_none(),
        "the unreachable file is listed, not imported"
    );
    assert_eq!(p2["likes"], "many");
}

#[test]
fn failures_say_why_and_leave_no_archive() {
    let tmp = tempfile::tempdir().unwrap();
    leancloud_export(tmp.path(), "http://127.0.0.1:9");
    std::fs::write(
        tmp.path().join("lc/Broken.jsonl"),
        "{\"objectId\": \"x\"}\n{oops\n",
    )
    .unwrap();
    let (ok, _, err) = yunqiao(
        tmp.path(),
        &[
            "import",
            "--from",
            "leancloud",
            "lc",
            "--no-fetch",
            "--out",
            "app.tar.gz",
        ],
    );
    assert!(!ok);
    assert!(err.contains("Broken.jsonl:2"), "{err}");
    assert!(!tmp.path().join("app.tar.gz").exists());
    let (ok, _, err) = yunqiao(
        tmp.path(),
        &["import", "--from", "parse", "lc", "--dry-run"],
    );
    assert!(!ok && err.contains("leancloud or cloudbase"), "{err}");
    std::fs::remove_file(tmp.path().join("lc/Broken.jsonl")).unwrap();
    std::fs::write(tmp.path().join("schema.json"), "{\"not\": \"a plan\"}").unwrap();
    let (ok, _, err) = yunqiao(
        tmp.path(),
        &[
            "import",
            "--from",
            "leancloud",
            "lc",
            "--schema",
            "schema.json",
            "--dry-run",
        ],
    );
    assert!(!ok && err.contains("not a schema file"), "{err}");
    let (ok, _, _) = yunqiao(
        tmp.path(),
        &["import", "--from", "cloudbase", "nowhere", "--dry-run"],
    );
    assert!(!ok);
}
