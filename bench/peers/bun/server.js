// Benchmark peer: the demo protocol on Bun.serve with pub/sub, as Bun's WebSocket docs show a
// chat room: subscribe on open, publish on message (`ws.publish` skips the sender).
// Usage: bun server.js PORT   (listens on 127.0.0.1:PORT, serves /ws/<nickname>)
//
// Many rooms (the bench's many-rooms scenario): `/ws/<nickname>?rooms=a,b,c` subscribes to each
// of those topics instead, and a message is `{"room","msg"}`, published to that topic if the
// sender is subscribed to it.
const port = Number(process.argv[2] || 8080);
const room = 'general';

Bun.serve({
  hostname: '127.0.0.1',
  port,
  fetch(req, server) {
    const url = new URL(req.url);
    const m = /^\/ws\/([^/]+)$/.exec(url.pathname);
    const rooms = url.searchParams.get('rooms');
    const data = { nick: m && decodeURIComponent(m[1]), rooms: rooms ? rooms.split(',') : null };
    if (m && server.upgrade(req, { data })) {
      return undefined;
    }
    return new Response('use /ws/<nickname>', { status: 404 });
  },
  websocket: {
    open(ws) {
      for (const topic of ws.data.rooms || [room]) ws.subscribe(topic);
    },
    message(ws, message) {
      if (!ws.data.rooms) {
        ws.publish(room, JSON.stringify({ sender: ws.data.nick, msg: String(message) }));
        return;
      }
      let m;
      try {
        m = JSON.parse(String(message));
      } catch {
        return;
      }
      if (m && typeof m.room === 'string' && ws.isSubscribed(m.room)) {
        ws.publish(m.room, JSON.stringify({ sender: ws.data.nick, room: m.room, msg: String(m.msg) }));
      }
    },
  },
});

console.log(`listening on http://127.0.0.1:${port}`);
