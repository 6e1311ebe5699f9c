use super::*;

fn report(n: u8) -> TrafficReport {
    TrafficReport {
        id: new_request_id().unwrap_or_else(|| unreachable!()),
        account_id: "acc_0123456789abcdefABCDEF"
            .parse()
            .unwrap_or_else(|_| unreachable!()),
        tunnel_id: None,
        method: "GET".into(),
        host: "h".into(),
        name: None,
        path: format!("/{n}"),
        status: Some(200),
        error_code: None,
        request_headers: vec![],
        response_headers: vec![],
        bytes_in: 0,
        bytes_out: 0,
        duration_ms: 0,
        visitor_ip: "127.0.0.1".into(),
        started_at_ms: 0,
        request_body: None,
        response_body: None,
        truncated: false,
    }
}

#[test]
fn queue_is_bounded_and_keeps_order_when_batches_come_back() {
    let q = TrafficQueue::default();
    for n in 0..3 {
        q.push(report(n));
    }
    let batch = q.take(2);
    assert_eq!(batch.len(), 2);
    q.put_back(batch);
    let all: Vec<String> = q.take(10).into_iter().map(|r| r.path).collect();
    assert_eq!(all, ["/0", "/1", "/2"]);
    for n in 0..=u8::MAX {
        for _ in 0..40 {
            q.push(report(n));
        }
    }
    assert_eq!(q.len(), MAX_QUEUED);
    assert!(q.dropped() > 0);
}

fn huge(n: u8) -> TrafficReport {
    let mut r = report(n);
    // What a visitor controls: 100 headers of 4 KiB of quotes (8 KiB of JSON each).
    r.request_headers = (0..100)
        .map(|i| (format!("x-h{i}"), "\"".repeat(MAX_HEADER_VALUE)))
        .collect();
    r.response_headers = r.request_headers.clone();
    r.request_body = Some("A".repeat(MAX_LOGGED_BODY * 4 / 3 + 4));
    r.response_body = r.request_body.clone();
    r
}

#[test]
fn oversized_records_are_trimmed_and_marked() {
    let q = TrafficQueue::default();
    q.push(huge(1));
    q.push(report(2));
    let batch = q.take(10);
    assert!(batch[0].truncated);
    assert!(json_len(&batch[0]) <= MAX_RECORD_BYTES);
    // Bodies outlive headers: they are what the log is read for.
    assert!(batch[0].request_body.is_some());
    assert!(!batch[1].truncated);
}

#[test]
fn queue_is_bounded_in_bytes_and_batches_fit_the_clouds_limit() {
    // A 12 MiB queue (the real one is 64 MiB): 80 trimmed records of ~190 KiB overflow it,
    // and what it keeps takes more than one batch.
    const CAP: usize = 12 << 20;
    let q = TrafficQueue::new(MAX_QUEUED, CAP);
    for n in 0..80 {
        q.push(huge(n));
    }
    assert!(q.lock().bytes() <= CAP);
    assert!(q.dropped() > 0);
    let mut batches = 0;
    while !q.is_empty() {
        batches += 1;
        let batch = TrafficBatch {
            relay_id: "r".repeat(63),
            requests: q.take(MAX_TRAFFIC_BATCH),
        };
        assert!(!batch.requests.is_empty());
        assert!(json_len(&batch) <= MAX_TRAFFIC_BATCH_BYTES);
    }
    assert!(batches > 1);
}

#[test]
fn header_values_are_bounded_on_char_boundaries() {
    let mut h = http::HeaderMap::new();
    let long = "é".repeat(MAX_HEADER_VALUE);
    h.insert(
        "x-long",
        http::HeaderValue::from_str(&long).unwrap_or_else(|_| unreachable!()),
    );
    let out = headers_of(&h);
    assert!(out[0].1.len() <= MAX_HEADER_VALUE);
}
