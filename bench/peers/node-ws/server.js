// Benchmark peer: the demo protocol on Node's `ws@8`, written as ws's README broadcasts
// ("broadcast to every other connected client, excluding itself").
// Usage: node server.js PORT   (listens on 127.0.0.1:PORT, serves /ws/<nickname>)
'use strict';
const { WebSocketServer, WebSocket } = require('ws');

const port = Number(process.argv[2] || 8080);
const wss = new WebSocketServer({ host: '127.0.0.1', port, perMessageDeflate: false });

wss.on('connection', (ws, req) => {
  const m = /^\/ws\/([^/?]+)/.exec(req.url || '');
  if (!m) {
    ws.close(1008, 'use /ws/<nickname>');
    return;
  }
  const nick = decodeURIComponent(m[1]);
  ws.on('error', () => {});
  ws.on('message', (data, isBinary) => {
    if (isBinary) return;
    // Encode once; every receiver gets the same Buffer as a text frame.
    const out = Buffer.from(JSON.stringify({ sender: nick, msg: data.toString() }));
    for (const client of wss.clients) {
      if (client !== ws && client.readyState === WebSocket.OPEN) {
        client.send(out, { binary: false });
      }
    }
  });
});

wss.on('listening', () => console.log(`listening on http://127.0.0.1:${port}`));
