#!/bin/sh
# The image's entrypoint (Dockerfile). Without arguments it serves ChatterBox, and only with a
# JWT_SECRET: the server would otherwise generate one and keep it in its database, which a
# container should not rely on (every node of a cluster must share one, and a secret belongs to
# the deployment, not to a volume). With arguments it runs them as a server command, for
# example `admin promote alice` (docs/deployment.md, "Containers").
set -eu
if [ "$#" -eq 0 ]; then
  if [ -z "${JWT_SECRET:-}" ]; then
    echo "chatterbox: JWT_SECRET is not set; refusing to start." >&2
    echo "chatterbox: give every node the same secret of at least 32 bytes, e.g. -e JWT_SECRET=\$(openssl rand -hex 32)" >&2
    exit 64
  fi
fi
exec /app/server "$@"
