/**
 * Regular expressions (as JSON Schema `pattern` strings) shared by the payload schemas, with the
 * human-readable rule each one enforces. Every pattern is anchored.
 *
 * Names become directories and bpffs pin-path segments, so they must be single safe path
 * segments. bpffs refuses names containing a dot (checked on this kernel: `mkdir a.b` in a bpffs
 * mount fails with EPERM), so program names may not contain dots; versions may (the pin layout
 * maps `.` to `_`, as l3afd does).
 */

/** Program (package) name: one path segment of letters, digits, `_` and `-`; no dots, no leading `-`. */
export const PROGRAM_NAME = '^[A-Za-z0-9_][A-Za-z0-9_-]{0,63}$';
export const PROGRAM_NAME_RULE = 'must be 1-64 letters, digits, "_" or "-" (not starting with "-"): it becomes a directory and a pin-path segment';

/** Version: one path segment (`latest`, `1.2.0`, `v2.1.0-rc1`); no `/`, `\`, and not `.`/`..`. */
export const VERSION = '^[A-Za-z0-9][A-Za-z0-9._+-]{0,63}$';
export const VERSION_RULE = 'must be 1-64 letters, digits, ".", "_", "+" or "-", starting with a letter or digit (no path separators)';

/**
 * Artifact file name: a plain file name. l3afd picks the format by suffix (`.tar.gz`, `.zip`) and
 * accepts any other name when the package's folder is already extracted (artifacts/store.ts).
 */
export const ARTIFACT = '^[A-Za-z0-9_][A-Za-z0-9._-]{0,127}$';
export const ARTIFACT_RULE = 'must be a plain file name (letters, digits, ".", "_", "-"; .tar.gz or .zip to be downloaded)';

/**
 * A path relative to the extracted package directory (object file, commands, rules file): not
 * absolute, no `..` segment, no backslash or NUL, no empty segment. The empty string means "none".
 */
export const RELATIVE_PATH = '^$|^(?![/])(?!.*(?:^|/)\\.\\.(?:/|$))(?!.*//)[^\\\\\\u0000]{1,255}(?<!/)$';
export const RELATIVE_PATH_RULE = 'must be a relative path inside the package (no leading "/", no ".." segment, no backslash)';

/** A C identifier (ELF function / map name), or empty. */
export const C_IDENTIFIER_OR_EMPTY = '^$|^[A-Za-z_][A-Za-z0-9_]{0,127}$';
export const C_IDENTIFIER_RULE = 'must be a C identifier (letters, digits, "_", not starting with a digit) or empty';

/** An ELF map name as libbpf reports it (may start with `.`, e.g. `.bss`, `.rodata`). */
export const MAP_NAME = '^[A-Za-z0-9_.]{1,128}$';
export const MAP_NAME_RULE = 'must be a map name of 1-128 letters, digits, "_" or "."';

/** Linux interface name rules (dev_valid_name): 1-15 bytes, not `.`/`..`, no `/`, `:` or whitespace. */
export const LINUX_IFACE = '^(?!\\.{1,2}$)[^/:\\s]{1,15}$';
export const LINUX_IFACE_RULE = 'must be a Linux interface name: 1-15 characters, not "." or "..", without "/", ":" or whitespace';
/**
 * Windows interface friendly names (`Ethernet 4`, `vEthernet (Default Switch)`): 1-256 characters
 * (IF_MAX_STRING_SIZE), no leading/trailing space, not `.`/`..`, none of `/ \ : * ? " < > |` or
 * control characters (the name becomes part of a pin path).
 */
export const WINDOWS_IFACE = '^(?! )(?!\\.{1,2}$)[^/\\\\:*?"<>|\\x00-\\x1f]{1,256}(?<! )$';
export const WINDOWS_IFACE_RULE = 'must be a Windows interface name: 1-256 characters, no leading or trailing space, not "." or "..", without / \\ : * ? " < > | or control characters';
/** The interface name rule of the platform the agent runs on (chosen at start). */
export const IFACE = process.platform === 'win32' ? WINDOWS_IFACE : LINUX_IFACE;
export const IFACE_RULE = process.platform === 'win32' ? WINDOWS_IFACE_RULE : LINUX_IFACE_RULE;

/** Host name as `os.hostname()` may return it: 1-253 characters, no whitespace or `/`. */
export const HOST_NAME = '^[^\\s/]{1,253}$';
export const HOST_NAME_RULE = 'must be a host name (1-253 characters, no whitespace or "/")';

/** Dotted-quad IPv4 address, or empty (l3afd returns "" for interfaces without an address). */
export const IPV4_OR_EMPTY = '^$|^(?:(?:25[0-5]|2[0-4]\\d|1\\d\\d|[1-9]?\\d)\\.){3}(?:25[0-5]|2[0-4]\\d|1\\d\\d|[1-9]?\\d)$';
export const IPV4_RULE = 'must be a dotted-quad IPv4 address or empty';

/** Package repository base URL: file, http or https, or empty (= use `[ebpf-repo] url`). */
export const REPO_URL_OR_EMPTY = '^$|^(?:file|https?)://[^\\s]*$';
export const REPO_URL_RULE = 'must be a file://, http:// or https:// URL, or empty';

/** Keys of start/stop/status/update/config args: they become `--key=value` command-line options. */
export const ARG_KEY = '^[A-Za-z0-9_][A-Za-z0-9_.-]{0,63}$';
export const ARG_KEY_RULE = 'argument names must be 1-64 letters, digits, "_", "." or "-" (not starting with "-")';

/** Restart target version as l3afd accepts it: `v<i>.<j>.<k>`. */
export const RESTART_VERSION = '^v\\d{1,9}\\.\\d{1,9}\\.\\d{1,9}$';
export const RESTART_VERSION_RULE = 'must look like vX.Y.Z';

/** Probe and chain program type label (`xdp`, `tc`, `tracepoint`, `uprobe`, ...), or empty. */
export const PROG_TYPE = '^$|^[a-z][a-z0-9_]{0,31}$';
export const PROG_TYPE_RULE = 'must be a lower-case program type such as "xdp", "tc", "tracepoint", "uprobe", or empty';
