// Benchmark peer: a chat room on Socket.IO 4, as its chat tutorial writes one, with a room:
// each socket joins `general` on connection, and a `msg` event goes to the rest of the room with
// `socket.to(room).emit` (the adapter encodes the packet once for all of them).
// Usage: node server.js PORT   (listens on 127.0.0.1:PORT, serves /socket.io/?nick=<nickname>)
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
  socket.join(room);
  socket.on('msg', (text) => {
    socket.to(room).emit('chat', { sender: nick, msg: String(text) });
  });
});

httpServer.listen(port, '127.0.0.1', () => console.log(`listening on http://127.0.0.1:${port}`));
