//! Decoding a client frame, telling bad JSON, unknown types and invalid fields apart.

use crate::error_code::ErrorCode;
use crate::protocol::ClientMessage;

/// A client frame that could not be decoded, classified for the `error` reply.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DecodeError {
    pub code: ErrorCode,
    pub message: String,
}

/// Decodes a client frame, telling bad JSON, unknown types and invalid fields apart.
pub fn decode_client(text: &str) -> Result<ClientMessage, DecodeError> {
    match serde_json::from_str::<ClientMessage>(text) {
        Ok(msg) => Ok(msg),
        Err(err) => Err(classify(text, err)),
    }
}

const KNOWN_TYPES: &[&str] = &[
    "hello",
    "sign_out",
    "change_password",
    "join",
    "leave",
    "list_rooms",
    "send",
    "direct",
    "typing",
    "history",
    "dm_history",
    "create_room",
    "moderate",
    "edit",
    "delete",
    "mark_read",
    "conversations",
];

fn classify(text: &str, err: serde_json::Error) -> DecodeError {
    use serde_json::error::Category;
    if matches!(
        err.classify(),
        Category::Syntax | Category::Eof | Category::Io
    ) {
        return DecodeError {
            code: ErrorCode::BadJson,
            message: format!("not valid JSON: {err}"),
        };
    }
    // Only on the error path: look at the raw object to say what was wrong with it.
    let value: serde_json::Value = match serde_json::from_str(text) {
        Ok(v) => v,
        Err(e) => {
            return DecodeError {
                code: ErrorCode::BadJson,
                message: format!("not valid JSON: {e}"),
            }
        }
    };
    let Some(obj) = value.as_object() else {
        return DecodeError {
            code: ErrorCode::BadJson,
            message: "a message must be a JSON object".into(),
        };
    };
    match obj.get("type").and_then(|t| t.as_str()) {
        None => DecodeError {
            code: ErrorCode::UnknownType,
            message: "missing string field `type`".into(),
        },
        Some(t) if !KNOWN_TYPES.contains(&t) => DecodeError {
            code: ErrorCode::UnknownType,
            message: format!("unknown message type `{}`", truncate(t, 40)),
        },
        Some(t) => DecodeError {
            code: ErrorCode::InvalidMessage,
            message: format!("invalid `{t}` message: {err}"),
        },
    }
}

fn truncate(s: &str, max: usize) -> &str {
    match s.char_indices().nth(max) {
        Some((i, _)) => &s[..i],
        None => s,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::ClientMessage;

    #[test]
    fn classifies_errors() {
        assert_eq!(
            decode_client("{not json").unwrap_err().code,
            ErrorCode::BadJson
        );
        assert_eq!(decode_client("[1,2]").unwrap_err().code, ErrorCode::BadJson);
        assert_eq!(
            decode_client("\"hi\"").unwrap_err().code,
            ErrorCode::BadJson
        );
        assert_eq!(
            decode_client("{}").unwrap_err().code,
            ErrorCode::UnknownType
        );
        assert_eq!(
            decode_client(r#"{"type":"explode"}"#).unwrap_err().code,
            ErrorCode::UnknownType
        );
        assert_eq!(
            decode_client(r#"{"type":"send","room":"general"}"#)
                .unwrap_err()
                .code,
            ErrorCode::InvalidMessage
        );
        assert_eq!(
            decode_client(r#"{"type":"join","room":5}"#)
                .unwrap_err()
                .code,
            ErrorCode::InvalidMessage
        );
        let e = decode_client(r#"{"type":"hello","nick":"a b","protocol":1}"#).unwrap_err();
        assert_eq!(e.code, ErrorCode::InvalidMessage);
        assert!(e.message.contains("nickname"), "{}", e.message);
    }

    #[test]
    fn unit_variant_decodes() {
        assert_eq!(
            decode_client(r#"{"type":"list_rooms"}"#),
            Ok(ClientMessage::ListRooms { after: None })
        );
        assert!(matches!(
            decode_client(r#"{"type":"list_rooms","after":"b"}"#),
            Ok(ClientMessage::ListRooms { after: Some(_) })
        ));
    }
}
