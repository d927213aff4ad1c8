//! The connection badge: connecting, online (and over which transport), reconnecting in N s (with "retry now"), offline.

use crate::state::Connection;
use yew::prelude::*;

#[derive(Properties, PartialEq)]
pub struct StatusProps {
    pub connection: Connection,
    /// Online over long polling rather than the WebSocket.
    #[prop_or_default]
    pub polling: bool,
    /// Seconds before the next attempt, while reconnecting.
    #[prop_or_default]
    pub retry_in: Option<i64>,
    pub on_retry: Callback<()>,
}

#[function_component(Status)]
pub fn status(props: &StatusProps) -> Html {
    let (kind, label) = match &props.connection {
        Connection::Offline => ("offline", "offline".to_string()),
        Connection::Connecting { attempt: 0 } => ("connecting", "connecting…".to_string()),
        Connection::Connecting { .. } => ("connecting", "reconnecting…".to_string()),
        Connection::Online if props.polling => ("online", "online · long polling".to_string()),
        Connection::Online => ("online", "online · WebSocket".to_string()),
        Connection::Reconnecting { .. } => (
            "reconnecting",
            format!("reconnecting in {} s", props.retry_in.unwrap_or(0)),
        ),
    };
    let retry = matches!(props.connection, Connection::Reconnecting { .. }).then(|| {
        let on_retry = props.on_retry.clone();
        html! {
            <button type="button" class="link" onclick={move |_| on_retry.emit(())}>
                { "Retry now" }
            </button>
        }
    });
    html! {
        <div id="status" class={classes!("status", kind)} data-state={kind} role="status">
            <span class="dot" aria-hidden="true"></span>
            <span class="label">{ label }</span>
            { for retry }
        </div>
    }
}
