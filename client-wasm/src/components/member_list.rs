//! Who is in the room, kept live by presence events, guests marked as such; a click opens a
//! direct conversation.

use shared::Nickname;
use yew::prelude::*;

#[derive(Properties, PartialEq)]
pub struct MemberListProps {
    pub members: Vec<Nickname>,
    /// Which of `members` have no account.
    #[prop_or_default]
    pub guests: Vec<Nickname>,
    pub me: Option<Nickname>,
    pub on_direct: Callback<Nickname>,
}

#[function_component(MemberList)]
pub fn member_list(props: &MemberListProps) -> Html {
    let count = props.members.len();
    html! {
        <section class="member-list" aria-label="Members">
            <h2>{ format!("Members · {count}") }</h2>
            <ul id="members">
                { for props.members.iter().map(|nick| {
                    let me = props.me.as_ref() == Some(nick);
                    let label = nick.to_string();
                    let guest = props.guests.contains(nick).then(|| html! {
                        <span class="guest">{ "(guest)" }</span>
                    });
                    if me {
                        html! { <li key={label.clone()} class="member me" data-nick={label.clone()}>
                            <span class="presence" aria-hidden="true"></span>
                            <span class="name">{ label }</span>{ for guest }<span class="you">{ " (you)" }</span>
                        </li> }
                    } else {
                        let cb = props.on_direct.clone();
                        let n = nick.clone();
                        html! { <li key={label.clone()} class="member" data-nick={label.clone()}>
                            <button type="button" class="member-name" title={format!("Message {label} directly")}
                                onclick={move |_| cb.emit(n.clone())}>
                                <span class="presence" aria-hidden="true"></span>
                                <span class="name">{ label }</span>
                                { for guest }
                            </button>
                        </li> }
                    }
                }) }
            </ul>
        </section>
    }
}
