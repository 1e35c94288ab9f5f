// The C structs the kernel layer hands to libbpf and the kernel must have the layout C gives them:
// compile a C program against the system headers that prints sizeof/offsetof and compare.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { structLayouts } from '../../agent/src/bpf/index.ts';

test('koffi struct layouts equal the C layouts of linux/bpf.h and bpf/libbpf.h', () => {
  const layouts = structLayouts();
  const lines: string[] = [];
  for (const [name, l] of Object.entries(layouts)) {
    lines.push(`printf("${name} size %zu\\n", sizeof(struct ${name}));`);
    for (const f of Object.keys(l.offsets)) lines.push(`printf("${name} ${f} %zu\\n", offsetof(struct ${name}, ${f}));`);
  }
  const src = `#include <stdio.h>\n#include <stddef.h>\n#include <linux/bpf.h>\n#include <bpf/libbpf.h>\n#include <bpf/bpf.h>\nint main(void){\n${lines.join('\n')}\nreturn 0;}\n`;
  const dir = mkdtempSync(join(tmpdir(), 'l3af-layout-'));
  try {
    writeFileSync(join(dir, 'l.c'), src);
    execFileSync('cc', ['-o', join(dir, 'l'), join(dir, 'l.c')], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
    const out = execFileSync(join(dir, 'l'), { encoding: 'utf8' });
    let checked = 0;
    for (const line of out.trim().split('\n')) {
      const [name, field, value] = line.split(' ') as [keyof typeof layouts, string, string];
      const l = layouts[name];
      const got = field === 'size' ? l.size : l.offsets[field];
      assert.equal(got, Number(value), `${name}.${field}`);
      checked++;
    }
    assert.ok(checked > 60, `checked ${checked} sizes and offsets`);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
