//! The link to the server, reduced to what the driver needs: open, send text, close, and one
//! callback for everything that happens to it, over a WebSocket or over long polling.
//!
//! - A link tries the WebSocket first. When it does not open within [`WELCOME_WAIT_MS`], or no
//!   `welcome` comes within as long again once it is open, or it closes before `welcome` with a
//!   code under 4000 (the server's own refusals are 4xxx and travel fine), the link drops the
//!   socket and opens a poll session instead (the reducer sees a second `Open` and says `hello`
//!   again). A proxy that passes the upgrade and then drops frames is caught by the wait; as
//!   the server may have taken the `hello` sent on that socket (a guest's name is held by it
//!   until the server sees it close), the poll session opens 1 s after such a socket is closed.
//! - A poll session that gets its `welcome` is remembered for the tab (`sessionStorage`
//!   `chat.transport`): the next link of this tab, and of its next page load, starts there.
//! - While on polling, a probe WebSocket is opened after 30 s, then 60 s, 120 s, up to 5 min
//!   after each failed probe. It says the `hello` the reducer gives for it
//!   ([`SocketEvent::Hello`]); if its `welcome` comes, the probe becomes the link, the poll
//!   session is ended (`DELETE`), and the reducer gets that `welcome` as any reconnect's. A
//!   guest's hello carries its resume token, so the server hands the name over and closes the
//!   poll session with 4005: a close of the poll session while a probe's `hello` is out waits
//!   for the probe, and is dropped if it succeeds (passed on, 4005 as 1006, if it fails).
//!
//! Poll sessions follow `shared::POLL_PATH`: one `GET` outstanding at a time; sends made while
//! a `POST` is out go together in the next one, one message per line.
//!
//! The HTTP work and the fallback live in JavaScript: about 1.4 KB gzipped there instead of
//! kilobytes of `fetch`, `Headers` and `Response` bindings in the wasm. It is written compact
//! because its bytes count against the client's size budget. It spells out the header names
//! (`shared::POLL_SESSION` and the others; a test checks they match) and reports to Rust as
//! `cb(kind, text, code)`: 0 open, 1 a message, 2 closed, 3 the transport in use (`text`
//! non-empty: polling), 4 a probe wants its `hello`.

use wasm_bindgen::prelude::*;

/// How long a new link waits for the WebSocket to open, then for `welcome` on it, before it
/// tries polling; a probe gets this and 2 s more for both.
pub const WELCOME_WAIT_MS: u32 = 3_000;

#[wasm_bindgen(inline_js = r#"
const K='chat.transport',S='chat-session',C='chat-close',nop=()=>{};
let fails=0;
const hi=t=>t.startsWith('{"type":"welcome"');
const keep=on=>{try{on?sessionStorage.setItem(K,1):sessionStorage.removeItem(K)}catch(e){}};
function ws(path){
const p={h:nop,send:nop,close(){p.h=nop}};
try{const w=new WebSocket((location.protocol=='https:'?'wss://':'ws://')+location.host+path);
w.onopen=()=>p.h(0,'');
w.onmessage=e=>typeof e.data=='string'&&p.h(1,e.data);
w.onclose=e=>p.h(2,e.reason,e.code);
p.send=t=>w.readyState==1&&w.send(t);
p.close=()=>{p.h=nop;w.close(1000)}}
catch(e){setTimeout(()=>p.h(2,''+e,1006))}
return p}
function poll(path){
const p={h:nop};let q=[],ack='0',up=0,id,dead;
const req=(method,headers,body)=>{if(id)headers[S]=id;return fetch(path,{method,headers,body,cache:'no-store'})};
const end=c=>dead||(dead=1,p.h(2,'',c));
const bad=r=>end(+r.headers.get(C)||(r.status==413?1009:1006));
const lines=t=>{for(const l of t.split('\n'))l&&p.h(1,l)};
const get=()=>dead||req('GET',{'chat-ack':ack}).then(r=>r.status!=200?bad(r):r.text().then(t=>{ack=r.headers.get('chat-seq')||ack;lines(t);const c=+r.headers.get(C);c?end(c):get()})).catch(()=>end(1006));
const flush=()=>{if(up||!id||!q.length||dead)return;up=1;const body=q.join('\n');q=[];req('POST',{},body).then(r=>{up=0;r.ok?flush():bad(r)},()=>end(1006))};
p.send=t=>{q.push(t);flush()};
p.close=()=>{p.h=nop;if(!dead){dead=1;id&&req('DELETE',{}).catch(nop)}};
req('POST',{}).then(r=>{id=r.headers.get(S);if(r.status!=201||!id)return bad(r);p.h(0,'');return r.text().then(t=>{lines(t);flush();get()})}).catch(()=>end(1006));
return p}
export class Link{
constructor(chat,path,wait,cb){Object.assign(this,{chat,path,wait,cb});let on;try{on=sessionStorage.getItem(K)}catch(e){}this.start(on)}
start(on){this.poll=on;this.ok=this.up=0;const m=this.main=on?poll(this.path):ws(this.chat);m.h=(k,t,c)=>this.event(k,t,c);on||this.arm()}
arm(){clearTimeout(this.timer);this.timer=setTimeout(()=>this.fall(),this.wait)}
fall(){clearTimeout(this.timer);this.main.close();this.timer=setTimeout(()=>this.start(1),this.up?1e3:0)}
event(k,t,c){
if(k==0&&!this.poll){this.up=1;this.arm()}
if(k==1&&!this.ok&&hi(t)){this.ok=1;clearTimeout(this.timer);if(this.poll){keep(1);this.later()}this.cb(3,this.poll?'poll':'',0)}
if(k==2){if(!this.ok&&!this.poll&&c<4000)return this.fall();if(this.probe&&this.probe.said)return void(this.held=[t,c]);this.close()}
this.cb(k,t,c||0)}
later(){clearTimeout(this.next);this.next=setTimeout(()=>this.knock(),Math.min(3e4*2**fails,3e5))}
knock(){
const p=this.probe=ws(this.chat);
p.h=(k,t)=>{
if(k==0)return this.cb(4,'',0);
if(k==1&&hi(t)){fails=0;keep(0);clearTimeout(p.timer);this.main.close();Object.assign(this,{main:p,probe:null,held:null,poll:0});p.h=(k,t,c)=>this.event(k,t,c);this.cb(3,'',0);this.cb(1,t,0)}
else this.unprobe()};
p.timer=setTimeout(()=>this.unprobe(),this.wait+2000)}
hello(t){const p=this.probe;if(p&&t){p.said=1;p.send(t)}else if(p)setTimeout(()=>this.unprobe())}
unprobe(){const p=this.probe,h=this.held;if(!p)return;clearTimeout(p.timer);p.close();this.probe=this.held=null;fails++;if(!h)return this.later();this.close();this.cb(2,h[0],h[1]==4005?1006:h[1])}
send(t){this.main.send(t)}
close(){clearTimeout(this.timer);clearTimeout(this.next);const p=this.probe;if(p){clearTimeout(p.timer);p.close();this.probe=null}this.main.close()}}
"#)]
extern "C" {
    type Link;
    #[wasm_bindgen(constructor)]
    fn new(chat: &str, poll: &str, wait: u32, cb: &JsValue) -> Link;
    #[wasm_bindgen(method)]
    fn send(this: &Link, text: &str);
    #[wasm_bindgen(method)]
    fn hello(this: &Link, text: &str);
    #[wasm_bindgen(method)]
    fn close(this: &Link);
}

/// What happened on the link.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SocketEvent {
    Open,
    Text(String),
    /// Closed by either side; 1006 when there was no close frame (network error, refused).
    Closed {
        code: u16,
        reason: String,
    },
    /// A `welcome` came over this transport (`true`: long polling): it is the one in use.
    Via(bool),
    /// A probe WebSocket opened: answer with [`Socket::hello`].
    Hello,
}

/// An open (or opening) link. Dropping it closes it and silences it, so a replaced link can
/// never report into the driver again.
pub struct Socket {
    link: Link,
    _on_event: Closure<dyn FnMut(u32, String, u16)>,
}

impl Socket {
    /// Starts connecting to the server that served this page: the WebSocket at `path`
    /// (`ws://` or `wss://`), long polling at `shared::POLL_PATH`. Every later event goes to
    /// `on_event`.
    pub fn connect(path: &str, on_event: impl Fn(SocketEvent) + 'static) -> Socket {
        let on_event = Closure::<dyn FnMut(u32, String, u16)>::new(
            move |kind: u32, text: String, code: u16| {
                on_event(match kind {
                    0 => SocketEvent::Open,
                    1 => SocketEvent::Text(text),
                    2 => SocketEvent::Closed { code, reason: text },
                    3 => SocketEvent::Via(!text.is_empty()),
                    _ => SocketEvent::Hello,
                });
            },
        );
        let link = Link::new(path, shared::POLL_PATH, WELCOME_WAIT_MS, on_event.as_ref());
        Socket {
            link,
            _on_event: on_event,
        }
    }

    /// Sends one message (one text frame, or one line of a poll `POST`). Nothing happens on a
    /// link that is not open: the reducer's outbox keeps what matters and resends it after the
    /// reconnect.
    pub fn send(&self, text: &str) {
        self.link.send(text);
    }

    /// The probe's `hello` (`None`: there is none to say; the probe is dropped).
    pub fn hello(&self, text: Option<String>) {
        self.link.hello(&text.unwrap_or_default());
    }
}

impl Drop for Socket {
    fn drop(&mut self) {
        self.link.close();
    }
}
