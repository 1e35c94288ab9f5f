// The ratelimiting program built a second time, for eBPF-for-Windows, from the same C source
// (`make -C programs` -> programs/build/windows/ratelimiting.bpf.o, clang -DL3AF_TARGET_WINDOWS).
// There is no eBPF-for-Windows here to load it, so the object itself is read: every helper call's
// immediate, the verdicts it returns, the xdp_md fields it reads, the map types in its BTF and its
// sections, each against eBPF-for-Windows' numbers — and against the Linux object, which must differ
// exactly there and nowhere else.
import { before, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { BtfTypes, type BtfType } from '../../agent/src/bpf/btf-decoder.ts';
import { ROOT } from '../harness/repo.ts';

const LINUX_OBJ = join(ROOT, 'programs', 'build', 'ratelimiting.bpf.o');
const WINDOWS_OBJ = join(ROOT, 'programs', 'build', 'windows', 'ratelimiting.bpf.o');
const WINDOWS_HEADER = join(ROOT, 'programs', 'include', 'windows', 'l3af_windows.h');

// eBPF-for-Windows' numbers, as its headers state them (microsoft/ebpf-for-windows at 0be2d1c):
// helper ids from include/ebpf_structs.h (ebpf_helper_id_t) ...
const WINDOWS_HELPERS: Record<string, number> = {
  map_lookup_elem: 1, map_update_elem: 2, map_delete_elem: 3, tail_call: 5, ktime_get_ns: 9, ringbuf_output: 11,
};
// ... map types from include/ebpf_structs.h (bpf_map_type) ...
const WINDOWS_MAP_TYPES = { hash: 1, array: 2, prog_array: 3, ringbuf: 13 };
// ... and the XDP verdicts and context from the XDP hook's header (tests/include/xdp_hooks.h there,
// published/external/xdp/ebpfhook.h in xdp-for-windows).
const WINDOWS_XDP = { pass: 1, drop: 2 };
// Linux's, for the comparison (the kernel's uapi).
const LINUX_MAP_TYPES = { hash: 1, array: 2, prog_array: 3, ringbuf: 27 };
const LINUX_XDP = { pass: 2, drop: 1 };

/** Linux's helper ids by name: the position in the kernel uapi header's FN() list (unspec is 0). */
function linuxHelpers(): Record<string, number> {
  const text = readFileSync('/usr/include/linux/bpf.h', 'utf8');
  const start = text.indexOf('#define ___BPF_FUNC_MAPPER(FN, ctx...)') >= 0
    ? text.indexOf('#define ___BPF_FUNC_MAPPER(FN, ctx...)')
    : text.indexOf('#define __BPF_FUNC_MAPPER(FN)');
  assert.ok(start >= 0, 'the helper list of linux/bpf.h');
  const block = text.slice(start, text.indexOf('\n\n', start));
  const out: Record<string, number> = {};
  let n = 0;
  for (const m of block.matchAll(/FN\((\w+)(?:,\s*(\d+))?/g)) {
    out[m[1] as string] = m[2] === undefined ? n : Number(m[2]);
    n = out[m[1] as string]! + 1;
  }
  return out;
}

interface Insn { idx: number; text: string; reloc?: string }

/** The program section's instructions, each with the symbol of its relocation (map references). */
function disassemble(obj: string): Insn[] {
  const out = execFileSync('llvm-objdump', ['-d', '-r', '--no-show-raw-insn', '--section=xdp', obj], { encoding: 'utf8' });
  const insns: Insn[] = [];
  for (const line of out.split('\n')) {
    const insn = /^\s+(\d+):\t(.+)$/.exec(line);
    if (insn) {
      insns.push({ idx: Number(insn[1]), text: (insn[2] as string).trim() });
      continue;
    }
    const rel = /R_BPF_64_64\s+(\S+)/.exec(line);
    if (rel && insns.length > 0) insns[insns.length - 1]!.reloc = rel[1];
  }
  assert.ok(insns.length > 100, `${obj}: disassembly of section xdp`);
  return insns;
}

interface Call { id: number; helper: string; map?: string; arg2Map?: string }

/** Every helper call with its helper's name (by the platform's table) and the maps loaded into r1 and r2 before it. */
function calls(insns: Insn[], table: Record<string, number>): Call[] {
  const byId = new Map(Object.entries(table).map(([name, id]) => [id, name]));
  const out: Call[] = [];
  const regMap = new Map<string, string>();
  for (const i of insns) {
    const call = /^call (\d+)$/.exec(i.text);
    if (call) {
      const id = Number(call[1]);
      out.push({ id, helper: byId.get(id) ?? `unknown#${id}`, map: regMap.get('1'), arg2Map: regMap.get('2') });
      regMap.clear(); // r1-r5 do not survive a call
      continue;
    }
    const write = /^[rw](\d) (?:=|\+=|-=|<<=|>>=|&=|\|=)/.exec(i.text);
    if (!write) continue;
    if (/^r\d = 0 ll$/.test(i.text) && i.reloc) regMap.set(write[1] as string, i.reloc);
    else regMap.delete(write[1] as string);
  }
  return out;
}

function counts(cs: Call[]): Record<string, number> {
  const out: Record<string, number> = {};
  for (const c of cs) out[c.helper] = (out[c.helper] ?? 0) + 1;
  return out;
}

/** The verdicts: the constants put in r0 (the only ones are the program's two returns). */
function verdicts(insns: Insn[], tailCallId: number): { afterTailCall: number; others: number[] } {
  const consts = insns.flatMap((i) => {
    const m = /^[rw]0 = (-?\d+)$/.exec(i.text);
    return m ? [{ idx: i.idx, v: Number(m[1]) }] : [];
  });
  const tail = insns.find((i) => i.text === `call ${tailCallId}`);
  assert.ok(tail, 'the tail call');
  const after = consts.find((c) => c.idx === tail.idx + 1);
  assert.ok(after, 'a constant verdict right after the tail call (the end of the chain)');
  return { afterTailCall: after.v, others: consts.filter((c) => c !== after).map((c) => c.v) };
}

/** Loads from the context (the entry copies r1 to r6 and never writes r6 again): size and offset. */
function contextLoads(insns: Insn[]): string[] {
  assert.equal(insns[0]?.text, 'r6 = r1', 'the entry keeps the context in r6');
  assert.ok(!insns.slice(1).some((i) => /^[rw]6 = /.test(i.text)), 'r6 is not written again');
  const out = new Set<string>();
  for (const i of insns) {
    const m = /= \*\((u\d+) \*\)\(r6 \+ (\d+)\)$/.exec(i.text);
    if (m) out.add(`${m[1]}@${m[2]}`);
  }
  return [...out].sort();
}

/** Each map of the .maps section: the number encoded in each of its BTF fields (`__uint`) and the sizes of key/value (`__type`). */
function btfMaps(obj: string): Record<string, Record<string, number>> {
  const types = BtfTypes.ofFile(obj);
  const all: BtfType[] = [];
  for (let id = 1; ; id++) {
    try {
      all.push(types.get(id));
    } catch {
      break;
    }
  }
  const sec = all.find((t) => t.kind === 'DATASEC' && t.name === '.maps');
  assert.ok(sec?.vars, `${obj}: a .maps section in BTF`);
  const out: Record<string, Record<string, number>> = {};
  for (const v of sec.vars) {
    const variable = types.get(v.type_id);
    const def = types.resolve(variable.type_id!);
    const fields: Record<string, number> = {};
    for (const m of def.members ?? []) {
      const ptr = types.resolve(m.type_id);
      assert.equal(ptr.kind, 'PTR', `${variable.name}.${m.name} is a pointer`);
      const target = types.resolve(ptr.type_id!);
      fields[m.name] = target.kind === 'ARRAY' && (m.name === 'type' || m.name === 'max_entries') ? target.nr_elems! : types.sizeOf(target);
    }
    out[variable.name] = fields;
  }
  return out;
}

function xdpMdMembers(obj: string): string[] {
  const types = BtfTypes.ofFile(obj);
  const md = types.struct('xdp_md');
  return (md.members ?? []).map((m) => `${m.name}:${types.resolve(m.type_id).kind}@${m.bits_offset / 8}`);
}

function sections(obj: string): Map<string, number> {
  const out = execFileSync('llvm-objdump', ['-h', obj], { encoding: 'utf8' });
  const m = new Map<string, number>();
  for (const line of out.split('\n')) {
    const s = /^\s*\d+\s+(\S+)\s+([0-9a-f]+)\s/.exec(line);
    if (s) m.set(s[1] as string, parseInt(s[2] as string, 16));
  }
  return m;
}

function entrySymbol(obj: string): string {
  const out = execFileSync('llvm-objdump', ['-t', obj], { encoding: 'utf8' });
  const line = out.split('\n').find((l) => /\sF\s+xdp\s/.test(l) && /\s_xdp_ratelimiting$/.test(l));
  assert.ok(line, `${obj}: the entry function _xdp_ratelimiting in section xdp`);
  return line.trim();
}

let linux: Insn[];
let windows: Insn[];
const LINUX_HELPERS = linuxHelpers();

before(() => {
  execFileSync('make', ['-C', join(ROOT, 'programs'), 'build/ratelimiting.bpf.o', 'build/windows/ratelimiting.bpf.o'], { stdio: 'ignore', timeout: 120_000 });
  linux = disassemble(LINUX_OBJ);
  windows = disassemble(WINDOWS_OBJ);
});

test('our Windows header states eBPF-for-Windows\' numbers (helper ids, map types, verdicts)', () => {
  const h = readFileSync(WINDOWS_HEADER, 'utf8');
  for (const [name, id] of Object.entries(WINDOWS_HELPERS)) {
    assert.match(h, new RegExp(`L3AF_WIN_FUNC_${name.toUpperCase()} = ${id},`), name);
  }
  for (const [name, v] of Object.entries(WINDOWS_MAP_TYPES)) assert.match(h, new RegExp(`BPF_MAP_TYPE_${name.toUpperCase()} = ${v},`), name);
  assert.match(h, /XDP_PASS = 1,\s+XDP_DROP = 2,\s+XDP_TX = 3,/);
  assert.deepEqual([LINUX_HELPERS.map_lookup_elem, LINUX_HELPERS.ktime_get_ns, LINUX_HELPERS.tail_call, LINUX_HELPERS.ringbuf_reserve, LINUX_HELPERS.ringbuf_submit], [1, 5, 12, 131, 132], 'linux/bpf.h read right');
});

test('Windows object: every call immediate is the Windows id of the helper the source calls', () => {
  const w = calls(windows, WINDOWS_HELPERS);
  const l = calls(linux, LINUX_HELPERS);
  console.log('windows call ids', w.map((c) => c.id).join(' '), '| linux', l.map((c) => c.id).join(' '));
  assert.ok(w.every((c) => !c.helper.startsWith('unknown')), `only known Windows helpers: ${w.map((c) => c.id).join(',')}`);
  // the same source: as many map lookups, one clock read, one tail call, one ring buffer write
  // (Linux reserves and submits; eBPF-for-Windows has no reserve/submit and copies with ringbuf_output)
  assert.deepEqual(counts(w), { map_lookup_elem: counts(l).map_lookup_elem, ktime_get_ns: 1, tail_call: 1, ringbuf_output: 1 });
  assert.deepEqual(counts(l), { map_lookup_elem: counts(l).map_lookup_elem, ktime_get_ns: 1, tail_call: 1, ringbuf_reserve: 1, ringbuf_submit: 1 });
  assert.ok((counts(l).map_lookup_elem ?? 0) >= 6);
  // the ids themselves: 5 is Linux's ktime_get_ns but Windows' tail_call
  assert.deepEqual([...new Set(w.map((c) => c.id))].sort((a, b) => a - b), [1, 5, 9, 11]);
  assert.deepEqual([...new Set(l.map((c) => c.id))].sort((a, b) => a - b), [1, 5, 12, 131, 132]);
  // and each is called on the map the source means
  assert.equal(w.find((c) => c.helper === 'tail_call')?.arg2Map, 'xdp_rl_ingress_next_prog');
  assert.equal(l.find((c) => c.helper === 'tail_call')?.arg2Map, 'xdp_rl_ingress_next_prog');
  assert.equal(w.find((c) => c.helper === 'ringbuf_output')?.map, 'rl_events');
  assert.equal(l.find((c) => c.helper === 'ringbuf_reserve')?.map, 'rl_events');
  const lookedUp = (cs: Call[]) => cs.filter((c) => c.helper === 'map_lookup_elem').map((c) => c.map ?? '?').sort();
  assert.deepEqual(lookedUp(w), lookedUp(l));
  assert.ok(lookedUp(w).includes('rl_ports_map') && lookedUp(w).includes('rl_window_map'));
  assert.equal(w.find((c) => c.helper === 'ktime_get_ns')?.map, undefined);
});

test('Windows object: returns eBPF-for-Windows\' XDP verdicts (PASS 1 at the end of the chain, DROP 2)', () => {
  const w = verdicts(windows, WINDOWS_HELPERS.tail_call!);
  const l = verdicts(linux, LINUX_HELPERS.tail_call!);
  console.log('windows verdicts', JSON.stringify(w), '| linux', JSON.stringify(l));
  assert.deepEqual(w, { afterTailCall: WINDOWS_XDP.pass, others: [WINDOWS_XDP.drop] });
  assert.deepEqual(l, { afterTailCall: LINUX_XDP.pass, others: [LINUX_XDP.drop] });
});

test('Windows object: reads xdp_md as eBPF-for-Windows lays it out (pointers, ingress_ifindex at 24)', () => {
  const w = contextLoads(windows);
  const l = contextLoads(linux);
  console.log('windows ctx loads', w.join(' '), '| linux', l.join(' '));
  assert.deepEqual(w, ['u32@24', 'u64@0', 'u64@8']); // ingress_ifindex, data, data_end
  assert.deepEqual(l, ['u32@0', 'u32@12', 'u32@4']);
  assert.deepEqual(xdpMdMembers(WINDOWS_OBJ), ['data:PTR@0', 'data_end:PTR@8', 'data_meta:INT@16', 'ingress_ifindex:INT@24']);
});

test('Windows object: map types in BTF are eBPF-for-Windows\' values; everything else as on Linux', () => {
  const w = btfMaps(WINDOWS_OBJ);
  const l = btfMaps(LINUX_OBJ);
  console.log('windows maps', JSON.stringify(w));
  const expected = (t: typeof WINDOWS_MAP_TYPES) => ({
    rl_config_map: t.array, rl_ports_map: t.hash, rl_window_map: t.array, rl_recv_count_map: t.array,
    rl_drop_count_map: t.array, rl_events: t.ringbuf, xdp_rl_ingress_next_prog: t.prog_array,
  });
  const typeOf = (m: typeof w) => Object.fromEntries(Object.entries(m).map(([k, v]) => [k, v.type]));
  assert.deepEqual(typeOf(w), expected(WINDOWS_MAP_TYPES));
  assert.deepEqual(typeOf(l), expected(LINUX_MAP_TYPES));
  // only the ring buffer's type number differs; sizes and entries are the same
  const withoutType = (m: typeof w) => Object.fromEntries(Object.entries(m).map(([k, { type: _t, ...rest }]) => [k, rest]));
  assert.deepEqual(withoutType(w), withoutType(l));
  assert.deepEqual(Object.keys(w).filter((k) => w[k]!.type !== l[k]!.type), ['rl_events']);
});

test('Windows object: sections as eBPF-for-Windows reads them, plus its platform marker', () => {
  const w = sections(WINDOWS_OBJ);
  const l = sections(LINUX_OBJ);
  for (const s of ['xdp', '.maps', 'license', '.BTF', '.BTF.ext']) {
    assert.ok(w.has(s), `windows: section ${s}`);
    assert.ok(l.has(s), `linux: section ${s}`);
  }
  assert.equal(w.get('.maps'), l.get('.maps'), 'the same map definitions');
  // eBPF-for-Windows' bpf_helpers_platform.h marks its programs with a true bool in .ebpf_for_windows
  assert.equal(w.get('.ebpf_for_windows'), 1);
  assert.equal(l.has('.ebpf_for_windows'), false);
  const dump = execFileSync('llvm-objdump', ['-s', '--section=.ebpf_for_windows', WINDOWS_OBJ], { encoding: 'utf8' });
  assert.match(dump, /^ 0000 01\s/m);
  // the entry the payloads name, in section "xdp" (eBPF-for-Windows' program type xdp), in both
  entrySymbol(WINDOWS_OBJ);
  entrySymbol(LINUX_OBJ);
  // the same code otherwise: the Windows object differs in the instructions touched above and in the
  // ring buffer write (a stack copy instead of a reservation), so its length differs only by that much
  console.log(`instructions: windows ${windows.length}, linux ${linux.length}`);
  assert.ok(Math.abs(windows.length - linux.length) < 40);
});
