//! Non-interference for reads, on every face: whatever a caller may not read changes
//! nothing in what it is answered — items, `scanned`, whether a cursor comes back and
//! where it leads, counts, page totals, errors and their details. Each test asks the
//! same questions before and after another user writes hidden rows (below and above the
//! scan limit), and asks pairs of questions that differ only in conditions that match
//! hidden rows.

mod common;

use common::{ADMIN_KEY, Api, Server};
use serde_json::{Value, json};

on_every_face!(
    hidden_rows_change_no_answer,
    cursors_are_opaque_and_counts_are_per_reader,
    writes_and_schemas_reveal_nothing_hidden,
);

/// Everything an answer says, with the cursor reduced to where it leads.
async fn answer(api: &Api, token: &str, table: &str, q: &Value) -> Value {
    let path = format!("/v1/tables/{table}/query");
    let r = api.call("POST", &path, Some(token), Some(q.clone())).await;
    let mut out = json!({
        "status": r.status,
        "error": r.body["error"],
        "items": r.body["items"],
        "scanned": r.body["scanned"],
        "total": r.body["total"],
        "last_page": r.body["last_page"],
        "cursor": r.body["cursor"].is_string(),
    });
    // Follow the cursor (twice at most): the next pages are part of the answer.
    let mut cursor = r.body["cursor"]
        .as_str()
        .filter(|_| q.get("page").is_none())
        .map(str::to_string);
    let mut pages = Vec::new();
    while let Some(c) = cursor.take() {
        if pages.len() == 2 {
            break;
        }
        let mut next = q.clone();
        next["cursor"] = json!(c);
        let r = api.call("POST", &path, Some(token), Some(next)).await;
        assert_eq!(r.status, 200, "{}", r.text);
        pages.push(json!({
            "items": r.body["items"],
            "scanned": r.body["scanned"],
            "cursor": r.body["cursor"].is_string(),
        }));
        cursor = r.body["cursor"].as_str().map(str::to_string);
    }
    out["pages"] = json!(pages);
    out
}

fn table_def(record: &str) -> Value {
    json!({
        "fields": [
            {"name": "email", "type": "string", "index": true},
            {"name": "amount", "type": "integer", "index": true},
            {"name": "note", "type": "string"}
        ],
        "acl": {"record": record, "create": "users"}
    })
}

/// Rows as one user, in batches (rows with the same values share their counters, so
/// up to 14 fit one transaction).
async fn create_many(api: &Api, token: &str, table: &str, rows: Vec<Value>) {
    let per_batch = if rows.windows(2).all(|w| w[0] == w[1]) {
        14
    } else {
        6
    };
    api.create_many(token, table, &rows, per_batch).await;
}

/// The questions alice asks. `bob` is bob's user id.
fn questions(bob: &str) -> Vec<Value> {
    vec![
        json!({"where": [["email", "prefix", "bob."]], "order": [["email", "asc"]]}),
        json!({"where": [["email", "prefix", "bob.x"]], "order": [["email", "asc"]]}),
        json!({"where": [["email", "prefix", "bob."]]}),
        json!({"where": [["email", "eq", "bob.smith@example.com"]]}),
        json!({"where": [["amount", "gte", 4000]], "order": [["amount", "asc"]]}),
        json!({"where": [["amount", "gte", 5000]]}),
        json!({"where": [["amount", "gte", 4000], ["amount", "lt", 4500]]}),
        json!({"where": [["amount", "gte", 5000000], ["amount", "lt", 1000000]]}),
        json!({"where": [["note", "eq", "n"]]}),
        json!({"where": [["note", "eq", "n"], ["amount", "gte", 0]], "order": [["amount", "desc"]]}),
        json!({"order": [["_id", "desc"]], "limit": 2}),
        json!({"where": [["email", "prefix", "alice."]], "order": [["email", "asc"]], "limit": 2}),
        json!({"where": [["amount", "lt", 100000]], "limit": 2}),
        json!({"count": true}),
        json!({"count": true, "where": [["amount", "eq", 4242]]}),
        json!({"count": true, "where": [["_owner", "eq", bob]]}),
        json!({"where": [["_owner", "eq", bob]]}),
        json!({"where": [["_group", "eq", "gb"]]}),
        json!({"page": 1, "per_page": 2}),
        json!({"page": 2, "per_page": 2, "where": [["amount", "gte", 0]]}),
    ]
}

async fn hidden_rows_change_no_answer(s: Server) {
    let api = Api::new(&s.base);
    let (alice, alice_u) = api.login("mock:alice").await;
    let (bob, bob_u) = api.login("mock:bob").await;
    api.set_groups(&alice_u, &["ga"]).await;
    api.set_groups(&bob_u, &["gb"]).await;
    let bob_id = bob_u["id"].as_str().unwrap();
    // Owner-only and group-readable tables.
    let tables = [("priv", "rwd:-:-", None), ("grp", "rwd:r:-", Some("ga"))];
    for (t, acl, group) in tables {
        let r = api
            .call(
                "PUT",
                &format!("/v1/tables/{t}"),
                Some(ADMIN_KEY),
                Some(table_def(acl)),
            )
            .await;
        assert_eq!(r.status, 201, "{}", r.text);
        let mine = (1..=3)
            .map(|i| {
                let mut d = json!({"email": format!("alice.{i}@example.com"), "amount": i * 10, "note": "n"});
                if let Some(g) = group {
                    d["_group"] = json!(g);
                }
                d
            })
            .collect();
        create_many(&api, &alice, t, mine).await;
    }
    let qs = questions(bob_id);
    let mut before = Vec::new();
    for (t, _, _) in tables {
        for q in &qs {
            before.push(answer(&api, &alice, t, q).await);
        }
    }

    // Bob's rows: one that matches the probes, and in the owner-only table more rows than
    // an unindexed query may scan.
    let bob_row = |email: &str, amount: i64, group: bool| {
        let mut d = json!({"email": email, "amount": amount, "note": "n"});
        if group {
            d["_group"] = json!("gb");
        }
        d
    };
    create_many(
        &api,
        &bob,
        "priv",
        vec![bob_row("bob.smith@example.com", 4242, false)],
    )
    .await;
    let bulk = vec![bob_row("bob.bulk@example.com", 4300, false); s.scan_limit + 10];
    create_many(&api, &bob, "priv", bulk).await;
    let mut rows = vec![bob_row("bob.smith@example.com", 4242, true)];
    rows.extend((0..40).map(|i| bob_row(&format!("bob.{i}@example.com"), 4300 + i, true)));
    create_many(&api, &bob, "grp", rows).await;
    // They are there: the admin finds them; an unindexed query over what the admin, or
    // bob, may read is refused, and says how many records that is.
    let r = answer(&api, ADMIN_KEY, "priv", &qs[0]).await;
    assert_eq!(r["items"].as_array().map(Vec::len), Some(20), "{r}");
    let (all, bobs) = (s.scan_limit + 14, s.scan_limit + 11);
    for (who, n) in [(ADMIN_KEY, all), (bob.as_str(), bobs)] {
        let r = answer(&api, who, "priv", &qs[8]).await;
        assert_eq!(r["error"]["code"], "INDEX_REQUIRED", "{r}");
        assert_eq!(r["error"]["details"]["records"], n, "{r}");
    }

    let mut after = Vec::new();
    for (t, _, _) in tables {
        for q in &qs {
            after.push(answer(&api, &alice, t, q).await);
        }
    }
    for (i, (b, a)) in before.iter().zip(&after).enumerate() {
        let (t, q) = (tables[i / qs.len()].0, &qs[i % qs.len()]);
        assert_eq!(b, a, "{t}: {q} changed with rows alice may not read");
    }
    // Pairs that differ only in what matches bob's rows.
    for (t, _, _) in tables {
        for (x, y) in [(0, 1), (4, 5), (3, 5)] {
            let (qx, qy) = (&qs[x], &qs[y]);
            let (ax, ay) = (
                answer(&api, &alice, t, qx).await,
                answer(&api, &alice, t, qy).await,
            );
            assert_eq!(ax, ay, "{t}: {qx} and {qy} answer differently");
        }
        // The contradictory range is an empty page, not an error.
        let r = answer(&api, &alice, t, &qs[7]).await;
        assert_eq!(
            (r["status"].as_u64(), &r["items"]),
            (Some(200), &json!([])),
            "{r}"
        );
        // Her own rows are still found, in order.
        let r = answer(&api, &alice, t, &qs[11]).await;
        let emails: Vec<&str> = r["items"]
            .as_array()
            .unwrap()
            .iter()
            .chain(r["pages"][0]["items"].as_array().unwrap())
            .map(|i| i["email"].as_str().unwrap())
            .collect();
        assert_eq!(
            emails,
            [
                "alice.1@example.com",
                "alice.2@example.com",
                "alice.3@example.com"
            ],
            "{t}: {r}"
        );
    }
    // Bob reads his own through the same plans.
    let r = answer(&api, &bob, "priv", &qs[3]).await;
    assert_eq!(r["items"][0]["amount"], 4242, "{r}");
    let r = answer(
        &api,
        &bob,
        "grp",
        &json!({"count": true, "where": [["_group", "eq", "gb"]]}),
    )
    .await;
    assert_eq!(r["total"], 41, "{r}");
}

async fn cursors_are_opaque_and_counts_are_per_reader(s: Server) {
    let api = Api::new(&s.base);
    let (alice, _) = api.login("mock:alice").await;
    let (bob, bob_u) = api.login("mock:bob").await;
    let (carol, carol_u) = api.login("mock:carol").await;
    api.set_groups(&bob_u, &["team"]).await;
    api.set_groups(&carol_u, &["team"]).await;
    let bob_id = bob_u["id"].as_str().unwrap().to_string();
    for (t, acl) in [("priv", "rwd:-:-"), ("grp", "rwd:r:-")] {
        let r = api
            .call(
                "PUT",
                &format!("/v1/tables/{t}"),
                Some(ADMIN_KEY),
                Some(table_def(acl)),
            )
            .await;
        assert_eq!(r.status, 201, "{}", r.text);
    }
    let rows: Vec<Value> = (0..12)
        .map(|i| json!({"email": format!("alice.{i:02}@example.com"), "amount": i, "note": "n"}))
        .collect();
    create_many(&api, &alice, "priv", rows).await;

    // Cursors: nothing inside them can be read, each is new, each still leads on.
    let q =
        json!({"where": [["email", "prefix", "alice."]], "order": [["email", "asc"]], "limit": 5});
    let path = "/v1/tables/priv/query";
    let first = api.call("POST", path, Some(&alice), Some(q.clone())).await;
    let again = api.call("POST", path, Some(&alice), Some(q.clone())).await;
    let (c1, c2) = (
        first.body["cursor"].as_str().unwrap().to_string(),
        again.body["cursor"].as_str().unwrap().to_string(),
    );
    assert_ne!(c1, c2, "a cursor is sealed afresh every time");
    let hex_email = "616c6963652e"; // "alice." as the index keys write it
    let ids: Vec<String> = first.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["_id"].as_str().unwrap().to_string())
        .collect();
    for c in [&c1, &c2] {
        let decoded = decode_base64url(c);
        for hay in [c.clone(), String::from_utf8_lossy(&decoded).into_owned()] {
            assert!(
                !hay.contains(hex_email),
                "the cursor shows the indexed value: {hay}"
            );
            for id in &ids {
                assert!(
                    !hay.contains(id.as_str()),
                    "the cursor shows a record id: {hay}"
                );
            }
        }
    }
    for c in [&c1, &c2] {
        let mut next = q.clone();
        next["cursor"] = json!(c);
        let r = api.call("POST", path, Some(&alice), Some(next)).await;
        assert_eq!(
            r.body["items"][0]["email"], "alice.05@example.com",
            "{}",
            r.text
        );
    }
    // Another reader's cursor belongs to another query.
    let mut stolen = q.clone();
    stolen["cursor"] = json!(c1);
    let r = api.call("POST", path, Some(&bob), Some(stolen)).await;
    assert_eq!((r.status, r.code()), (400, "INVALID_CURSOR"), "{}", r.text);

    // Counts per reader: bob's record in "team" is counted for team members only.
    let r = api
        .call(
            "POST",
            "/v1/tables/grp/records",
            Some(&bob),
            Some(json!({"email": "bob@example.com", "amount": 7, "note": "n", "_group": "team"})),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    let by_bob = json!({"where": [["_owner", "eq", bob_id]], "count": true});
    let by_nobody =
        json!({"where": [["_owner", "eq", "01ZZZZZZZZZZZZZZZZZZZZZZZZ"]], "count": true});
    let a = answer(&api, &alice, "grp", &by_bob).await;
    let b = answer(&api, &alice, "grp", &by_nobody).await;
    assert_eq!(a, b, "alice's count of bob's records says they exist");
    assert_ne!(a["total"], 1, "{a}");
    let team = json!({"where": [["_group", "eq", "team"]], "count": true});
    assert_eq!(answer(&api, &carol, "grp", &team).await["total"], 1);
    assert_eq!(
        answer(
            &api,
            &bob,
            "grp",
            &json!({"where": [["_owner", "eq", bob_id]], "count": true})
        )
        .await["total"],
        1
    );
    // Alice's own count and page totals in the owner-only table are hers alone.
    let r = answer(&api, &alice, "priv", &json!({"count": true})).await;
    assert_eq!(r["total"], 12, "{r}");
    create_many(
        &api,
        &bob,
        "priv",
        vec![json!({"email": "b@x", "amount": 3, "note": "n"}); 5],
    )
    .await;
    let r = answer(
        &api,
        &alice,
        "priv",
        &json!({"count": true, "where": [["amount", "eq", 3]]}),
    )
    .await;
    assert_eq!(r["total"], 1, "{r}");
    let r = answer(&api, &alice, "priv", &json!({"page": 1, "per_page": 5})).await;
    assert_eq!(
        (r["total"].as_u64(), r["last_page"].as_u64()),
        (Some(12), Some(3)),
        "{r}"
    );
}

async fn writes_and_schemas_reveal_nothing_hidden(s: Server) {
    let api = Api::new(&s.base);
    let (alice, alice_u) = api.login("mock:alice").await;
    let (bob, bob_u) = api.login("mock:bob").await;
    api.set_groups(&alice_u, &["team"]).await;
    api.set_groups(&bob_u, &["team"]).await;
    // `score` may be written by the group but read by its owner only.
    let r = api
        .call(
            "PUT",
            "/v1/tables/scores",
            Some(ADMIN_KEY),
            Some(json!({
                "fields": [
                    {"name": "score", "type": "integer", "min": 0, "max": 100, "acl": "rw:w:-"},
                    {"name": "title", "type": "string"}
                ],
                "acl": {"record": "rwd:rw:-", "create": "users"}
            })),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    let r = api
        .call(
            "POST",
            "/v1/tables/scores/records",
            Some(&bob),
            Some(json!({"score": 95, "title": "t", "_group": "team"})),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    let path = format!(
        "/v1/tables/scores/records/{}",
        r.body["_id"].as_str().unwrap()
    );
    // An increment's outcome would tell alice where the hidden score lies: refused alike
    // whatever the score.
    for step in [1, 10] {
        let r = api
            .call(
                "PATCH",
                &path,
                Some(&alice),
                Some(json!({"score": {"$inc": step}})),
            )
            .await;
        assert_eq!((r.status, r.code()), (403, "FORBIDDEN"), "{}", r.text);
        assert_eq!(r.body["error"]["details"]["field"], "score");
    }
    // A plain value is checked against the bounds alone.
    let r = api
        .call("PATCH", &path, Some(&alice), Some(json!({"score": 101})))
        .await;
    assert_eq!(
        (r.status, r.code()),
        (400, "INVALID_ARGUMENT"),
        "{}",
        r.text
    );
    let r = api
        .call("PATCH", &path, Some(&alice), Some(json!({"score": 50})))
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert!(r.body.get("score").is_none(), "{}", r.text);
    // The owner's own decrement below a bound-shifted value works (it was refused as
    // "must be an integer").
    let r = api
        .call(
            "PATCH",
            &path,
            Some(&bob),
            Some(json!({"score": {"$inc": -1}})),
        )
        .await;
    assert_eq!(
        (r.status, &r.body["score"]),
        (200, &json!(49)),
        "{}",
        r.text
    );
    let r = api
        .call(
            "PATCH",
            &path,
            Some(&bob),
            Some(json!({"score": {"$inc": -50}})),
        )
        .await;
    assert_eq!(
        (r.status, r.code()),
        (400, "INVALID_ARGUMENT"),
        "{}",
        r.text
    );

    // Schemas: no rules for users, nothing for anonymous callers of a users' table.
    let r = api.call("GET", "/v1/tables/scores", None, None).await;
    assert_eq!((r.status, r.code()), (404, "NOT_FOUND"), "{}", r.text);
    let r = api
        .call("GET", "/v1/tables/scores", Some(&alice), None)
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert!(
        r.body.get("acl").is_none() && r.body.get("pending_indexes").is_none(),
        "{}",
        r.text
    );
    assert!(
        !r.text.contains("rw:w:-") && !r.text.contains("rwd:rw:-"),
        "{}",
        r.text
    );
    let r = api
        .call("GET", "/v1/tables/scores", Some(ADMIN_KEY), None)
        .await;
    assert_eq!(r.body["acl"]["record"], "rwd:rw:-", "{}", r.text);

    // Profile strings.
    for (patch, field) in [
        (json!({"nickname": "a\u{0}b"}), "nickname"),
        (json!({"nickname": "evil\u{202E}gnp.exe"}), "nickname"),
        (json!({"nickname": "tab\there"}), "nickname"),
        (json!({"avatar_url": "file:///etc/passwd"}), "avatar_url"),
        (json!({"avatar_url": "javascript:alert(1)"}), "avatar_url"),
        (json!({"avatar_url": "https://"}), "avatar_url"),
    ] {
        let r = api
            .call("PATCH", "/v1/auth/me", Some(&alice), Some(patch.clone()))
            .await;
        assert_eq!(
            (r.status, r.code()),
            (400, "INVALID_ARGUMENT"),
            "{patch}: {}",
            r.text
        );
        assert_eq!(r.body["error"]["details"]["field"], field);
    }
    let r = api
        .call(
            "PATCH",
            "/v1/auth/me",
            Some(&alice),
            Some(json!({"nickname": "小明 😀", "avatar_url": "https://example.com/a.png"})),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
}

fn decode_base64url(s: &str) -> Vec<u8> {
    let table = |c: u8| -> Option<u32> {
        Some(match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'-' | b'+' => 62,
            b'_' | b'/' => 63,
            _ => return None,
        } as u32)
    };
    let mut out = Vec::new();
    let (mut acc, mut bits) = (0u32, 0);
    for c in s.bytes() {
        let Some(v) = table(c) else { continue };
        acc = (acc << 6) | v;
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
        }
    }
    out
}
