// Benchmark peer: a chat room on Socket.IO 4, as its chat tutorial writes one, with a room:
// each socket joins `general` on connection, and a `msg` event goes to the rest of the room with
// `socket.to(room).emit` (the adapter encodes the packet once for all of them).
// Usage: node server.js PORT   (listens on 127.0.0.1:PORT, serves /socket.io/?nick=<nickname>)
//
// Many rooms (the bench's many-rooms scenario): `&rooms=a,b,c` in the query joins each of those
// rooms instead, and a `msg` event is `{room,text}`, sent to the rest of that room if the
// sender is in it.
//
// Departures from the defaults, for the benchmark's clients: WebSocket only (they do not start
// with long polling), no per-message deflate (no peer compresses), and the Engine.IO heartbeat
// at 10 minutes, past every scenario's length (the clients do not answer pings).
'use strict';
const http = require('http');
const { Server } = require('socket.io');

const port = Number(process.argv[2] || 8080);
const room = 'general';
const httpServer = http.createServer((req, res) => {
  res.writeHead(404).end('use /socket.io/?EIO=4&transport=websocket&nick=<nickname>');
});
const io = new Server(httpServer, {
  transports: ['websocket'],
  perMessageDeflate: false,
  serveClient: false,
  pingInterval: 600000,
  pingTimeout: 600000,
});

io.on('connection', (socket) => {
  const nick = String(socket.handshake.query.nick || 'anon');
  const rooms = socket.handshake.query.rooms;
  if (typeof rooms === 'string' && rooms) {
    for (const r of rooms.split(',')) socket.join(r);
    socket.on('msg', (m) => {
      if (m && typeof m.room === 'string' && socket.rooms.has(m.room)) {
        socket.to(m.room).emit('chat', { sender: nick, room: m.room, msg: String(m.text) });
      }
    });
    return;
  }
  socket.join(room);
  socket.on('msg', (text) => {
    socket.to(room).emit('chat', { sender: nick, msg: String(text) });
  });
});

httpServer.listen(port, '127.0.0.1', () => console.log(`listening on http://127.0.0.1:${port}`));
