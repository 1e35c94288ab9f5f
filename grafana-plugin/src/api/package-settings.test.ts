import { RATELIMITING_SETTINGS, settingsOf } from './catalogue';
import { applySettings, parseSetting, settingText, type PackageSetting } from './package-settings';

const [rate, ports] = RATELIMITING_SETTINGS as [PackageSetting, PackageSetting];
const args = [
  { name: 'rl_config_map', args: [{ key: 0, value: 2 }] },
  { name: 'rl_ports_map', args: [{ key: 8080, value: 1 }] },
  { name: 'other', args: [{ key: 1, value: 7 }] },
];

describe('package settings', () => {
  it('reads a value and a key list from map_args, and the initial value for an add', () => {
    expect(settingText(rate, args)).toBe('2');
    expect(settingText(ports, args)).toBe('8080');
    expect(settingText(rate, null)).toBe('');
    expect(settingText(rate, null, true)).toBe('2');
  });

  it('refuses out-of-range numbers in the setting own words', () => {
    expect(() => parseSetting(rate, 'fast')).toThrow(
      'rate "fast" is not a whole number of connections per second (0 or more)'
    );
    expect(() => parseSetting(rate, '-1')).toThrow('rate "-1"');
    expect(() => parseSetting(ports, '80, 70000')).toThrow('port "70000" is not a number 1..65535');
    expect(parseSetting(ports, ' 80 ,443 8080')).toEqual([80, 443, 8080]);
  });

  it('an edit rewrites only its maps and lists what changed', () => {
    const r = applySettings(RATELIMITING_SETTINGS, { rate: '9', ports: '8080' }, args, args);
    expect(r.summary).toEqual(['rate: 2 → 9 per second']);
    expect(r.map_args).toEqual([
      { name: 'rl_config_map', args: [{ key: 0, value: 9 }] },
      { name: 'rl_ports_map', args: [{ key: 8080, value: 1 }] },
      { name: 'other', args: [{ key: 1, value: 7 }] },
    ]);
    const p = applySettings(RATELIMITING_SETTINGS, { rate: '2', ports: '8080, 8081' }, args, args);
    expect(p.summary).toEqual(['ports: 8080 → 8080, 8081']);
  });

  it('an add lists every setting', () => {
    const r = applySettings(RATELIMITING_SETTINGS, { rate: '2', ports: '8080' }, null);
    expect(r.summary).toEqual(['rate 2 per second', 'ports 8080']);
  });

  it('settings come from the agent listing when it describes them, else from the shipped description', () => {
    const own: PackageSetting = {
      id: 'limit',
      label: 'Limit',
      map: 'lim',
      kind: 'value',
      key: 3,
      min: 1,
      noun: 'limit',
    };
    expect(
      settingsOf({ name: 'custom' }, [{ name: 'custom', version: '1', platform: 'linux', artifact: 'c.tar.gz', settings: [own] }])
    ).toEqual([own]);
    expect(settingsOf({ name: 'renamed', artifact: 'l3af_ratelimiting.tar.gz' })).toBe(RATELIMITING_SETTINGS);
    expect(settingsOf({ name: 'count-and-pass' })).toEqual([]);
  });
});
