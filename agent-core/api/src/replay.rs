//! Replays through the local API: the request (`POST /api/requests/http`), the edits it may
//! carry, and the answer.

use crate::exchange::ExchangeId;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// `POST /api/requests/http`: replay a captured exchange, as it was or edited. Unknown fields
/// are refused (a destination cannot be smuggled in).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReplayRequest {
    /// The exchange to replay (`ex_<n>`; the agent checks it and names a bad one).
    pub id: String,
    /// The tunnel it must have come through, if the caller wants that checked.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tunnel_name: Option<String>,
    /// Edits, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub modify: Option<ReplayModify>,
}

/// Edits to a captured request before replaying it (the `modify` object). Absent edits are
/// left out of the JSON.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReplayModify {
    /// New method.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub method: Option<String>,
    /// New origin-form path and query.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
    /// Header edits.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub headers: Option<HeaderEdits>,
    /// New body.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub body: Option<BodyEdit>,
}

/// Header edits: `set` replaces (or adds) a header, `remove` deletes every value of one.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HeaderEdits {
    /// Headers to set, replacing existing values.
    #[serde(default)]
    pub set: BTreeMap<String, String>,
    /// Headers to remove.
    #[serde(default)]
    pub remove: Vec<String>,
}

/// A replacement body, as text or base64.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum BodyEdit {
    /// UTF-8 text.
    Text(String),
    /// Base64 of arbitrary bytes.
    Base64(String),
}

/// What a replay produced.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct ReplayOutcome {
    /// Status the local service answered with.
    pub status: u16,
    /// Id of the captured replay (absent when inspection is off).
    pub id: Option<ExchangeId>,
}

/// The answer to `POST /api/requests/http`: the outcome and the exchange it replayed.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct ReplayAnswer {
    /// Status the local service answered with.
    pub status: u16,
    /// Id of the captured replay (absent when inspection is off).
    pub id: Option<ExchangeId>,
    /// The exchange replayed.
    pub replay_of: Option<ExchangeId>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn replay_requests_leave_out_absent_edits_and_refuse_unknown_fields() {
        let plain = ReplayRequest {
            id: "ex_1".into(),
            ..Default::default()
        };
        assert_eq!(
            serde_json::to_value(&plain).ok(),
            Some(json!({"id": "ex_1"}))
        );
        let edited = ReplayRequest {
            id: "ex_1".into(),
            tunnel_name: None,
            modify: Some(ReplayModify {
                method: Some("PUT".into()),
                body: Some(BodyEdit::Text("{}".into())),
                ..ReplayModify::default()
            }),
        };
        let j = serde_json::to_value(&edited).ok();
        assert_eq!(
            j,
            Some(json!({"id": "ex_1", "modify": {"method": "PUT", "body": {"text": "{}"}}}))
        );
        let back: Option<ReplayRequest> = j.and_then(|j| serde_json::from_value(j).ok());
        assert_eq!(back, Some(edited));
        let smuggled = json!({"id": "ex_1", "url": "http://169.254.169.254/"});
        assert!(serde_json::from_value::<ReplayRequest>(smuggled).is_err());
        let nulls = json!({"id": "ex_1", "tunnel_name": null, "modify": {"method": null}});
        assert!(serde_json::from_value::<ReplayRequest>(nulls).is_ok());
    }
}
