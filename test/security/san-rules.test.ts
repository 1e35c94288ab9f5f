// SAN rules and roles without a server: literals exact (case-insensitive), regexes anchored (l3afd matched them
// unanchored), a rule that is neither is an error naming the key, and the role table including "no writer rules".
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { SanRuleError, compileSanRules, dnsNamesOf, roleOf } from '../../agent/src/security/index.ts';

test('literal rules match exactly, regex rules match the whole name', () => {
  const rules = compileSanRules('mtls.san-match-rules', ['writer.l3af.test', 'admin-[0-9]+\\.l3af\\.test', '  ']);
  assert.equal(rules.length, 2);
  const m = (n: string) => rules.some((r) => r.matches(n));
  assert.equal(m('writer.l3af.test'), true);
  assert.equal(m('WRITER.l3af.test'), true);
  assert.equal(m('evil-writer.l3af.test'), false, 'a literal is not a substring match');
  assert.equal(m('admin-42.l3af.test'), true);
  assert.equal(m('admin-42.l3af.test.evil.example'), false, 'regexes are anchored at the end');
  assert.equal(m('x-admin-42.l3af.test'), false, 'and at the start');
  assert.throws(() => compileSanRules('mtls.san-match-rules', ['*.l3af.test']), (e: unknown) => e instanceof SanRuleError && /^mtls\.san-match-rules: rule "\*\.l3af\.test"/.test(e.message));
});

test('DNS names are read from node\'s subjectaltname; IP SANs are ignored', () => {
  assert.deepEqual(dnsNamesOf('DNS:a.example, IP Address:127.0.0.1, DNS:b.example'), ['a.example', 'b.example']);
  assert.deepEqual(dnsNamesOf('DNS:"we,ird.example"'), ['we,ird.example']);
  assert.deepEqual(dnsNamesOf(undefined), []);
});

test('roles: writer rules set, and no writer rules (any CA-signed certificate writes, readers excepted)', () => {
  const writers = compileSanRules('w', ['w.example']);
  const readers = compileSanRules('r', ['r\\..*']);
  assert.equal(roleOf({ writers, readers }, ['w.example']), 'writer');
  assert.equal(roleOf({ writers, readers }, ['r.example']), 'reader');
  assert.equal(roleOf({ writers, readers }, ['x.example']), 'none');
  assert.equal(roleOf({ writers, readers }, []), 'none');
  assert.equal(roleOf({ writers: [], readers }, ['x.example']), 'writer');
  assert.equal(roleOf({ writers: [], readers }, []), 'writer', 'a certificate without DNS SANs is still CA-signed');
  assert.equal(roleOf({ writers: [], readers }, ['r.example']), 'reader');
});
