// Benchmark peer: the demo protocol on Bun.serve with pub/sub, as Bun's WebSocket docs show a
// chat room: subscribe on open, publish on message (`ws.publish` skips the sender).
// Usage: bun server.js PORT   (listens on 127.0.0.1:PORT, serves /ws/<nickname>)
const port = Number(process.argv[2] || 8080);
const room = 'general';

Bun.serve({
  hostname: '127.0.0.1',
  port,
  fetch(req, server) {
    const m = /^\/ws\/([^/]+)$/.exec(new URL(req.url).pathname);
    if (m && server.upgrade(req, { data: { nick: decodeURIComponent(m[1]) } })) {
      return undefined;
    }
    return new Response('use /ws/<nickname>', { status: 404 });
  },
  websocket: {
    open(ws) {
      ws.subscribe(room);
    },
    message(ws, message) {
      ws.publish(room, JSON.stringify({ sender: ws.data.nick, msg: String(message) }));
    },
  },
});

console.log(`listening on http://127.0.0.1:${port}`);
