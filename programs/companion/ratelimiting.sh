#!/bin/sh
# Launcher of the ratelimiting companion (L3AF's user-program contract: --iface, --rate, --ports,
# --map-name, --direction, --verbose; see programs/README.md). It runs the companion bundled into
# ratelimiting.mjs beside this script (koffi in node_modules/ beside it: no checkout, no npm), on the
# Node in $L3AF_NODE (the agent sets it to its own) or else `node` on PATH, with the ratelimiting.bpf.o
# packaged beside it (a later --object=PATH overrides it).
here=$(CDPATH= cd -- "$(dirname -- "$0")" && pwd) || exit 1
node="${L3AF_NODE:-node}"
if ! command -v "$node" >/dev/null 2>&1; then
	echo "ratelimiting: no Node.js found (set L3AF_NODE or put node on PATH)" >&2
	exit 2
fi
exec "$node" "$here/ratelimiting.mjs" --object="$here/ratelimiting.bpf.o" "$@"
