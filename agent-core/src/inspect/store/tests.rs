//! Store stories: the size cap, filters and paging.

use super::*;
use crate::inspect::model::{CapturedBody, HttpExchange, TcpConnection};

fn exchange(id: u64, tunnel: &str, method: &str, path: &str, status: u16, body: &[u8]) -> Record {
    Record::Http(Box::new(HttpExchange {
        id: ExchangeId(id),
        tunnel_name: tunnel.into(),
        method: method.into(),
        uri: path.into(),
        status: Some(status),
        request_body: CapturedBody {
            data: body.to_vec(),
            size: body.len() as u64,
            truncated: false,
        },
        response_body: CapturedBody {
            data: format!("response of {id}").into_bytes(),
            size: 20,
            truncated: false,
        },
        ..Default::default()
    }))
}

async fn store_in(dir: &std::path::Path, max_bytes: u64) -> Store {
    let cfg = InspectConfig {
        db_path: Some(dir.join("inspect.db")),
        db_max_bytes: max_bytes,
        ..InspectConfig::default()
    };
    Store::open(&cfg).await.expect("open store")
}

#[tokio::test]
async fn file_stays_under_its_cap_keeping_the_newest() {
    let dir = tempfile::tempdir().expect("tempdir");
    let cap = 2_000_000;
    let store = store_in(dir.path(), cap).await;
    let body: Vec<u8> = (0..1024u32).map(|i| (i * 7 % 251) as u8).collect();
    let mut id = 0;
    for _ in 0..40 {
        let batch = (0..250)
            .map(|_| {
                id += 1;
                exchange(id, "web", "POST", "/upload", 200, &body)
            })
            .collect();
        store.write(batch).await.expect("write");
    }
    assert_eq!(id, 10_000);
    let on_disk = std::fs::metadata(dir.path().join("inspect.db"))
        .expect("db file")
        .len();
    assert!(on_disk <= cap, "file is {on_disk} bytes, cap {cap}");
    assert!(store.get(ExchangeId(10_000)).await.expect("get").is_some());
    let oldest = store
        .list(
            &Filter {
                limit: 1000,
                ..Filter::default()
            },
            false,
        )
        .await
        .expect("list");
    assert_eq!(oldest.items[0].id, ExchangeId(10_000));
    // Past the in-memory ring, so this reads the database.
    let first: Option<HttpExchange> = store.get(ExchangeId(1)).await.expect("get");
    assert!(first.is_none(), "the oldest exchange survived the cap");
    let kept: i64 = sqlx::query("SELECT COUNT(*) FROM http_exchanges")
        .fetch_one(&store.pool)
        .await
        .and_then(|r| r.try_get(0))
        .expect("count");
    assert!(kept > 500 && kept < 10_000, "kept {kept}");
}

async fn sample() -> (tempfile::TempDir, Store) {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = store_in(dir.path(), DEFAULT_DB_MAX_BYTES_FOR_TESTS).await;
    let mut batch = Vec::new();
    for i in 1..=30u64 {
        let tunnel = if i % 2 == 0 { "web" } else { "api" };
        let method = if i % 3 == 0 { "POST" } else { "GET" };
        let status = match i % 5 {
            0 => 503,
            1 => 404,
            _ => 200,
        };
        let body = if i == 17 {
            b"needle in here".to_vec()
        } else {
            b"hay".to_vec()
        };
        batch.push(exchange(
            i,
            tunnel,
            method,
            &format!("/items/{i}?q=x"),
            status,
            &body,
        ));
    }
    batch.push(Record::Tcp(TcpConnection {
        id: ExchangeId(31),
        tunnel_name: "db".into(),
        proto: "tcp".into(),
        ..Default::default()
    }));
    store.write(batch).await.expect("write");
    (dir, store)
}

const DEFAULT_DB_MAX_BYTES_FOR_TESTS: u64 = 50_000_000;

fn ids(p: &Page<HttpExchange>) -> Vec<u64> {
    p.items.iter().map(|e| e.id.0).collect()
}

#[tokio::test]
async fn filters_combine() {
    let (_dir, store) = sample().await;
    let f = Filter {
        tunnel_name: Some("web".into()),
        status: Some(StatusFilter::Class(5)),
        ..Filter::default()
    };
    assert_eq!(
        ids(&store.list(&f, false).await.expect("list")),
        vec![30, 20, 10]
    );
    let f = Filter {
        method: Some("post".into()),
        status: Some(StatusFilter::Code(404)),
        ..Filter::default()
    };
    assert_eq!(
        ids(&store.list(&f, false).await.expect("list")),
        vec![21, 6]
    );
    let f = Filter {
        path: Some("/items/1".into()),
        ..Filter::default()
    };
    assert_eq!(
        ids(&store.list(&f, false).await.expect("list")),
        vec![19, 18, 17, 16, 15, 14, 13, 12, 11, 10, 1]
    );
    let f = Filter {
        body: Some("needle".into()),
        ..Filter::default()
    };
    assert_eq!(ids(&store.list(&f, false).await.expect("list")), vec![17]);
    let f = Filter {
        body: Some("response of 23".into()),
        ..Filter::default()
    };
    assert_eq!(ids(&store.list(&f, false).await.expect("list")), vec![23]);
}

#[tokio::test]
async fn cursor_paging_walks_newest_first_without_gaps() {
    let (_dir, store) = sample().await;
    let mut seen = Vec::new();
    let mut before = None;
    loop {
        let f = Filter {
            limit: 7,
            before,
            ..Filter::default()
        };
        let page = store.list(&f, false).await.expect("list");
        seen.extend(ids(&page));
        match page.next {
            Some(n) => before = Some(n),
            None => break,
        }
    }
    assert_eq!(seen, (1..=30).rev().collect::<Vec<_>>());
    let tcp = store.list_tcp(None, 0).await.expect("tcp");
    assert_eq!(tcp.items.len(), 1);
    assert_eq!(tcp.items[0].tunnel_name, "db");
}

#[tokio::test]
async fn status_filters_parse() {
    assert_eq!("5xx".parse(), Ok(StatusFilter::Class(5)));
    assert_eq!("404".parse(), Ok(StatusFilter::Code(404)));
    assert!("6xx".parse::<StatusFilter>().is_err());
    assert!("abc".parse::<StatusFilter>().is_err());
}

#[tokio::test]
async fn clear_removes_everything() {
    let (_dir, store) = sample().await;
    store.clear().await.expect("clear");
    assert!(
        store
            .list(&Filter::default(), false)
            .await
            .expect("list")
            .items
            .is_empty()
    );
    assert!(store.get(ExchangeId(30)).await.expect("get").is_none());
}
