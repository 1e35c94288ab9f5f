// Objects on the real kernel: open, load, find programs and maps, close; failures carry their cause.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { BpfObject, BpfError, BpfProgram, programIds, setLibbpfLogger, libbpfVersion } from '../../agent/src/bpf/index.ts';
import { requireRoot } from '../harness/index.ts';
import { eventually, testObject } from './fixtures.ts';

test('open, load, look up by name, close frees the programs', async (t) => {
  if (requireRoot(t)) return;
  assert.match(libbpfVersion(), /^v1\./);
  let id: number;
  {
    using obj = BpfObject.open(testObject('kl_basic'));
    assert.ok(obj.programNames.includes('xdp_root'));
    assert.ok(obj.mapNames.includes('kl_counters'));
    assert.equal(obj.programSections.get('tp_getppid'), 'tracepoint/syscalls/sys_enter_getppid', 'sections are known before load');
    assert.equal(obj.programSections.get('xdp_root'), 'xdp');
    assert.throws(() => obj.program('xdp_root'), /load the object first/);
    obj.load();
    const root = obj.program('xdp_root');
    assert.equal(root.type, 'xdp');
    assert.equal(root.section, 'xdp');
    assert.equal(obj.program('tc_count_ingress').type, 'sched_cls');
    assert.equal(obj.program('tp_getppid').type, 'tracepoint');
    const info = root.info();
    assert.equal(info.name, 'xdp_root');
    assert.match(info.tag, /^[0-9a-f]{16}$/);
    assert.equal(info.mapIds.length, 3, 'root uses counters, per-CPU array and the prog array');
    id = info.id;
    assert.ok(programIds().includes(id));
    const counters = obj.map('kl_counters');
    assert.deepEqual([counters.type, counters.keySize, counters.valueSize, counters.maxEntries], ['array', 4, 8, 8]);
    assert.equal(obj.map('kl_events').type, 'ringbuf');
    assert.throws(() => obj.program('nope'), (e: unknown) => e instanceof BpfError && e.code === 'ENOENT' && /nope/.test(e.message));
  }
  // the object closed at the end of the block: with no other reference the kernel frees its programs
  await eventually('program freed after close', () => !programIds().includes(id));
  assert.throws(() => BpfProgram.fromId(id), (e: unknown) => e instanceof BpfError && e.code === 'ENOENT');
});

test('a program the verifier rejects fails with the verifier\'s words', (t) => {
  if (requireRoot(t)) return;
  const obj = BpfObject.open(testObject('kl_reject'));
  try {
    assert.throws(() => obj.load(), (e: unknown) => {
      assert.ok(e instanceof BpfError);
      assert.equal(e.op, 'bpf_object__load');
      assert.equal(e.code, 'EACCES');
      assert.match(e.verifierLog ?? '', /invalid access to packet/);
      assert.match(e.message, /kl_reject\.bpf\.o/);
      return true;
    });
  } finally {
    obj.close();
  }
});

test('opening a missing file names it and its errno', (t) => {
  if (requireRoot(t)) return;
  assert.throws(() => BpfObject.open('/nonexistent/x.bpf.o'), (e: unknown) => e instanceof BpfError && e.code === 'ENOENT' && /\/nonexistent\/x\.bpf\.o/.test(e.message));
});

test('libbpf log lines reach the configured logger', (t) => {
  if (requireRoot(t)) return;
  const lines: string[] = [];
  setLibbpfLogger((level, msg) => lines.push(`${level}: ${msg}`));
  try {
    const obj = BpfObject.open(testObject('kl_empty'));
    obj.load();
    obj.close();
  } finally {
    setLibbpfLogger(undefined);
  }
  assert.ok(lines.some((l) => l.startsWith('debug: libbpf:')), `got ${lines.length} lines`);
});
