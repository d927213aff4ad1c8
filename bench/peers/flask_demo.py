"""The classic demo, written from its description: Flask + gevent-websocket.

A module-level dict of sockets keyed by username; each connection's handler loops on
`receive()` and sends `{"sender", "msg"}` JSON to every *other* socket, ignoring send errors.
Nothing is stored and nothing goes back to the sender.

Usage: python flask_demo.py PORT   (listens on 127.0.0.1:PORT)
"""

import json
import sys

from flask import Flask, request
from gevent.pywsgi import WSGIServer
from geventwebsocket.handler import WebSocketHandler

app = Flask(__name__)
user_socket_dict = {}


@app.route("/ws/<username>")
def ws(username):
    user_socket = request.environ.get("wsgi.websocket")
    if not user_socket:
        return "websocket only", 400
    # A second connection with the same name silently replaces the first, as in the demo.
    user_socket_dict[username] = user_socket
    try:
        while True:
            msg = user_socket.receive()
            if msg is None:
                break
            payload = json.dumps({"sender": username, "msg": msg})
            # list(): other greenlets may connect while this one is blocked in send().
            for name, sock in list(user_socket_dict.items()):
                if name == username:
                    continue
                try:
                    sock.send(payload)
                except Exception:
                    pass
    except Exception:
        pass
    finally:
        if user_socket_dict.get(username) is user_socket:
            del user_socket_dict[username]
    return ""


if __name__ == "__main__":
    port = int(sys.argv[1]) if len(sys.argv) > 1 else 5000
    server = WSGIServer(("127.0.0.1", port), app, handler_class=WebSocketHandler)
    server.start()
    print(f"listening on http://127.0.0.1:{port}", flush=True)
    server.serve_forever()
