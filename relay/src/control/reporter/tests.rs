use super::*;

fn job(n: usize) -> String {
    format!("rpl_{n:0>22}")
}

#[test]
fn replay_errors_are_cleaned_and_cut_on_a_character_boundary() {
    let reporter = Reporter::default();
    // Byte 500 falls inside a two-byte character.
    let error = format!("a{}\u{0}\n", "é".repeat(400));
    reporter.replay_done(job(1), None, Some(error));
    reporter.replay_done(job(2), None, Some("bad\r\nline\u{1b}[31m".into()));
    reporter.replay_done("not-a-job".into(), None, None);
    let reports = reporter.take_reports(&UsageMeter::default(), 1 << 20, 10);
    let errors: Vec<String> = reports
        .replay_results
        .into_iter()
        .filter_map(|r| r.error)
        .collect();
    assert_eq!(errors.len(), 2);
    assert_eq!(errors[0].len(), 499);
    assert_eq!(errors[1], "bad  line [31m");
}

#[test]
fn refused_reports_go_back_in_order_and_usage_is_not_lost() {
    let reporter = Reporter::default();
    let usage = UsageMeter::default();
    let held = usage.counters("acc_0123456789abcdefABCDEF");
    held.request();
    for n in 0..4 {
        reporter.replay_done(job(n), Some(200), None);
    }
    let reports = reporter.take_reports(&usage, 1 << 20, 100);
    assert_eq!((reports.replay_results.len(), reports.usage.len()), (4, 1));
    reporter.put_back(&usage, reports);
    let again = reporter.take_reports(&usage, 1 << 20, 2);
    let jobs: Vec<String> = again
        .replay_results
        .iter()
        .map(|r| r.job_id.to_string())
        .collect();
    assert_eq!(jobs, [job(0), job(1)]);
    // The usage that did not fit stays counted for the next one.
    let rest = reporter.take_reports(&usage, 1 << 20, 100);
    assert_eq!(rest.replay_results.len(), 2);
    assert_eq!(rest.usage.len(), 1);
    assert_eq!(rest.usage[0].requests, 1);
}
