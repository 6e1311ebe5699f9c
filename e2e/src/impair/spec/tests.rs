#![allow(clippy::unwrap_used)]
use super::*;

fn parse(s: &str) -> Result<Impairment, SpecError> {
    s.parse()
}

#[test]
fn full_spec_sets_every_field() {
    let imp = parse("delay=25ms,loss=1%,jitter=2ms,dup=0.5%,rate=100mbit,seed=7").unwrap();
    assert_eq!(
        imp,
        Impairment {
            delay: Duration::from_millis(25),
            jitter: Duration::from_millis(2),
            loss: 0.01,
            duplicate: 0.005,
            rate_bytes_per_sec: Some(12_500_000),
            seed: 7,
        }
    );
}

#[test]
fn empty_spec_is_no_impairment() {
    assert_eq!(parse("").unwrap(), Impairment::default());
    assert_eq!(parse(" , ").unwrap(), Impairment::default());
}

#[test]
fn units_spaces_and_fractions() {
    let imp = parse(" delay = 2.5ms , jitter=300us,loss=0.5%, rate=8kbit ").unwrap();
    assert_eq!(imp.delay, Duration::from_micros(2500));
    assert_eq!(imp.jitter, Duration::from_micros(300));
    assert_eq!(imp.loss, 0.005);
    assert_eq!(imp.rate_bytes_per_sec, Some(1000));

    assert_eq!(parse("delay=0").unwrap().delay, Duration::ZERO);
    assert_eq!(parse("delay=1s").unwrap().delay, Duration::from_secs(1));
    // Rounded to whole nanoseconds, not truncated from an f64 number of seconds.
    assert_eq!(
        parse("delay=0.3s").unwrap().delay,
        Duration::from_millis(300)
    );
    assert_eq!(parse("delay=60s").unwrap().delay, MAX_DELAY);
    assert_eq!(parse("loss=0%").unwrap().loss, 0.0);
    assert_eq!(parse("loss=100%").unwrap().loss, 1.0);
    assert_eq!(
        parse("rate=1gbps").unwrap().rate_bytes_per_sec,
        Some(1_000_000_000)
    );
    assert_eq!(
        parse("rate=2MBIT").unwrap().rate_bytes_per_sec,
        Some(250_000)
    );
    assert_eq!(parse("seed=18446744073709551615").unwrap().seed, u64::MAX);
}

#[test]
fn bad_specs_are_typed_errors() {
    let cases: &[(&str, SpecError)] = &[
        ("delay", SpecError::NotKeyValue("delay".into())),
        (
            "delay=1ms,,latency",
            SpecError::NotKeyValue("latency".into()),
        ),
        ("latency=5ms", SpecError::UnknownKey("latency=5ms".into())),
        (
            "delay=1ms,delay=2ms",
            SpecError::DuplicateKey("delay=2ms".into()),
        ),
        ("delay=abc", SpecError::BadNumber("delay=abc".into())),
        ("delay=ms", SpecError::BadNumber("delay=ms".into())),
        (
            "delay=1.2.3ms",
            SpecError::BadNumber("delay=1.2.3ms".into()),
        ),
        ("delay=", SpecError::BadNumber("delay=".into())),
        ("seed=x", SpecError::BadNumber("seed=x".into())),
        ("seed=-1", SpecError::BadNumber("seed=-1".into())),
        (
            "delay=25",
            SpecError::BadUnit("delay=25".into(), DURATION_UNITS),
        ),
        (
            "jitter=2min",
            SpecError::BadUnit("jitter=2min".into(), DURATION_UNITS),
        ),
        (
            "rate=100",
            SpecError::BadUnit("rate=100".into(), RATE_UNITS),
        ),
        (
            "loss=1",
            SpecError::BadUnit("loss=1".into(), "% (e.g. loss=1%)"),
        ),
        (
            "loss=101%",
            SpecError::OutOfRange("loss=101%".into(), "0–100 %"),
        ),
        (
            "loss=-1%",
            SpecError::OutOfRange("loss=-1%".into(), "0–100 %"),
        ),
        (
            "delay=61s",
            SpecError::OutOfRange("delay=61s".into(), "0 to 60 s"),
        ),
        (
            "delay=-5ms",
            SpecError::OutOfRange("delay=-5ms".into(), "0 to 60 s"),
        ),
        (
            "rate=0mbit",
            SpecError::OutOfRange("rate=0mbit".into(), "at least 8bit (1 byte/s)"),
        ),
    ];
    for (spec, want) in cases {
        assert_eq!(parse(spec).as_ref(), Err(want), "spec {spec:?}");
    }
}

#[test]
fn error_messages_name_the_item() {
    let msg = parse("delay=25ms,loss=150%").unwrap_err().to_string();
    assert!(msg.contains("loss=150%"), "{msg}");
    assert!(msg.contains("0–100 %"), "{msg}");
    let msg = parse("dealy=25ms").unwrap_err().to_string();
    assert!(msg.contains("dealy=25ms") && msg.contains("delay"), "{msg}");
}

#[test]
fn display_parses_back_to_the_same_impairment() {
    for spec in [
        "",
        "delay=25ms,loss=1%",
        "delay=25ms,loss=7%,jitter=2ms,rate=100mbit,seed=7",
        "delay=1.0005ms,jitter=300us,loss=0.5%",
        "delay=0.0015ms,loss=33.3%,rate=1bps",
    ] {
        let imp = parse(spec).unwrap();
        let text = imp.to_string();
        assert_eq!(parse(&text).unwrap(), imp, "{spec:?} printed as {text:?}");
    }
    assert_eq!(
        parse("delay=25ms,loss=1%").unwrap().to_string(),
        "delay=25ms,jitter=0ms,loss=1%,seed=0"
    );
}
