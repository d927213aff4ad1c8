//! The root component: starts the driver service once (back as the account or guest the page
//! saved, if any, in the conversation the address names), re-renders on each snapshot it
//! publishes, keeps the address and the tab title in step with the state, and lays out the login
//! form or the chat (conversations, members, messages, composer).

use crate::components::login::LoginRequest;
use crate::components::room_list::{direct_entry, Entry};
use crate::components::{
    Composer, DirectList, Login, MemberList, MessageList, RoomAdmin, RoomList, Status,
    TypingIndicator,
};
use crate::services::driver::{now_ms, Driver};
use crate::services::{notify, route, storage};
use crate::state::{Action, ChatState, Connection, Login as SignIn, Paging, Target};
use std::rc::Rc;
use wasm_bindgen::JsCast;
use yew::prelude::*;

/// A snapshot of the state; equal only to itself, so every published change re-renders.
#[derive(Clone)]
struct Snapshot(Rc<ChatState>);

impl PartialEq for Snapshot {
    fn eq(&self, other: &Self) -> bool {
        Rc::ptr_eq(&self.0, &other.0)
    }
}

#[function_component(App)]
pub fn app() -> Html {
    let snapshot = use_state(|| Snapshot(Rc::new(ChatState::new(1, now_ms()))));
    let driver = {
        let setter = snapshot.setter();
        use_memo((), move |_| {
            Driver::new(shared::CHAT_PATH.into(), move |state| {
                setter.set(Snapshot(state))
            })
        })
    };
    let nav_open = use_state(|| false);
    // Once, after the first render: come back as the account or guest of the last visit.
    {
        let driver = driver.clone();
        use_effect_with((), move |_| {
            if let Some(saved) = storage::load() {
                let guest = matches!(saved, crate::state::Saved::Guest { .. });
                driver.dispatch(Action::Restore(saved));
                if let Some(kept) = storage::kept(guest) {
                    driver.dispatch(Action::Recall(kept));
                }
            }
            driver.dispatch(Action::Route(route::current()));
        });
    }
    let state = &*snapshot.0;
    // The address follows the conversation on screen; the title counts what waits elsewhere.
    {
        let shown = state.in_chat().then(|| state.active.clone()).flatten();
        use_effect_with(
            (shown, state.version, state.title()),
            |(shown, _, title)| {
                if let Some(target) = shown {
                    route::show(target);
                }
                if let Some(doc) = web_sys::window().and_then(|w| w.document()) {
                    doc.set_title(title);
                }
            },
        );
    }
    // Bumped when the user answers the notification permission prompt.
    let asked = use_state(|| 0u32);

    let dispatch = {
        let driver = driver.clone();
        Callback::from(move |action: Action| driver.dispatch(action))
    };
    let on_retry_connect = dispatch.reform(|()| Action::RetryNow);
    let status = html! {
        <Status connection={state.connection.clone()} polling={state.polling} retry_in={state.retry_in_secs()}
            on_retry={on_retry_connect} />
    };

    if !state.in_chat() {
        let busy = !matches!(state.connection, Connection::Offline);
        return html! {
            <Login
                nick={state.nick.as_ref().map(|n| n.to_string()).unwrap_or_default()}
                error={state.login_error.clone()}
                {busy}
                status={if busy { status } else { html! {} }}
                on_login={dispatch.reform(|request| match request {
                    LoginRequest::Guest { nick } => Action::Connect { nick },
                    LoginRequest::SignIn { nick, password } =>
                        Action::SignIn(SignIn::Password { nick, password }),
                    LoginRequest::Register { nick, password } =>
                        Action::SignIn(SignIn::Register { nick, password }),
                })}
            />
        };
    }

    // Choosing a conversation on a phone also closes the drawer.
    let on_select = {
        let dispatch = dispatch.clone();
        let nav_open = nav_open.clone();
        Callback::from(move |target: Target| {
            nav_open.set(false);
            dispatch.emit(Action::Select(target));
        })
    };
    let on_join = {
        let dispatch = dispatch.clone();
        let nav_open = nav_open.clone();
        Callback::from(move |name: String| {
            nav_open.set(false);
            dispatch.emit(Action::Join(name));
        })
    };
    let on_direct = on_select.reform(Target::Direct);

    let rooms: Vec<Entry> = state
        .rooms
        .values()
        .map(|r| {
            let target = Target::Room(r.name.clone());
            Entry {
                muted: state.muted.contains(&target),
                target,
                unread: r.unread,
                mentions: r.read.mentions,
            }
        })
        .collect();
    let directs: Vec<Entry> = state
        .directs
        .values()
        .map(|d| {
            let muted = state.muted.contains(&Target::Direct(d.peer.clone()));
            direct_entry(&d.peer, d.unread, d.read.mentions, muted)
        })
        .collect();
    let others = state
        .directory
        .iter()
        .filter(|info| !state.rooms.contains_key(&info.name))
        .cloned()
        .collect::<Vec<_>>();
    let unread_total: u32 = rooms.iter().chain(directs.iter()).map(|e| e.unread).sum();

    let (title, placeholder, empty_hint) = match &state.active {
        Some(Target::Room(name)) => (
            format!("#{name}"),
            format!("Message #{name}"),
            format!("No messages in #{name} yet. Say hello!"),
        ),
        Some(Target::Direct(peer)) => (
            format!("@{peer}"),
            format!("Message @{peer}"),
            format!("Direct messages with {peer} appear here. Only the two of you see them."),
        ),
        None => (
            "Chat".into(),
            "Join a room first".into(),
            "Join a room to start.".into(),
        ),
    };
    let room = state.active_room();
    let members = room.map(|r| r.members.iter().cloned().collect::<Vec<_>>());
    let guests = room.map_or_else(Vec::new, |r| r.guests.iter().cloned().collect::<Vec<_>>());
    let thread = match &state.active {
        Some(Target::Direct(peer)) => state.directs.get(peer),
        _ => None,
    };
    let has_older = room.is_some_and(|r| r.has_older) || thread.is_some_and(|t| t.has_older);
    let loading_older = room.is_some_and(|r| r.paging == Paging::Older)
        || thread.is_some_and(|t| t.paging == Paging::Older);
    let admin_panel = room.filter(|r| state.can_moderate(r)).map(|r| {
        html! {
            <RoomAdmin invite_only={r.invite_only}
                on_moderate={dispatch.reform(|(nick, action, for_secs)| Action::Moderate { nick, action, for_secs })} />
        }
    });
    let muted = room.is_some_and(|r| r.muted_until.is_some_and(|u| u > state.now));
    let placeholder = if muted {
        "You are muted in this room".to_string()
    } else {
        placeholder
    };
    let gap = room.is_some_and(|r| r.gap_after.is_some());
    let toggle_nav = {
        let nav_open = nav_open.clone();
        move |_| nav_open.set(!*nav_open)
    };
    // Escape closes the drawer (phone layout) and puts the focus back on its button.
    let on_key = {
        let nav_open = nav_open.clone();
        move |e: KeyboardEvent| {
            if e.key() == "Escape" && *nav_open {
                nav_open.set(false);
                if let Some(menu) = web_sys::window()
                    .and_then(|w| w.document())
                    .and_then(|d| d.get_element_by_id("menu"))
                    .and_then(|el| el.dyn_into::<web_sys::HtmlElement>().ok())
                {
                    let _ = menu.focus();
                }
            }
        }
    };
    let muted_here = state
        .active
        .as_ref()
        .is_some_and(|t| state.muted.contains(t));
    let ask_notify = notify::can_ask().then(|| {
        let asked = asked.clone();
        let onclick = move |_| {
            let asked = asked.clone();
            notify::ask_permission(move || asked.set(*asked + 1));
        };
        html! {
            <button type="button" class="link" id="notify-enable" {onclick}
                title="Get a notification for direct messages and mentions while this tab is hidden">
                { "Enable notifications" }
            </button>
        }
    });
    // One composer per conversation: its draft comes back when it opens.
    let composer_key = state
        .active
        .as_ref()
        .map_or_else(String::new, Target::address);
    let groups = state.groups_by_day(crate::components::time::local_day);
    let dismiss = dispatch.reform(|_: MouseEvent| Action::DismissNotice);

    html! {
        <div class={classes!("shell", nav_open.then_some("nav-open"))} onkeydown={on_key}>
            <header class="topbar">
                <button type="button" class="menu" id="menu" aria-controls="sidebar"
                    aria-expanded={if *nav_open { "true" } else { "false" }} onclick={toggle_nav}>
                    <span aria-hidden="true">{ "☰" }</span>
                    <span class="visually-hidden">{ "Conversations" }</span>
                    if unread_total > 0 {
                        <span class="badge">{ unread_total.min(999) }</span>
                    }
                </button>
                <h1 class="title" id="conversation-title">{ title }</h1>
                if state.active.is_some() {
                    <button type="button" class="ghost" id="mute" aria-pressed={if muted_here { "true" } else { "false" }}
                        title="Muted conversations neither notify nor count in the tab title"
                        onclick={dispatch.reform(|_: MouseEvent| Action::ToggleMute)}>
                        { if muted_here { "Unmute" } else { "Mute" } }
                    </button>
                }
                { status }
                <span class="me" id="me">{ state.nick.as_ref().map(|n| n.to_string()).unwrap_or_default() }</span>
                if state.guest {
                    <span class="guest" id="me-guest">{ "(guest)" }</span>
                }
                <button type="button" class="ghost" id="disconnect"
                    onclick={dispatch.reform(|_: MouseEvent| Action::SignOut { everywhere: false })}>
                    { "Sign out" }
                </button>
            </header>
            <aside id="sidebar" class="sidebar">
                // The member list sits right under the joined rooms (which change only when the
                // user joins or leaves), above anything a server listing or a new direct message
                // can grow: a row never moves under the pointer.
                <RoomList {rooms} {others} active={state.active.clone()}
                    on_select={on_select.clone()} {on_join}
                    on_create={dispatch.reform(|(name, invite_only)| Action::CreateRoom { name, invite_only })}
                    on_leave={dispatch.reform(Action::Leave)}
                    on_refresh={dispatch.reform(|()| Action::RefreshRooms)}>
                    if let Some(members) = members {
                        <MemberList {members} {guests} me={state.nick.clone()} {on_direct} />
                    }
                    { for admin_panel }
                    <DirectList {directs} active={state.active.clone()} {on_select} />
                </RoomList>
                { for ask_notify }
                if !state.guest {
                    <button type="button" class="link sign-out-everywhere" id="sign-out-everywhere"
                        title="End this account's sessions in every browser and tab"
                        onclick={dispatch.reform(|_: MouseEvent| Action::SignOut { everywhere: true })}>
                        { "Sign out everywhere" }
                    </button>
                }
            </aside>
            <main class="conversation">
                if let Some(notice) = state.notice.clone() {
                    <div class="notice" role="alert">
                        <span>{ notice }</span>
                        <button type="button" class="link" onclick={dismiss}>{ "dismiss" }</button>
                    </div>
                }
                <div class="visually-hidden" id="announce" aria-live="polite">{ state.heard() }</div>
                <MessageList {groups} {has_older} {loading_older} {gap} {empty_hint}
                    on_older={dispatch.reform(|()| Action::LoadOlder)}
                    on_retry={dispatch.reform(Action::Retry)}
                    on_discard={dispatch.reform(Action::Discard)}
                    on_edit={dispatch.reform(|(id, text)| Action::Edit { id, text })}
                    on_delete={dispatch.reform(Action::Delete)} />
                <TypingIndicator names={state.typing_names()} />
                <Composer key={composer_key} {placeholder} disabled={state.active.is_none() || muted}
                    draft={state.active_draft().to_string()} on_draft={dispatch.reform(Action::Draft)}
                    names={state.mention_names()} last_own={state.last_editable()}
                    on_send={dispatch.reform(Action::Send)}
                    on_edit={dispatch.reform(|(id, text)| Action::Edit { id, text })}
                    on_typing={dispatch.reform(|()| Action::Typing)} />
            </main>
        </div>
    }
}
