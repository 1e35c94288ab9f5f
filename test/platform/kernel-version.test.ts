// [l3afd] kernel-major-version / kernel-minor-version: the minimum kernel is enforced on Linux, naming both keys.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { kernelTooOld, kernelVersion } from '../../agent/src/platform/kernel-version.ts';

test('kernel releases are read as major.minor and compared with the configured minimum', () => {
  assert.deepEqual(kernelVersion('6.18.44-fc-v1252'), { major: 6, minor: 18 });
  assert.deepEqual(kernelVersion('5.4.0-150-generic'), { major: 5, minor: 4 });
  assert.equal(kernelVersion('unknown'), undefined);
  assert.equal(kernelTooOld({ major: 5, minor: 15 }, '6.1.0', 'linux'), undefined);
  assert.equal(kernelTooOld({ major: 5, minor: 15 }, '5.15.0', 'linux'), undefined);
  assert.match(kernelTooOld({ major: 5, minor: 15 }, '5.4.0-150-generic', 'linux') ?? '', /\[l3afd\] kernel-major-version \/ kernel-minor-version: this kernel is 5\.4 .*older than the configured minimum 5\.15/);
  assert.match(kernelTooOld({ major: 7, minor: 0 }, '6.18.44', 'linux') ?? '', /minimum 7\.0/);
  assert.equal(kernelTooOld({ major: 99, minor: 0 }, '10.0.22631', 'win32'), undefined, 'not checked off Linux (as l3afd)');
});
