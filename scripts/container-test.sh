#!/usr/bin/env bash
# Builds the container image (Dockerfile) from a release build and tests it for real with podman:
# starts it on a fresh volume, registers, logs in, uploads a file and sends a message over the
# WebSocket, then stops and removes the container and starts a new one on the same volume, and
# finds the account, the message and the file still there. Checks on the way that the image refuses
# to serve without JWT_SECRET, that the server does not run as root, and that it stops cleanly on
# SIGTERM. Cleans up everything it made but the cached base image.
#
#   scripts/container-test.sh
#
#   CHATTERBOX_CONTAINER_SKIP_BUILD=1  use the release build in target/ as it is (no cargo)
#   CHATTERBOX_SKIP_CONTAINER=1        skip the whole test, on purpose (it says so); without it, a
#                                      machine where podman cannot run containers fails the test
#   CHATTERBOX_DEBIAN_MIRROR=URL       where debootstrap gets Debian (default deb.debian.org)
#
# No image can be pulled here, so the runtime base is made from Debian's packages with debootstrap
# (localhost/debian:bookworm-slim, about 30 s, kept for the next run) and the image is built from the
# Dockerfile's `runtime-prebuilt` target: see docs/deployment.md, "Containers", and
# ../shared/TOOLCHAIN.md, "Containers with podman", for runc and the limits below.
set -euo pipefail
cd "$(dirname "$0")/.."

BASE_IMAGE=localhost/debian:bookworm-slim
RUN_ID="$$"
IMAGE="localhost/chatterbox:container-test-$RUN_ID"
VOLUME="chatterbox-container-test-$RUN_ID"
CONTAINER="chatterbox-container-test-$RUN_ID"

log() { printf '\033[1;34m[container]\033[0m %s\n' "$*" >&2; }
fail() {
  printf '\033[1;31m[container] FAILED: %s\033[0m\n' "$*" >&2
  exit 1
}
as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }

if [ "${CHATTERBOX_SKIP_CONTAINER:-0}" = 1 ]; then
  printf '\033[1;33m[container] SKIPPED on purpose (CHATTERBOX_SKIP_CONTAINER=1): the container image was neither built nor tested\033[0m\n' >&2
  exit 0
fi

scripts/install-tools.sh --container

# runc: crun refuses the hybrid cgroup layout of these machines. Limits: raising them is not allowed
# here, so the container gets fixed ones (nofile also bounds the server's sockets, max_sockets).
PODMAN=(as_root podman --runtime /usr/sbin/runc)
LIMITS=(--ulimit nofile=10000:10000 --ulimit nproc=4096:4096)
# No automatic health checks: podman runs them from systemd timers, and there is no systemd here
# (the test runs the image's HEALTHCHECK command itself, with podman exec).
RUN_OPTS=(--network=host "${LIMITS[@]}" --no-healthcheck)

STARTED=$SECONDS
WORK="$(mktemp -d "${TMPDIR:-/tmp}/chatterbox-container.XXXXXX")"
cleanup() {
  local code=$?
  "${PODMAN[@]}" rm -f -v -t 0 "$CONTAINER" >/dev/null 2>&1 || true
  "${PODMAN[@]}" volume rm -f "$VOLUME" >/dev/null 2>&1 || true
  "${PODMAN[@]}" rmi -f "$IMAGE" >/dev/null 2>&1 || true
  # The untagged images this build left (its cached intermediate layers), and only those.
  if [ -f "$WORK/images-before" ]; then
    local id
    for id in $("${PODMAN[@]}" images -a -q --no-trunc --filter dangling=true 2>/dev/null | sort -u); do
      grep -qx "$id" "$WORK/images-before" || "${PODMAN[@]}" rmi "$id" >/dev/null 2>&1 || true
    done
  fi
  as_root rm -rf "$WORK"
  if [ "$code" = 0 ]; then
    log "passed in $((SECONDS - STARTED)) s"
  else
    printf '\033[1;31m[container] FAILED (exit %s) after %s s\033[0m\n' "$code" "$((SECONDS - STARTED))" >&2
  fi
}
trap cleanup EXIT

# --- the release build ------------------------------------------------------------------------
if [ "${CHATTERBOX_CONTAINER_SKIP_BUILD:-0}" = 1 ]; then
  log "using the release build in target/ as it is (CHATTERBOX_CONTAINER_SKIP_BUILD=1)"
else
  log "building the release (LEPTOS_SITE_ROOT=target/site cargo xtask build --release --precompress)"
  LEPTOS_SITE_ROOT=target/site CHATTERBOX_BUILD_WITH=xtask scripts/build.sh --release --precompress
fi
for f in target/release/server target/release/hash.txt target/site/pkg; do
  [ -e "$f" ] || fail "$f is missing: build the release first (LEPTOS_SITE_ROOT=target/site scripts/build.sh --release --precompress)"
done

# --- podman, and a base image -----------------------------------------------------------------
"${PODMAN[@]}" info >/dev/null 2>"$WORK/podman-info.err" ||
  fail "podman does not work on this machine: $(tail -3 "$WORK/podman-info.err"). Set CHATTERBOX_SKIP_CONTAINER=1 to skip this test on purpose."

if "${PODMAN[@]}" image exists "$BASE_IMAGE"; then
  log "base image $BASE_IMAGE is cached"
else
  log "making the base image $BASE_IMAGE with debootstrap (Debian 12 minbase, trimmed like the slim image)"
  t0=$SECONDS
  rootfs="$WORK/rootfs"
  as_root debootstrap --variant=minbase bookworm "$rootfs" "${CHATTERBOX_DEBIAN_MIRROR:-http://deb.debian.org/debian}" \
    >"$WORK/debootstrap.log" 2>&1 || { tail -20 "$WORK/debootstrap.log" >&2; fail "debootstrap failed"; }
  # As the official slim image: no package lists, caches, manuals, documentation or translations.
  as_root rm -rf "$rootfs"/var/lib/apt/lists/* "$rootfs"/var/cache/apt/*.bin "$rootfs"/var/cache/apt/archives/*.deb \
    "$rootfs"/usr/share/doc/* "$rootfs"/usr/share/man/* "$rootfs"/usr/share/info/* "$rootfs"/usr/share/locale/* \
    "$rootfs"/var/log/*.log "$rootfs"/var/log/apt/* "$rootfs"/tmp/*
  as_root tar -C "$rootfs" -c . | "${PODMAN[@]}" import \
    --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
    --change 'CMD ["bash"]' - "$BASE_IMAGE" >/dev/null
  as_root rm -rf "$rootfs"
  log "base image made in $((SECONDS - t0)) s"
fi

if ! "${PODMAN[@]}" run --rm "${RUN_OPTS[@]}" "$BASE_IMAGE" true >/dev/null 2>"$WORK/probe.err"; then
  cat "$WORK/probe.err" >&2
  fail "podman cannot run containers on this machine (above). Set CHATTERBOX_SKIP_CONTAINER=1 to skip this test on purpose."
fi

# --- the image --------------------------------------------------------------------------------
# --format docker keeps the HEALTHCHECK (OCI image configs have no place for it).
log "building $IMAGE (--target runtime-prebuilt, RUNTIME_IMAGE=$BASE_IMAGE)"
t0=$SECONDS
"${PODMAN[@]}" images -a -q --no-trunc | sort -u >"$WORK/images-before"
"${PODMAN[@]}" build --pull=never --format docker --network=host "${LIMITS[@]}" \
  --build-arg RUNTIME_IMAGE="$BASE_IMAGE" --target runtime-prebuilt -t "$IMAGE" -f Dockerfile . >"$WORK/build.log" 2>&1 ||
  { tail -30 "$WORK/build.log" >&2; fail "podman build failed"; }
size="$("${PODMAN[@]}" image inspect --format '{{.Size}}' "$IMAGE")"
log "image built in $((SECONDS - t0)) s: $((size / 1000000)) MB"

user="$("${PODMAN[@]}" image inspect --format '{{.Config.User}}' "$IMAGE")"
case "$user" in "" | 0 | 0:* | root | root:*) fail "the image runs as root (USER '$user')" ;; esac
# The HEALTHCHECK's command, one argument a line (exec form: ["CMD", ...]).
"${PODMAN[@]}" image inspect --format '{{json .HealthCheck}}' "$IMAGE" |
  python3 -c 'import json, sys; h = json.load(sys.stdin) or {}; t = h.get("Test") or []; print("\n".join(t[1:]) if t[:1] == ["CMD"] else "")' \
    >"$WORK/healthcheck"
mapfile -t HEALTHCHECK <"$WORK/healthcheck"
[ "${#HEALTHCHECK[@]}" -gt 0 ] || fail "the image has no HEALTHCHECK in exec form"

# --- it refuses to serve without JWT_SECRET -----------------------------------------------------
if "${PODMAN[@]}" run --rm "${RUN_OPTS[@]}" -e LEPTOS_SITE_ADDR=127.0.0.1:1 "$IMAGE" >"$WORK/nosecret.log" 2>&1; then
  fail "the container served without JWT_SECRET"
fi
grep -q 'JWT_SECRET is not set' "$WORK/nosecret.log" ||
  { cat "$WORK/nosecret.log" >&2; fail "without JWT_SECRET the container did not say why it stopped"; }
log "without JWT_SECRET it refuses to start: $(grep -m1 'JWT_SECRET is not set' "$WORK/nosecret.log")"

# --- run it -----------------------------------------------------------------------------------
PORT="$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
BASE_URL="http://127.0.0.1:$PORT"
SECRET="$(head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n')"
"${PODMAN[@]}" volume create "$VOLUME" >/dev/null

start_container() {
  "${PODMAN[@]}" run -d --name "$CONTAINER" "${RUN_OPTS[@]}" \
    -e JWT_SECRET="$SECRET" -e LEPTOS_SITE_ADDR="127.0.0.1:$PORT" \
    -v "$VOLUME:/data" "$IMAGE" >/dev/null
}

# Ready: /readyz answers 200 (a build before /readyz: 404 there, and the login page answers 200).
wait_ready() {
  local deadline=$((SECONDS + 60)) code
  while [ "$SECONDS" -lt "$deadline" ]; do
    if [ "$("${PODMAN[@]}" inspect --format '{{.State.Running}}' "$CONTAINER")" != true ]; then
      "${PODMAN[@]}" logs "$CONTAINER" 2>&1 | tail -20 >&2
      fail "the container stopped before it was ready (its log above)"
    fi
    code="$(curl -s -o /dev/null -w '%{http_code}' "$BASE_URL/readyz" || true)"
    if [ "$code" = 200 ]; then READY_PATH=/readyz; return; fi
    sleep 0.2
  done
  "${PODMAN[@]}" logs "$CONTAINER" 2>&1 | tail -20 >&2
  fail "the server in the container was not ready within 60 s (its log above)"
}

# The chat client: HTTP with urllib, the WebSocket by hand (RFC 6455, client side), Python's standard
# library only. `chat` registers, logs in, uploads and sends; `check` finds it all again.
chat() {
  python3 - "$@" <<'PY'
import base64, hashlib, json, os, socket, struct, sys, time, urllib.error, urllib.request

mode, base, state_file = sys.argv[1], sys.argv[2], sys.argv[3]
host, port = base.removeprefix("http://").split(":")


def die(msg):
    print(f"chat client: {msg}", file=sys.stderr)
    sys.exit(1)


def http(method, path, body=None, token=None, content_type="application/json"):
    data = json.dumps(body).encode() if isinstance(body, dict) else body
    req = urllib.request.Request(base + path, data=data, method=method)
    if data is not None:
        req.add_header("Content-Type", content_type)
    if token:
        req.add_header("Authorization", "Bearer " + token)
    try:
        with urllib.request.urlopen(req, timeout=30) as r:
            return r.status, r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.read()


class WebSocket:
    def __init__(self, token):
        self.sock = socket.create_connection((host, int(port)), timeout=30)
        key = base64.b64encode(os.urandom(16)).decode()
        self.sock.sendall(
            (f"GET /ws HTTP/1.1\r\nHost: {host}:{port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
             f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\nAuthorization: Bearer {token}\r\n\r\n").encode())
        self.buf = b""
        while b"\r\n\r\n" not in self.buf:
            chunk = self.sock.recv(4096)
            if not chunk:
                die("the server closed the WebSocket handshake")
            self.buf += chunk
        head, self.buf = self.buf.split(b"\r\n\r\n", 1)
        lines = head.decode("latin-1").split("\r\n")
        if " 101 " not in lines[0] + " ":
            die(f"WebSocket handshake refused: {lines[0]} {self.buf[:200]!r}")
        accept = base64.b64encode(hashlib.sha1((key + "258EAFA5-E914-47DA-95CA-C5AB0DC85B11").encode()).digest()).decode()
        if not any(l.lower().startswith("sec-websocket-accept:") and l.split(":", 1)[1].strip() == accept for l in lines):
            die("WebSocket handshake: wrong Sec-WebSocket-Accept")

    def _read(self, n):
        while len(self.buf) < n:
            chunk = self.sock.recv(65536)
            if not chunk:
                die("the server closed the WebSocket")
            self.buf += chunk
        out, self.buf = self.buf[:n], self.buf[n:]
        return out

    def _send(self, opcode, payload):
        mask = os.urandom(4)
        n = len(payload)
        head = bytes([0x80 | opcode])
        if n < 126:
            head += bytes([0x80 | n])
        elif n < 65536:
            head += bytes([0x80 | 126]) + struct.pack(">H", n)
        else:
            head += bytes([0x80 | 127]) + struct.pack(">Q", n)
        self.sock.sendall(head + mask + bytes(b ^ mask[i % 4] for i, b in enumerate(payload)))

    def send(self, obj):
        self._send(0x1, json.dumps(obj).encode())

    def recv(self):
        data = b""
        while True:
            b1, b2 = self._read(2)
            n = b2 & 0x7F
            if n == 126:
                n = struct.unpack(">H", self._read(2))[0]
            elif n == 127:
                n = struct.unpack(">Q", self._read(8))[0]
            mask = self._read(4) if b2 & 0x80 else None
            payload = self._read(n)
            if mask:
                payload = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
            opcode = b1 & 0x0F
            if opcode == 0x9:
                self._send(0xA, payload)
                continue
            if opcode == 0x8:
                die(f"the server closed the WebSocket: {payload[:2].hex()} {payload[2:]!r}")
            if opcode in (0x1, 0x0):
                data += payload
                if b1 & 0x80:
                    return json.loads(data)

    def close(self):
        self._send(0x8, struct.pack(">H", 1000))
        self.sock.close()


def login(username, password):
    status, body = http("POST", "/login", {"username": username, "password": password})
    if status != 200:
        die(f"POST /login: {status} {body[:200]!r}")
    return json.loads(body)["access_token"]


def check_site():
    """The page names the hashed JS, WASM and CSS, and each is served precompressed: the site and
    hash.txt the release build made (cargo xtask build --release --precompress) belong together."""
    import gzip, re
    status, page = http("GET", "/login")
    if status != 200:
        die(f"GET /login: {status}")
    names = sorted(set(re.findall(rb"/pkg/[A-Za-z0-9_-]+\.([A-Za-z0-9_-]{22})\.(js|wasm|css)", page)))
    if sorted(kind for _, kind in names) != [b"css", b"js", b"wasm"]:
        die(f"the page does not name one hashed JS, WASM and CSS: {names}")
    for digest, kind in names:
        path = re.search(rb"/pkg/[A-Za-z0-9_-]+\." + digest + rb"\." + kind, page).group().decode()
        req = urllib.request.Request(base + path, headers={"Accept-Encoding": "gzip"})
        with urllib.request.urlopen(req, timeout=30) as r:
            if r.headers.get("Content-Encoding") != "gzip":
                die(f"{path} is not served precompressed: {dict(r.headers)}")
            content = gzip.decompress(r.read())
        if kind == b"wasm" and not content.startswith(b"\0asm"):
            die(f"{path} is not WebAssembly")
        # The JS is rewritten after hashing (it names the hashed WASM); the others are hashed as served.
        if kind != b"js" and base64.urlsafe_b64encode(hashlib.md5(content).digest()).rstrip(b"=") != digest:
            die(f"{path}: its content does not have the hash its name carries")
    print("the page's hashed JS, WASM and CSS are served, precompressed")


if mode == "chat":
    check_site()
    run = os.urandom(4).hex()
    state = {"username": f"ct_{run}", "password": f"pw-{os.urandom(8).hex()}", "client_id": f"ct-{run}",
             "content": f"hello from the container test {run}", "file_bytes": os.urandom(12).hex()}
    status, body = http("POST", "/register", {"username": state["username"], "email": f"ct_{run}@example.org",
                                              "password": state["password"]})
    if status != 201:
        die(f"POST /register: {status} {body[:200]!r}")
    token = login(state["username"], state["password"])
    boundary = "ct" + run
    form = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"note.txt\"\r\n"
            f"Content-Type: text/plain\r\n\r\n{state['file_bytes']}\r\n--{boundary}--\r\n").encode()
    status, body = http("POST", "/uploads", form, token, f"multipart/form-data; boundary={boundary}")
    if status != 201:
        die(f"POST /uploads: {status} {body[:200]!r}")
    attachment = json.loads(body)
    ws = WebSocket(token)
    first = ws.recv()
    if first.get("type") != "history":
        die(f"the first WebSocket frame is not history: {first}")
    ws.send({"type": "message", "room_id": 1, "content": state["content"], "client_id": state["client_id"],
             "attachments": [attachment["id"]]})
    deadline = time.time() + 20
    while True:
        if time.time() > deadline:
            die("no acknowledgement of the message within 20 s")
        frame = ws.recv()
        if frame.get("type") == "error":
            die(f"the message was refused: {frame}")
        if frame.get("type") == "message" and frame.get("client_id") == state["client_id"]:
            break
    ws.close()
    if frame["content"] != state["content"] or [a["id"] for a in frame["attachments"]] != [attachment["id"]]:
        die(f"the acknowledgement differs from what was sent: {frame}")
    state.update(token=token, message_id=frame["id"], file_url=attachment["url"])
    with open(state_file, "w") as f:
        json.dump(state, f)
    print(f"message {frame['id']} acknowledged over the WebSocket, with the file {attachment['url']}")

elif mode == "check":
    with open(state_file) as f:
        state = json.load(f)
    # The token from before the restart is still good: the same JWT_SECRET signs and checks it.
    status, body = http("GET", "/me", token=state["token"])
    if status != 200 or json.loads(body)["username"] != state["username"]:
        die(f"GET /me with the token from before the restart: {status} {body[:200]!r}")
    token = login(state["username"], state["password"])
    status, body = http("GET", "/messages?limit=50", token=token)
    if status != 200:
        die(f"GET /messages: {status} {body[:200]!r}")
    found = [m for m in json.loads(body) if m["id"] == state["message_id"]]
    if not found or found[0]["content"] != state["content"]:
        die(f"message {state['message_id']} is not in the history after the restart")
    status, body = http("GET", state["file_url"], token=token)
    if status != 200 or body.decode() != state["file_bytes"]:
        die(f"GET {state['file_url']} after the restart: {status} {body[:100]!r}")
    ws = WebSocket(token)
    first = ws.recv()
    ws.close()
    if not any(m["id"] == state["message_id"] for m in first.get("messages", [])):
        die("the message is not in the WebSocket's history frame after the restart")
    print(f"account, message {state['message_id']} and its file found again after the restart")
else:
    die(f"unknown mode {mode}")
PY
}

log "starting a container on the volume $VOLUME, at $BASE_URL"
t0=$SECONDS
start_container
wait_ready
log "ready in $((SECONDS - t0)) s ($READY_PATH answers 200)"

uid="$("${PODMAN[@]}" exec "$CONTAINER" sh -c 'sed -n "s/^Uid:[[:space:]]*\([0-9]*\).*/\1/p" /proc/1/status')"
comm="$("${PODMAN[@]}" exec "$CONTAINER" cat /proc/1/comm)"
[ "$comm" = server ] || fail "the container's process 1 is '$comm', not the server"
[ -n "$uid" ] && [ "$uid" != 0 ] || fail "the server runs as uid '$uid' (root)"
host_user="$("${PODMAN[@]}" top "$CONTAINER" user huser comm 2>/dev/null | sed -n 2p | tr -s ' ' || true)"
log "the server runs as uid $uid (podman top: user, host user, command = $host_user)"

chat chat "$BASE_URL" "$WORK/state.json" >&2 || fail "chatting with the container failed"

# The image's HEALTHCHECK must pass on a ready server.
"${PODMAN[@]}" exec "$CONTAINER" "${HEALTHCHECK[@]}" ||
  fail "the image's HEALTHCHECK (${HEALTHCHECK[*]}) fails on a ready server"
log "the HEALTHCHECK command (${HEALTHCHECK[*]}) passes"

log "stopping the container (SIGTERM), removing it, and starting a new one on the same volume"
t0=$SECONDS
"${PODMAN[@]}" stop -t 30 "$CONTAINER" >/dev/null
code="$("${PODMAN[@]}" inspect --format '{{.State.ExitCode}}' "$CONTAINER")"
[ "$code" = 0 ] || { "${PODMAN[@]}" logs "$CONTAINER" 2>&1 | tail -20 >&2; fail "the server exited with $code on SIGTERM, not 0"; }
log "it stopped cleanly in $((SECONDS - t0)) s (exit code 0)"
"${PODMAN[@]}" rm -v "$CONTAINER" >/dev/null
start_container
wait_ready
chat check "$BASE_URL" "$WORK/state.json" >&2 || fail "what was stored before the restart is not all there"
"${PODMAN[@]}" exec "$CONTAINER" sh -c 'test -s /data/chatterbox.db && test -d /data/files' ||
  fail "the database or the files are not in the /data volume"
