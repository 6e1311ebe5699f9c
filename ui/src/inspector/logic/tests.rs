use super::*;

#[test]
fn filters_become_the_agents_query() {
    let none = Filters::default();
    assert!(!none.any());
    assert_eq!(none.query(LIST_PATH, None), "/api/requests/http");
    let f = Filters {
        tunnel: "web".into(),
        status: " 5xx ".into(),
        method: "post".into(),
        path: "/a b".into(),
        body: "\"id\":1".into(),
    };
    assert!(f.any());
    assert_eq!(
        f.query(LIST_PATH, Some("ex_40")),
        "/api/requests/http?tunnel_name=web&status=5xx&method=post&path=%2Fa%20b\
         &body=%22id%22%3A1&before=ex_40"
    );
    let only_cursor = Filters::default().query(LIST_PATH, Some("ex_3"));
    assert_eq!(only_cursor, "/api/requests/http?before=ex_3");
}

#[test]
fn keys_are_ignored_while_typing() {
    assert_eq!(
        key_command("j", false, "BODY", false),
        Some(KeyCommand::Down)
    );
    assert_eq!(key_command("k", false, "tr", false), Some(KeyCommand::Up));
    assert_eq!(
        key_command("Enter", false, "TR", false),
        Some(KeyCommand::Open)
    );
    assert_eq!(key_command("Enter", false, "BUTTON", false), None);
    assert_eq!(
        key_command("r", false, "BODY", false),
        Some(KeyCommand::Replay)
    );
    assert_eq!(key_command("r", true, "BODY", false), None);
    assert_eq!(key_command("j", false, "INPUT", false), None);
    assert_eq!(key_command("j", false, "textarea", false), None);
    assert_eq!(key_command("j", false, "SELECT", false), None);
    assert_eq!(key_command("j", false, "DIV", true), None);
    assert_eq!(key_command("x", false, "BODY", false), None);
}

#[test]
fn selection_moves_and_stops_at_the_ends() {
    let ids: Vec<String> = ["ex_3", "ex_2", "ex_1"].map(String::from).to_vec();
    assert_eq!(move_selection(&ids, None, 1).as_deref(), Some("ex_3"));
    assert_eq!(move_selection(&ids, None, -1).as_deref(), Some("ex_3"));
    assert_eq!(
        move_selection(&ids, Some("ex_3"), 1).as_deref(),
        Some("ex_2")
    );
    assert_eq!(
        move_selection(&ids, Some("ex_1"), 1).as_deref(),
        Some("ex_1")
    );
    assert_eq!(
        move_selection(&ids, Some("ex_2"), -1).as_deref(),
        Some("ex_3")
    );
    assert_eq!(
        move_selection(&ids, Some("ex_3"), -1).as_deref(),
        Some("ex_3")
    );
    // A selection that scrolled off the page starts over at the top.
    assert_eq!(
        move_selection(&ids, Some("ex_9"), 1).as_deref(),
        Some("ex_3")
    );
    assert_eq!(move_selection(&[], Some("ex_1"), 1), None);
}

#[test]
fn edits_map_to_the_agents_shape() {
    let edits = crate::components::replay::read_edits(
        "GET",
        "/a",
        "put",
        "/b?x=1",
        "X-Test: yes\nAccept: */*",
        "cookie, \n",
        "{}",
    )
    .expect("valid")
    .expect("edits");
    let m = to_agent_modify(edits);
    assert_eq!(m.method.as_deref(), Some("PUT"));
    assert_eq!(m.path.as_deref(), Some("/b?x=1"));
    let h = m.headers.expect("headers");
    assert_eq!(h.set.get("X-Test").map(String::as_str), Some("yes"));
    assert_eq!(h.set.len(), 2);
    assert_eq!(h.remove, vec!["cookie".to_owned()]);
    assert_eq!(m.body, Some(BodyEdit::Text("{}".into())));
    // Only a body change: no header edits are sent.
    let only_body = to_agent_modify(crate::components::replay::ReplayEdits {
        body: Some("x".into()),
        ..Default::default()
    });
    assert!(only_body.headers.is_none());
}
