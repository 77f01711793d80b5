//! Topics: rules, subscriptions, resumes and publishing.

use super::*;

impl Live {
    /// Every topic rule, by pattern.
    pub async fn rules(&self) -> Result<Vec<(String, TopicRule)>> {
        let page = self
            .store
            .query(Query::partition(topics::RULES_PK).limit(MAX_RULES))
            .await?;
        Ok(page
            .items
            .into_iter()
            .filter_map(|i| {
                let r = serde_json::from_value(Value::Object(i.attrs)).ok()?;
                Some((i.sk, r))
            })
            .collect())
    }

    pub async fn put_rule(&self, caller: &Caller, pattern: &str, rule: TopicRule) -> Result<()> {
        caller.require_admin()?;
        if !topics::valid_pattern(pattern) {
            return Err(Error::invalid_field(
                "pattern",
                "a pattern is a topic name, \"presence\", \"direct\", or a prefix ending in *",
            ));
        }
        let existing = self.rules().await?;
        if existing.len() >= MAX_RULES && !existing.iter().any(|(p, _)| p == pattern) {
            return Err(Error::invalid(format!("at most {MAX_RULES} topic rules")));
        }
        let attrs = obj(serde_json::to_value(&rule).map_err(|e| Error::internal(e.to_string()))?);
        self.store
            .put(Item::new(topics::RULES_PK, pattern, attrs), None)
            .await?;
        Ok(())
    }

    pub async fn delete_rule(&self, caller: &Caller, pattern: &str) -> Result<()> {
        caller.require_admin()?;
        if !topics::valid_pattern(pattern) {
            return Err(Error::not_found("no such rule"));
        }
        match self
            .store
            .delete(topics::RULES_PK, pattern, Some(crate::store::Cond::Exists))
            .await
        {
            Ok(()) => Ok(()),
            Err(StoreError::ConditionFailed) => Err(Error::not_found("no such rule")),
            Err(e) => Err(e.into()),
        }
    }

    pub async fn list_rules(&self, caller: &Caller) -> Result<Vec<(String, TopicRule)>> {
        caller.require_admin()?;
        self.rules().await
    }

    pub(super) async fn rule(&self, topic: &str) -> Result<TopicRule> {
        Ok(topics::rule_for(topic, &self.rules().await?))
    }

    /// A topic's subscribers and state: one partition read.
    pub(super) async fn subscribers(&self, topic: &str) -> Result<(Vec<Sub>, TopicState)> {
        let mut subs = Vec::new();
        let mut state = TopicState::default();
        for item in self.all_keys(topics::sub_pk(topic)).await? {
            if item.sk == topics::STATE_SK {
                state = TopicState::from_item(&item);
            } else {
                subs.push(Sub::from_item(&item));
            }
        }
        Ok((subs, state))
    }

    pub(super) async fn subscribe(
        &self,
        from: &Origin,
        topic: &str,
        since: Option<u64>,
        filter: Option<Map<String, Value>>,
        presence: bool,
    ) -> Result<Vec<Value>> {
        let kind = topics::parse(topic)?;
        let schema = match kind {
            Topic::Table(t) => {
                let schema = self.tables.schema(t).await?;
                if let Some(f) = &filter {
                    changes::check_filter(&schema, f)?;
                }
                Some(schema)
            }
            Topic::Plain(_) | Topic::Presence => {
                if filter.is_some() {
                    return Err(Error::invalid_field(
                        "where",
                        "only table topics take a filter",
                    ));
                }
                if !self
                    .rule(topic)
                    .await?
                    .subscribe
                    .allows(&from.caller, topic)
                {
                    return Err(Error::forbidden(format!(
                        "you may not subscribe to {topic:?}"
                    )));
                }
                None
            }
        };
        let mine = self.connection_topics(&from.connection).await?;
        let again = mine.iter().any(|t| t == topic);
        if !again && mine.len() >= MAX_TOPICS_PER_CONNECTION {
            return Err(Error::new(
                Code::TooManyTopics,
                format!("a connection may subscribe to at most {MAX_TOPICS_PER_CONNECTION} topics"),
            ));
        }
        let sub = Sub {
            connection: from.connection.clone(),
            user_id: from.user_id().map(str::to_string),
            filter,
            presence,
            n: 0,
            p: 0,
            r: 0,
        };
        if let Some(schema) = &schema {
            return self
                .subscribe_table(from, topic, sub, again, since, schema)
                .await;
        }
        let expires = self.expiry();
        self.store
            .transact(vec![
                WriteOp::put(
                    Item::new(topics::sub_pk(topic), &from.connection, sub.attrs())
                        .expiring_at(expires),
                    None,
                ),
                WriteOp::put(
                    Item::new(topics::conn_subs_pk(&from.connection), topic, Map::new())
                        .expiring_at(expires),
                    None,
                ),
            ])
            .await?;
        let state = self.topic_state(topic).await?;
        let mut frames = Vec::new();
        let mut ack = json!({"type": "ack", "topic": topic, "seq": state.seq});
        if let Some(since) = since {
            match self.replay(topic, &state, since).await? {
                Some((missed, upto)) => {
                    ack["replayed"] = json!(missed.len());
                    ack["seq"] = json!(upto);
                    frames = missed;
                }
                None => ack["resync"] = json!(true),
            }
        }
        if !again
            && matches!(kind, Topic::Plain(_))
            && let Some(u) = from.caller.user()
        {
            self.topic_presence(topic, &from.connection, u, "join")
                .await;
        }
        frames.push(ack);
        Ok(frames)
    }

    /// A table watch. Its `seq` numbers are its own (see [`Live::table_changed`]): they
    /// count the frames this subscription was sent, so no number says anything about
    /// writes the subscriber may not see.
    ///
    /// A resume with `since` on a new connection finds where the watch it continues
    /// stopped (see [`Live::resume_point`]), replays what it may see of the changes
    /// after, numbered on from `since`, and starts the new watch after them in one
    /// transaction that holds only if no change was logged meanwhile (so none falls
    /// between the replay and the live frames). Otherwise it answers `resync`, and
    /// numbering still goes on from `since`, so a client dropping repeats by `seq` drops
    /// nothing new.
    async fn subscribe_table(
        &self,
        from: &Origin,
        topic: &str,
        sub: Sub,
        again: bool,
        since: Option<u64>,
        schema: &crate::tables::Schema,
    ) -> Result<Vec<Value>> {
        let pk = topics::sub_pk(topic);
        let expires = self.expiry();
        if again {
            return self
                .resubscribe_table(from, topic, sub, since, schema)
                .await;
        }
        let mut tries = 0;
        loop {
            tries += 1;
            let state = self.topic_state(topic).await?;
            let replay = match since {
                Some(s) if tries <= super::MAX_RESUME_TRIES => {
                    match self.resume_point(topic, from, &sub, s).await? {
                        Some(p) => match self
                            .replay_table(topic, &state, p, &sub, &from.caller, schema)
                            .await?
                        {
                            Replayed::Frames(f) => Some(f),
                            Replayed::Missing => {
                                tracing::info!(
                                    topic,
                                    since = s,
                                    "table resume: changes not all kept; resync"
                                );
                                None
                            }
                            // A change is being logged: read the state again once its
                            // writer has had a chance to finish (on a busy machine it
                            // may not get one between back-to-back reads).
                            Replayed::InFlight => {
                                retry_pause(tries).await;
                                continue;
                            }
                        },
                        None => {
                            tracing::info!(
                                topic,
                                since = s,
                                "table resume: no watch stopped at since; resync"
                            );
                            None
                        }
                    }
                }
                Some(s) => {
                    tracing::info!(
                        topic,
                        since = s,
                        tries,
                        "table resume: writes kept overtaking it; resync"
                    );
                    None
                }
                None => None,
            };
            let start = since.unwrap_or(0);
            let n = start + replay.as_ref().map_or(0, |r| r.len() as u64);
            let mut attrs = sub.attrs();
            attrs.insert("n".into(), json!(n));
            // A later resume may start from any of the numbers given here.
            let replayed = replay.as_deref().unwrap_or(&[]);
            for (i, (q, _)) in replayed
                .iter()
                .enumerate()
                .rev()
                .take(topics::WATCH_RING as usize)
            {
                let m = start + 1 + i as u64;
                attrs.insert(topics::ring_attr(m), json!([m, q]));
            }
            attrs.insert(topics::ring_attr(n), json!([n, state.seq]));
            // Where the watch started, kept for its whole life (the ring moves on): the
            // client resumes from the answer's number until it has settled the resume,
            // however many frames it is sent meanwhile.
            attrs.insert(topics::WATCH_START.into(), json!([n, state.seq]));
            // Changes up to here are the replay's (or missed, with `resync`).
            attrs.insert("p".into(), json!(state.seq));
            attrs.insert("r".into(), json!(state.seq));
            if since.is_some() && replay.is_none() {
                attrs.insert("gap".into(), json!(n));
            }
            let mut ops = vec![
                WriteOp::put(
                    Item::new(pk.clone(), &from.connection, attrs).expiring_at(expires),
                    None,
                ),
                WriteOp::put(
                    Item::new(topics::conn_subs_pk(&from.connection), topic, Map::new())
                        .expiring_at(expires),
                    None,
                ),
            ];
            if replay.is_some() {
                ops.push(WriteOp::Check {
                    pk: pk.clone(),
                    sk: topics::STATE_SK.into(),
                    cond: super::same_count("seq", state.seq),
                });
            }
            match self.store.transact(ops).await {
                Ok(()) => {}
                // A change was logged since the state was read: replay again.
                Err(StoreError::TransactionCanceled { .. } | StoreError::ConditionFailed)
                    if replay.is_some() =>
                {
                    retry_pause(tries).await;
                    continue;
                }
                Err(e) => return Err(e.into()),
            }
            let mut ack = json!({"type": "ack", "topic": topic, "seq": n});
            let mut frames = Vec::new();
            match (since, replay) {
                (None, _) => {}
                (Some(_), None) => ack["resync"] = json!(true),
                (Some(s), Some(missed)) => {
                    ack["replayed"] = json!(missed.len());
                    for (i, (_, mut f)) in missed.into_iter().enumerate() {
                        f["seq"] = json!(s + 1 + i as u64);
                        frames.push(fit_change(f));
                    }
                }
            }
            frames.push(ack);
            return Ok(frames);
        }
    }

    /// Subscribing again on the same connection (a new filter, or a client making sure):
    /// the watch keeps its numbers; `since` up to its number misses nothing; past it, or
    /// up to where it answered `resync`, answers `resync`.
    async fn resubscribe_table(
        &self,
        from: &Origin,
        topic: &str,
        sub: Sub,
        since: Option<u64>,
        schema: &crate::tables::Schema,
    ) -> Result<Vec<Value>> {
        let pk = topics::sub_pk(topic);
        let mut upd = Update::default();
        let attrs = sub.attrs();
        for (k, v) in &attrs {
            upd = upd.set(k, v.clone());
        }
        for k in ["user_id", "where", "presence"] {
            if !attrs.contains_key(k) {
                upd = upd.remove(k);
            }
        }
        upd.expires_at = Some(Some(self.expiry()));
        let item = match self
            .store
            .update(&pk, &from.connection, upd, Some(Cond::Exists))
            .await
        {
            Ok(item) => item,
            // Unsubscribed in between (a disconnect): subscribe afresh.
            Err(StoreError::ConditionFailed) => {
                return Box::pin(self.subscribe_table(from, topic, sub, false, since, schema))
                    .await;
            }
            Err(e) => return Err(e.into()),
        };
        let (cur, gap) = (
            item.get("n").and_then(Value::as_u64).unwrap_or(0),
            item.get("gap").and_then(Value::as_u64),
        );
        let (n, resync) = match since {
            None => (cur, false),
            // Frames numbered after `s` went to this socket, which is still open: they
            // arrive in order, nothing to replay.
            Some(s) if s <= cur && gap.is_none_or(|g| s > g) => (cur, false),
            Some(s) => (
                self.renumber_from(&pk, &from.connection, cur, s).await?,
                true,
            ),
        };
        let mut ack = json!({"type": "ack", "topic": topic, "seq": n});
        if since.is_some() {
            if resync {
                ack["resync"] = json!(true);
            } else {
                ack["replayed"] = json!(0);
            }
        }
        Ok(vec![ack])
    }

    /// Where the watch a resume from `since` continues stopped: the topic position a
    /// resume from its number `since` picks up after ([`topics::watch_point`]), from the
    /// caller's watches with the same filter that ended within the retention window or
    /// are still open on another connection. `None` when there is none, or several that
    /// disagree.
    pub(super) async fn resume_point(
        &self,
        topic: &str,
        from: &Origin,
        sub: &Sub,
        since: u64,
    ) -> Result<Option<u64>> {
        let filter = sub.filter.clone().map(Value::Object);
        // (where the watch started, the point it gives): several watches of one client
        // may have handed out `since` (an old one kept numbering into a socket that was
        // already dropping while its resume started the next); the client's number is the
        // latest one's.
        let mut found: Vec<((u64, u64), u64)> = Vec::new();
        let ended = self
            .store
            .query(
                Query::partition(topics::log_pk(topic))
                    .range(SkRange::Prefix(topics::ended_prefix(from.user_id())))
                    .limit(100),
            )
            .await?;
        for item in ended.items {
            if item.get("where").cloned() == filter
                && let Some(p) = topics::watch_point(&item, since)
            {
                found.push((topics::watch_start(&item), p));
            }
        }
        if let Some(uid) = from.user_id() {
            for conn in self.user_connections(uid).await? {
                if conn == from.connection {
                    continue;
                }
                let Some(item) = self.store.get(&topics::sub_pk(topic), &conn).await? else {
                    continue;
                };
                if Sub::from_item(&item).filter == sub.filter
                    && let Some(p) = topics::watch_point(&item, since)
                {
                    found.push((topics::watch_start(&item), p));
                }
            }
        }
        let Some(latest) = found.iter().map(|(start, _)| *start).max() else {
            return Ok(None);
        };
        let points: std::collections::BTreeSet<u64> = found
            .iter()
            .filter(|(start, _)| *start == latest)
            .map(|(_, p)| *p)
            .collect();
        Ok(match (points.len(), points.first()) {
            (1, Some(p)) => Some(*p),
            _ => None,
        })
    }

    /// The change frames (without `seq`) after topic position `after` this subscriber
    /// may see now, or `None` when they are not all kept or not all logged yet.
    async fn replay_table(
        &self,
        topic: &str,
        state: &TopicState,
        after: u64,
        sub: &Sub,
        caller: &Caller,
        schema: &crate::tables::Schema,
    ) -> Result<Replayed> {
        let (lo, hi) = match topics::plan_resume(state, after, MAX_REPLAY) {
            ResumePlan::UpToDate => return Ok(Replayed::Frames(vec![])),
            ResumePlan::Refetch => return Ok(Replayed::Missing),
            ResumePlan::Read { from, to } => (from, to),
        };
        let page = self
            .store
            .query(
                Query::partition(topics::log_pk(topic))
                    .range(SkRange::Between(topics::seq_key(lo), topics::seq_key(hi)))
                    .limit((hi - lo + 1) as usize),
            )
            .await?;
        // Every position up to the state's must be there (the new watch takes over live
        // delivery only after it): a hole is a gap; a short tail, changes being logged.
        let contiguous = page
            .items
            .iter()
            .enumerate()
            .all(|(i, it)| it.sk.parse::<u64>().ok() == Some(lo + i as u64));
        if !contiguous {
            return Ok(Replayed::Missing);
        }
        if (page.items.len() as u64) < hi - lo + 1 {
            return Ok(Replayed::InFlight);
        }
        let mut out = Vec::new();
        for (i, item) in page.items.into_iter().enumerate() {
            let Some(entry) = item.get("e") else {
                return Ok(Replayed::Missing);
            };
            let id = entry.get("id").and_then(Value::as_str).unwrap_or("");
            let side = |k: &str| entry.get(k).and_then(Value::as_object);
            if let Some(f) = changes::change_frame(
                schema,
                caller,
                sub.filter.as_ref(),
                id,
                side("before"),
                side("after"),
            ) {
                out.push((lo + i as u64, f));
            }
        }
        Ok(Replayed::Frames(out))
    }

    /// After a resume this subscription cannot answer: its numbers go on from at least
    /// `since`, and a resume from any number up to there answers `resync` again (so a
    /// client that asks twice before believing a `resync` still hears it).
    async fn renumber_from(&self, pk: &str, connection: &str, cur: u64, since: u64) -> Result<u64> {
        let mut cur = cur;
        for _ in 0..super::MAX_RENUMBER_TRIES {
            let n = cur.max(since);
            let upd = Update::default().set("n", n).set("gap", n);
            match self
                .store
                .update(pk, connection, upd, Some(super::same_count("n", cur)))
                .await
            {
                Ok(_) => return Ok(n),
                // A frame was numbered meanwhile: read the number again.
                Err(StoreError::ConditionFailed) => match self.store.get(pk, connection).await? {
                    Some(item) => cur = item.get("n").and_then(Value::as_u64).unwrap_or(0),
                    None => return Err(Error::new(Code::Conflict, "unsubscribed meanwhile")),
                },
                Err(e) => return Err(e.into()),
            }
        }
        Err(Error::new(
            Code::Conflict,
            "the table is changing too fast to resubscribe; retry",
        ))
    }

    /// The frames after `since` this subscriber may see and the last sequence number
    /// they cover, or `None` when they are not all kept (the client must re-fetch).
    ///
    /// Frames whose number is handed out but whose log entry is not written yet (a
    /// publish in flight) end the replay early: that publish re-reads the subscribers
    /// after logging, so it delivers them to this subscription itself.
    pub(super) async fn replay(
        &self,
        topic: &str,
        state: &TopicState,
        since: u64,
    ) -> Result<Option<(Vec<Value>, u64)>> {
        let (from, to) = match topics::plan_resume(state, since, MAX_REPLAY) {
            ResumePlan::UpToDate => return Ok(Some((vec![], state.seq))),
            ResumePlan::Refetch => return Ok(None),
            ResumePlan::Read { from, to } => (from, to),
        };
        let page = self
            .store
            .query(
                Query::partition(topics::log_pk(topic))
                    .range(SkRange::Between(topics::seq_key(from), topics::seq_key(to)))
                    .limit((to - from + 1) as usize),
            )
            .await?;
        // Present entries must be `from, from + 1, …`: a hole inside is a gap; a short
        // tail is publishes in flight.
        let contiguous = page
            .items
            .iter()
            .enumerate()
            .all(|(i, it)| it.sk.parse::<u64>().ok() == Some(from + i as u64));
        if !contiguous {
            return Ok(None);
        }
        let upto = from + page.items.len() as u64 - 1;
        let mut out = Vec::new();
        for item in page.items {
            // Plain topics log whole frames (table topics keep no log).
            match item.get("e").and_then(|e| e.get("frame")) {
                Some(frame) => out.push(frame.clone()),
                None => return Ok(None),
            }
        }
        Ok(Some((out, upto.max(since))))
    }

    /// Deletes one subscription and notes when its topic was last left. Whether the
    /// subscription wanted presence (so others hear it leave).
    pub(super) async fn drop_subscription(&self, connection: &str, topic: &str) -> Result<bool> {
        let pk = topics::sub_pk(topic);
        let sub = self.store.get(&pk, connection).await?;
        let now = self.clock.now_ms();
        let mut ops = vec![
            WriteOp::Delete {
                pk: pk.clone(),
                sk: connection.into(),
                cond: None,
            },
            WriteOp::Delete {
                pk: topics::conn_subs_pk(connection),
                sk: topic.into(),
                cond: None,
            },
        ];
        // A table watch leaves where it stopped, for a resume on a new connection.
        if let (Ok(Topic::Table(_)), Some(item)) = (topics::parse(topic), &sub)
            && item.get("p").is_some()
        {
            let mut attrs = Map::new();
            for (k, v) in &item.attrs {
                if k == "n"
                    || k == "p"
                    || k == "where"
                    || k == topics::WATCH_START
                    || k.starts_with('h')
                {
                    attrs.insert(k.clone(), v.clone());
                }
            }
            let sk = format!("{}{connection}", topics::ended_prefix(item.str("user_id")));
            ops.push(WriteOp::put(
                Item::new(topics::log_pk(topic), sk, attrs)
                    .expiring_at(now / 1000 + RETENTION_SECS),
                None,
            ));
        }
        ops.push(WriteOp::Update {
            pk,
            sk: topics::STATE_SK.into(),
            update: Update::default().set("left_at", now).upsert(),
            cond: None,
        });
        self.store.transact(ops).await?;
        Ok(sub.is_some() && matches!(topics::parse(topic), Ok(Topic::Plain(_))))
    }

    pub(super) async fn unsubscribe(&self, from: &Origin, topic: &str) -> Result<()> {
        topics::parse(topic)?;
        let subscribed = self
            .store
            .get(&topics::sub_pk(topic), &from.connection)
            .await?
            .is_some();
        if !subscribed {
            return Ok(());
        }
        if self.drop_subscription(&from.connection, topic).await?
            && let Some(u) = from.caller.user()
        {
            self.topic_presence(topic, &from.connection, u, "leave")
                .await;
        }
        Ok(())
    }

    /// Hands out the next sequence number of a topic when someone may want the frame
    /// (subscribed now, or left within the retention window) and keeps `entry` in the
    /// log under it; otherwise notes that the log has a gap. Gaps make resumes re-fetch.
    pub(super) async fn sequence(
        &self,
        topic: &str,
        subscribed: bool,
        state: &TopicState,
        entry: impl Fn(u64) -> Value,
    ) -> Result<Option<u64>> {
        let now = self.clock.now_ms();
        let pk = topics::sub_pk(topic);
        if !subscribed && state.left_at + RETENTION_SECS * 1000 <= now {
            if state.gap != Some(state.seq) {
                self.store
                    .update(
                        &pk,
                        topics::STATE_SK,
                        Update::default().set("gap", state.seq).upsert(),
                        None,
                    )
                    .await?;
            }
            return Ok(None);
        }
        // One commit for the number and its log entry, when no other publisher took the
        // next number since `state` was read (the usual case); else number first, then log.
        let next = state.seq + 1;
        let log = Item::new(
            topics::log_pk(topic),
            topics::seq_key(next),
            obj(json!({"e": entry(next)})),
        )
        .expiring_at(now / 1000 + RETENTION_SECS);
        let unchanged = if state.seq == 0 {
            Cond::AttrNotExists("seq".into())
        } else {
            Cond::eq("seq", state.seq)
        };
        let together = vec![
            WriteOp::Update {
                pk: pk.clone(),
                sk: topics::STATE_SK.into(),
                update: Update::default().set("seq", next).upsert(),
                cond: Some(unchanged),
            },
            WriteOp::Put {
                item: log,
                cond: None,
            },
        ];
        if self.store.transact(together).await.is_ok() {
            return Ok(Some(next));
        }
        let item = self
            .store
            .update(
                &pk,
                topics::STATE_SK,
                Update::default().add("seq", 1).upsert(),
                None,
            )
            .await?;
        let seq = item.get("seq").and_then(Value::as_u64).unwrap_or(0);
        let log = Item::new(
            topics::log_pk(topic),
            topics::seq_key(seq),
            obj(json!({"e": entry(seq)})),
        )
        .expiring_at(now / 1000 + RETENTION_SECS);
        match self.store.put(log, None).await {
            Ok(()) => {}
            Err(StoreError::ItemTooLarge { .. } | StoreError::Invalid(_)) => {
                // Too large to keep: whoever resumes from before it re-fetches.
                self.store
                    .update(
                        &pk,
                        topics::STATE_SK,
                        Update::default().set("gap", seq - 1).upsert(),
                        None,
                    )
                    .await?;
            }
            Err(e) => return Err(e.into()),
        }
        Ok(Some(seq))
    }

    pub(super) async fn publish_from(
        &self,
        from: &Origin,
        topic: &str,
        data: Value,
    ) -> Result<Published> {
        match topics::parse(topic)? {
            Topic::Table(_) => Err(Error::forbidden(
                "table topics carry record changes; write the records instead",
            )),
            Topic::Plain(_) | Topic::Presence => {
                if !self.rule(topic).await?.publish.allows(&from.caller, topic) {
                    return Err(Error::forbidden(format!(
                        "you may not publish to {topic:?}"
                    )));
                }
                self.publish_event(topic, data, from.sender()).await
            }
        }
    }

    /// `POST /v1/events/{topic}`: the server (admins, cloud functions) publishes.
    pub async fn publish(&self, caller: &Caller, topic: &str, data: Value) -> Result<Published> {
        caller.require_admin()?;
        match topics::parse(topic)? {
            Topic::Table(_) => Err(Error::invalid_field(
                "topic",
                "table topics carry record changes; write the records instead",
            )),
            Topic::Plain(_) | Topic::Presence => {
                let size = serde_json::to_vec(&data).map_or(usize::MAX, |v| v.len());
                if size > MAX_PUSH_BYTES {
                    return Err(Error::new(
                        Code::BodyTooLarge,
                        format!("event data is at most {MAX_PUSH_BYTES} bytes"),
                    ));
                }
                self.publish_event(topic, data, Value::Null).await
            }
        }
    }

    pub(super) async fn publish_event(
        &self,
        topic: &str,
        data: Value,
        from: Value,
    ) -> Result<Published> {
        let mut frame = json!({"type": "event", "topic": topic, "data": data, "from": from});
        let (subs, seq) = self
            .sequenced(topic, |seq| {
                let mut f = frame.clone();
                f["seq"] = json!(seq);
                json!({"frame": f})
            })
            .await?;
        frame["seq"] = json!(seq);
        let subs = self.still_allowed(topic, subs).await?;
        let conns: Vec<String> = subs.into_iter().map(|s| s.connection).collect();
        let delivery = self.deliver(&conns, &encode(&frame)).await;
        Ok(Published { seq, delivery })
    }

    /// A topic's numbering state (all zero for a topic never published to).
    pub(super) async fn topic_state(&self, topic: &str) -> Result<TopicState> {
        Ok(self
            .store
            .get(&topics::sub_pk(topic), topics::STATE_SK)
            .await?
            .map(|i| TopicState::from_item(&i))
            .unwrap_or_default())
    }

    /// Logs a frame under the topic's next number when someone may want it (see
    /// [`Live::sequence`]), then reads the subscribers to deliver it to: reading them
    /// after the number is handed out includes whoever subscribed meanwhile (a resume
    /// that read the topic's state before the number cannot replay the frame, so the
    /// publisher must deliver it). One read of the subscribers per frame: fan-out cost.
    pub(super) async fn sequenced(
        &self,
        topic: &str,
        entry: impl Fn(u64) -> Value,
    ) -> Result<(Vec<Sub>, Option<u64>)> {
        let pk = topics::sub_pk(topic);
        // Subscribers first, then the state: a subscriber that leaves notes `left_at` in
        // the same commit that drops it, so finding nobody means the state read next shows
        // the leave (read the other way round, a leave between the two reads looked like
        // nobody for long, and the frame was not kept for its resume).
        // Connection ids sort before the state's key.
        let anyone = !self
            .store
            .query(
                Query::partition(pk.clone())
                    .range(SkRange::Lt(topics::STATE_SK.into()))
                    .limit(1),
            )
            .await?
            .items
            .is_empty();
        let state = self.topic_state(topic).await?;
        let seq = self.sequence(topic, anyone, &state, entry).await?;
        if seq.is_none() && !anyone {
            return Ok((vec![], None));
        }
        Ok((self.subscribers(topic).await?.0, seq))
    }

    /// The subscribers the topic's subscribe rule still lets in, judged with their
    /// groups now (a user removed from a group stops hearing its topics at once).
    pub(super) async fn still_allowed(&self, topic: &str, subs: Vec<Sub>) -> Result<Vec<Sub>> {
        if subs.is_empty() {
            return Ok(subs);
        }
        let rule = self.rule(topic).await?.subscribe;
        if matches!(rule, topics::Who::Users | topics::Who::Owner) {
            // Neither depends on anything a user can lose while subscribed.
            return Ok(subs);
        }
        let mut callers: HashMap<Option<String>, bool> = HashMap::new();
        let mut out = Vec::with_capacity(subs.len());
        for sub in subs {
            if !callers.contains_key(&sub.user_id) {
                let ok = self
                    .caller_for(sub.user_id.as_deref())
                    .await
                    .is_ok_and(|c| rule.allows(&c, topic));
                callers.insert(sub.user_id.clone(), ok);
            }
            if callers.get(&sub.user_id) == Some(&true) {
                out.push(sub);
            }
        }
        Ok(out)
    }
}

/// A pause before a resume tries again, growing with the tries (1 ms, 2 ms, … up to
/// 64 ms): the changes it waits for are being written by other tasks.
async fn retry_pause(tries: usize) {
    let ms = 1u64 << (tries.saturating_sub(1)).min(6);
    tokio::time::sleep(std::time::Duration::from_millis(ms)).await;
}

/// What a table resume can replay.
enum Replayed {
    /// What the subscriber may see now of the changes after its point (without `seq`),
    /// with their positions.
    Frames(Vec<(u64, Value)>),
    /// Not all kept: `resync`.
    Missing,
    /// A change has its position but is not logged yet: try again.
    InFlight,
}
