//! "bob is typing…" under the message list.

use yew::prelude::*;

#[derive(Properties, PartialEq)]
pub struct TypingIndicatorProps {
    pub names: Vec<String>,
}

/// The sentence for these names, or an empty string.
pub fn typing_text(names: &[String]) -> String {
    match names {
        [] => String::new(),
        [one] => format!("{one} is typing…"),
        [a, b] => format!("{a} and {b} are typing…"),
        _ => "Several people are typing…".to_string(),
    }
}

#[function_component(TypingIndicator)]
pub fn typing_indicator(props: &TypingIndicatorProps) -> Html {
    html! {
        <div class="typing" aria-live="polite">{ typing_text(&props.names) }</div>
    }
}
