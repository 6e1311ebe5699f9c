use super::*;
use crate::config::TunnelConfig;
use fdt_proto::Proto;

fn tunnel(name: &str, port: u16) -> ResolvedTunnel {
    TunnelConfig::new(Proto::Http, port.to_string())
        .resolve(name)
        .expect("valid tunnel")
}

fn binds(steps: &[Step]) -> Vec<(String, String)> {
    steps
        .iter()
        .filter_map(|s| match s {
            Step::Bind(t) => Some((t.spec.name.clone(), t.addr.clone())),
            Step::Unbind(_) => None,
        })
        .collect()
}

#[test]
fn new_tunnels_are_bound_once_and_removed_ones_released() {
    let mut live = LiveTunnels::default();
    let desired = vec![tunnel("a", 8000), tunnel("b", 8001)];
    assert_eq!(
        binds(&live.reconcile(&desired)),
        [("a".into(), "8000".into()), ("b".into(), "8001".into())]
    );
    // Nothing changed: nothing to do, even while the binds are in flight.
    assert!(live.reconcile(&desired).is_empty());
    assert_eq!(
        live.bound("a", TunnelId(1), &desired),
        BoundAnswer::Serve(Box::new(tunnel("a", 8000)))
    );
    assert_eq!(
        live.bound("b", TunnelId(2), &desired),
        BoundAnswer::Serve(Box::new(tunnel("b", 8001)))
    );
    let fewer = vec![tunnel("b", 8001)];
    assert_eq!(live.reconcile(&fewer), [Step::Unbind(TunnelId(1))]);
    assert!(live.reconcile(&fewer).is_empty());
}

#[test]
fn an_edit_of_a_bound_tunnel_releases_it_then_binds_the_new_definition() {
    let mut live = LiveTunnels::default();
    let v1 = vec![tunnel("a", 8000)];
    live.reconcile(&v1);
    live.bound("a", TunnelId(7), &v1);
    let v2 = vec![tunnel("a", 9000)];
    let steps = live.reconcile(&v2);
    assert_eq!(
        steps[0],
        Step::Unbind(TunnelId(7)),
        "release before the new bind"
    );
    assert_eq!(binds(&steps), [("a".into(), "9000".into())]);
    assert_eq!(
        live.bound("a", TunnelId(8), &v2),
        BoundAnswer::Serve(Box::new(tunnel("a", 9000)))
    );
}

#[test]
fn an_edit_during_a_bind_waits_for_its_answer_and_never_binds_a_name_twice() {
    let mut live = LiveTunnels::default();
    let v1 = vec![tunnel("a", 8000)];
    live.reconcile(&v1);
    let v2 = vec![tunnel("a", 9000)];
    // The first bind is still in flight: no second bind of the same name yet.
    assert!(live.reconcile(&v2).is_empty());
    // Its answer is released and the current definition bound instead.
    let BoundAnswer::Release(steps) = live.bound("a", TunnelId(1), &v2) else {
        panic!("a stale bind must not be served");
    };
    assert_eq!(steps[0], Step::Unbind(TunnelId(1)));
    assert_eq!(binds(&steps), [("a".into(), "9000".into())]);
    assert_eq!(
        live.bound("a", TunnelId(2), &v2),
        BoundAnswer::Serve(Box::new(tunnel("a", 9000)))
    );
}

#[test]
fn a_removal_during_a_bind_releases_the_late_binding() {
    let mut live = LiveTunnels::default();
    live.reconcile(&[tunnel("a", 8000)]);
    assert!(live.reconcile(&[]).is_empty());
    assert_eq!(
        live.bound("a", TunnelId(3), &[]),
        BoundAnswer::Release(vec![Step::Unbind(TunnelId(3))])
    );
    // A refused stale bind just gives way to the current definition.
    live.reconcile(&[tunnel("b", 8000)]);
    let v2 = vec![tunnel("b", 8001)];
    assert!(live.reconcile(&v2).is_empty());
    let (shown, steps) = live.refused("b", false, &v2);
    assert_eq!(shown, None);
    assert_eq!(binds(&steps), [("b".into(), "8001".into())]);
}

#[test]
fn refusals_stick_for_the_session_until_redefined_and_retries_follow_the_schedule() {
    let mut live = LiveTunnels::default();
    let v1 = vec![tunnel("a", 8000), tunnel("b", 8001)];
    live.reconcile(&v1);
    assert_eq!(live.refused("a", false, &v1).0, Some(tunnel("a", 8000)));
    assert_eq!(live.refused("b", true, &v1).0, Some(tunnel("b", 8001)));
    assert!(
        live.reconcile(&v1).is_empty(),
        "a refusal is not retried by itself"
    );
    assert_eq!(live.retry("a"), None, "a final refusal is not retried");
    assert_eq!(
        live.retry("b"),
        Some(Step::Bind(Box::new(tunnel("b", 8001))))
    );
    assert_eq!(live.retry("b"), None, "one bind in flight at a time");
    // Redefining a refused tunnel asks again.
    let v2 = vec![tunnel("a", 8002), tunnel("b", 8001)];
    assert_eq!(binds(&live.reconcile(&v2)), [("a".into(), "8002".into())]);
}

#[test]
fn a_tunnel_closed_by_the_relay_stays_down_on_the_session() {
    let mut live = LiveTunnels::default();
    let v1 = vec![tunnel("a", 8000)];
    live.reconcile(&v1);
    live.bound("a", TunnelId(1), &v1);
    live.closed("a");
    assert!(live.reconcile(&v1).is_empty());
    assert_eq!(live.retry("a"), None);
    // An answer for a binding nobody asked for is released, and what is held is kept.
    assert_eq!(
        live.bound("a", TunnelId(9), &v1),
        BoundAnswer::Release(vec![Step::Unbind(TunnelId(9))])
    );
    assert!(live.reconcile(&v1).is_empty());
}
