#!/bin/sh
# Launcher of the ratelimiting companion (L3AF's user-program contract: --iface, --rate, --ports,
# --map-name, --direction, --verbose; see programs/README.md). It loads the ratelimiting.bpf.o packaged
# beside this script (a later --object=PATH overrides it).
#
# Not self-contained yet: the companion runs on the kernel layer of an l3af checkout with that
# checkout's tsx, so L3AF_HOME must name the checkout (with its node_modules installed). The
# ratelimiting.ts packaged beside this script is the source it runs, for reference; the launcher runs
# the checkout's copy, whose relative imports resolve. Bundling it into one file is issue 5.
here=$(CDPATH= cd -- "$(dirname -- "$0")" && pwd) || exit 1
if [ -z "${L3AF_HOME:-}" ]; then
	echo "ratelimiting: set L3AF_HOME to an l3af checkout (the companion runs on its kernel layer)" >&2
	exit 2
fi
tsx="$L3AF_HOME/node_modules/.bin/tsx"
companion="$L3AF_HOME/programs/companion/ratelimiting.ts"
if [ ! -x "$tsx" ] || [ ! -f "$companion" ]; then
	echo "ratelimiting: $L3AF_HOME is not an l3af checkout with node_modules (missing $tsx or $companion)" >&2
	exit 2
fi
exec "$tsx" "$companion" --object="$here/ratelimiting.bpf.o" "$@"
